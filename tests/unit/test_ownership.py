"""Which live objects the operator may apply over: only those its TFModel controls."""

from typing import Any

import pytest

from tfmodel_operator.controller.decision.ownership import conflict

UID = "1111-aaaa"
DESIRED = {"kind": "Deployment", "metadata": {"name": "payments", "namespace": "team-a"}}


def live(*refs: dict[str, Any], managers: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "payments",
            "ownerReferences": list(refs),
            "managedFields": [{"manager": m} for m in managers],
        }
    }


def ref(uid: str, controller: bool = True, kind: str = "TFModel") -> dict[str, Any]:
    return {"kind": kind, "name": "payments", "uid": uid, "controller": controller}


def test_absent_or_controlled_by_this_tfmodel_may_be_applied() -> None:
    assert conflict(DESIRED, None, UID) is None
    assert conflict(DESIRED, live(ref(UID)), UID) is None


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (live(managers=("kubectl-client-side-apply",)), "not controlled by this TFModel (managed by kubectl-client-side-apply)"),
        (live(), "not controlled by this TFModel (made by hand)"),
        (live(ref("2222-bbbb")), "controlled by TFModel payments (uid 2222-bbbb)"),
        (live(ref("3333", kind="ReplicaSet")), "controlled by ReplicaSet payments (uid 3333)"),
        # Our UID as a mere owner, not the controller, is not control.
        (live(ref(UID, controller=False)), "not controlled by this TFModel"),
    ],
)  # fmt: skip
def test_an_object_someone_else_holds_is_a_conflict_naming_its_owner(
    obj: dict[str, Any], expected: str
) -> None:
    problem = conflict(DESIRED, obj, UID)
    assert problem is not None
    assert problem.startswith("Deployment payments already exists and ")
    assert expected in problem
