"""Pure: is a live object one this TFModel controls? The operator touches nothing else.

A child is ours only if its controller ownerReference carries this TFModel's UID. An object of
the same name made by anyone else (another application, an earlier TFModel of the same name, a
hand-made Job with our labels) is never applied over, adopted or deleted: that would let a tenant
who may only create TFModels rewrite or, through the garbage collector, delete what they could
not touch themselves.
"""

from tfmodel_operator.controller.kinds import Manifest


def controller(obj: Manifest) -> Manifest | None:
    """The ownerReference with controller: true, if any."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


def controlled_by(obj: Manifest, uid: str) -> bool:
    ref = controller(obj)
    return ref is not None and ref.get("uid") == uid


def is_predecessors(obj: Manifest, name: str, uid: str) -> bool:
    """Is `obj` controlled by a TFModel of this name with another UID (one deleted since: a
    name belongs to one object at a time)?"""
    ref = controller(obj) or {}
    return ref.get("kind") == "TFModel" and ref.get("name") == name and ref.get("uid") != uid


def conflict(desired: Manifest, live: Manifest | None, uid: str) -> str | None:
    """Why `desired` must not be applied over `live`, or None if it may be."""
    if live is None or controlled_by(live, uid):
        return None
    return taken(desired, live)


def taken(desired: Manifest, live: Manifest) -> str:
    return f"{desired['kind']} {desired['metadata']['name']} already exists and {held_by(live)}"


def held_by(live: Manifest) -> str:
    """Who the object belongs to, as far as its metadata says."""
    ref = controller(live)
    if ref is not None:
        return f"is controlled by {ref.get('kind')} {ref.get('name')} (uid {ref.get('uid')})"
    managers = sorted(
        {str(e["manager"]) for e in live["metadata"].get("managedFields") or [] if e.get("manager")}
    )
    by = f"managed by {', '.join(managers)}" if managers else "made by hand"
    return f"is not controlled by this TFModel ({by})"
