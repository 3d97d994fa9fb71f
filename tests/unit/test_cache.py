"""The informers' cache: only what TFModels control, slim; a (re)list replaces; pods belong to a
TFModel through its own Deployment's ReplicaSets or its Jobs."""

import json
from typing import Any

from tfmodel_operator.controller.cache import Store
from tfmodel_operator.controller.projection import unpack


def meta(name: str, uid: str, owner: tuple[str, str, str] | None = None, **extra: Any) -> Any:
    found: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid, "resourceVersion": "1",
                             **extra}  # fmt: skip
    if owner:
        kind, owner_name, owner_uid = owner
        api = "serving.tfmodel.io/v1alpha1" if kind == "TFModel" else "apps/v1"
        found["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": owner_name,
                                     "uid": owner_uid, "controller": True}]  # fmt: skip
    return found


def tfm(name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": "serving.tfmodel.io/v1alpha1", "kind": "TFModel",
            "metadata": meta(name, uid), "spec": {}}  # fmt: skip


def child(kind: str, name: str, owner: str, owner_uid: str, **body: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": meta(name, f"{name}-uid", ("TFModel", owner, owner_uid)),
            **body}  # fmt: skip


def filled() -> Store:
    store = Store()
    store.replace("TFModel", None, [tfm("m", "m1")])
    store.replace("Deployment", None, [child("Deployment", "m", "m", "m1")])
    store.replace("Job", None, [child("Job", "m-export", "m", "m1")])
    store.replace(
        "ReplicaSet", None, [{"metadata": meta("m-rs", "rs1", ("Deployment", "m", "m-uid"))}]
    )
    store.replace("Pod", None, [
        {"metadata": meta("m-rs-a", "p1", ("ReplicaSet", "m-rs", "rs1")), "status": {}},
        {"metadata": meta("m-export-x", "p2", ("Job", "m-export", "m-export-uid")), "status": {}},
    ])  # fmt: skip
    return store


def names(packed: list[Any]) -> list[str]:
    return sorted(unpack(p)["metadata"]["name"] for p in packed)


def test_a_tfmodel_sees_its_children_and_the_pods_of_its_deployment_and_jobs() -> None:
    view = filled().view(("ns", "m"))
    assert view.tfmodel is not None
    assert names(view.children) == ["m", "m-export"]
    assert names(view.pods) == ["m-export-x", "m-rs-a"]


def test_objects_no_tfmodel_controls_are_not_kept_however_they_are_labelled() -> None:
    store = filled()
    before = len(store)
    huge = {"kind": "ConfigMap", "metadata": meta("m-models-config", "x",
            labels={"app.kubernetes.io/instance": "m"}), "data": {"blob": "x" * 1_000_000}}  # fmt: skip
    assert store.upsert("ConfigMap", huge) == set()
    stray = {"metadata": meta("stray", "p9", labels={"app.kubernetes.io/instance": "m"})}
    assert store.upsert("Pod", stray) == set()
    assert len(store) == before
    assert names(store.view(("ns", "m")).pods) == ["m-export-x", "m-rs-a"]


def test_a_config_maps_data_is_kept_as_digests() -> None:
    store = filled()
    store.upsert("ConfigMap", child("ConfigMap", "m-models-config", "m", "m1",
                                    data={"models.config": "x" * 100_000}))  # fmt: skip
    kept = [p for p in store.view(("ns", "m")).children if p.kind == "ConfigMap"]
    assert len(kept[0].json) < 1000
    assert unpack(kept[0])["data"]["models.config"].startswith("sha256:")


def test_a_relist_drops_what_it_does_not_list_and_reports_who_changed() -> None:
    store = filled()
    store.upsert("ConfigMap", child("ConfigMap", "m-models-config", "m", "m1"))
    changed = store.replace("ConfigMap", None, [])  # deleted while the watch was down
    assert changed == {("ns", "m")}
    assert names(store.view(("ns", "m")).children) == ["m", "m-export"]
    assert store.replace("Deployment", None, [child("Deployment", "m", "m", "m1")]) == set()


def test_a_relist_of_one_namespace_leaves_the_others_alone() -> None:
    store = filled()
    other = {**tfm("o", "o1"), "metadata": {**meta("o", "o1"), "namespace": "other"}}
    store.upsert("TFModel", other)
    store.replace("TFModel", "ns", [])
    assert store.tfmodel_keys() == [("other", "o")]


def test_a_tfmodel_made_again_under_its_name_replaces_the_old_one_and_gets_no_old_pods() -> None:
    store = filled()
    assert store.upsert("TFModel", tfm("m", "m2")) == {("ns", "m")}
    view = store.view(("ns", "m"))
    assert view.tfmodel is not None
    assert json.loads(view.tfmodel.json)["metadata"]["uid"] == "m2"
    assert names(view.children) == ["m", "m-export"]  # the old ones, for decide to refuse
    assert view.pods == []  # not pods of the new TFModel's own Deployment


def test_an_object_that_loses_its_controller_or_is_deleted_leaves() -> None:
    store = filled()
    orphan = {"metadata": meta("m-rs-a", "p1"), "status": {}}  # its ReplicaSet let it go
    assert store.upsert("Pod", orphan) == {("ns", "m")}
    assert names(store.view(("ns", "m")).pods) == ["m-export-x"]
    assert store.delete("Job", child("Job", "m-export", "m", "m1")) == {("ns", "m")}
    assert names(store.view(("ns", "m")).children) == ["m"]
    assert store.view(("ns", "m")).pods == []
