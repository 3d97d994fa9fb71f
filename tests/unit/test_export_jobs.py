"""Export Jobs: rendering (restricted, read-write volume only here) and the pure decisions."""

from typing import Any

from support.tfmodels import tfmodel
from tfmodel_operator.controller import api, spec
from tfmodel_operator.controller.api import VersionPolicy
from tfmodel_operator.controller.decision import export_jobs
from tfmodel_operator.controller.decision.plan import Plan, gated
from tfmodel_operator.controller.decision.render import jobs, names, server

EXPORTS = [
    {"version": 2, "weights": "none"},
    {"version": 3, "weights": "weights/vgg16.weights.h5", "warmup": True},
]


def model(**changes: Any) -> api.TFModel:
    body = tfmodel(exports=EXPORTS, **changes)
    body["metadata"].update(namespace="ml", uid="u-1")
    return spec.parse(body)


def job(tfm: api.TFModel, version: int, state: str = "", uid: str = "j") -> dict[str, Any]:
    export = next(e for e in tfm.exports if e.version == version)
    manifest = jobs.export_job(tfm, export)
    manifest["metadata"]["uid"] = uid
    conditions = (
        [{"type": state, "status": "True", "message": "BackoffLimitExceeded"}] if state else []
    )
    manifest["status"] = {"conditions": conditions}
    return manifest


def test_export_job_runs_the_exporter_with_a_writable_volume_and_restricted_security() -> None:
    tfm = model()
    manifest = jobs.export_job(tfm, tfm.exports[1])
    assert manifest["metadata"]["name"].startswith("vgg16-export-v3-")
    assert len(manifest["metadata"]["name"]) == len("vgg16-export-v3-") + 10
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == [
        "--application", "VGG16", "--weights", "/models/vgg16/weights/vgg16.weights.h5", "--version", "3",
        "--base-path", "/models/vgg16", "--model-name", "vgg16", "--warmup", "--exist-ok",
    ]  # fmt: skip
    assert container["volumeMounts"][0] == {
        "name": "models",
        "mountPath": "/models/vgg16",
        "subPath": "vgg16",
    }
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": False}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "ttlSecondsAfterFinished" not in manifest["spec"]
    # The serving pods still mount the same volume read-only.
    server_volumes = server.deployment(tfm)["spec"]["template"]["spec"]["volumes"]
    assert (
        next(v for v in server_volumes if v["name"] == "models")["persistentVolumeClaim"][
            "readOnly"
        ]
        is True
    )


def test_job_name_changes_with_inputs_and_fits_a_label() -> None:
    tfm, other = model(), model(exportImage="my/exporter:2")
    assert names.export_job_name(tfm, tfm.exports[0]) != names.export_job_name(
        other, other.exports[0]
    )
    long = spec.parse({**tfmodel("m" * 63, exports=EXPORTS), "metadata": {"name": "m" * 63}})
    assert len(names.export_job_name(long, long.exports[0])) <= 63


def test_new_exports_get_jobs_and_their_versions_wait() -> None:
    decision = export_jobs.decide(model(), [], [])
    assert [e.version for e in decision.apply] == [2, 3]
    assert decision.pending == {2, 3}
    assert [(s.version, s.state) for s in decision.states] == [(2, "Pending"), (3, "Pending")]


def test_finished_jobs_are_kept_as_the_record_of_their_export_and_failures_quote_the_pod() -> None:
    tfm = model()
    failed_pod = {
        "metadata": {"name": "vgg16-export-v3-x", "ownerReferences": [{"uid": "j3"}], "creationTimestamp": "2026-11-25T12:00:00Z"},
        "status": {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"message": "weights file not found: /models/vgg16/weights/vgg16.weights.h5\n"}}}]},
    }  # fmt: skip
    decision = export_jobs.decide(
        tfm,
        [job(tfm, 2, "Complete", "j2"), job(tfm, 3, "Failed", "j3")],
        [failed_pod],
    )
    assert decision.pending == {3}
    assert decision.prune == ()
    states = {s.version: (s.state, s.message) for s in decision.states}
    assert states[2] == ("Succeeded", "")
    assert states[3] == (
        "Failed",
        "pod vgg16-export-v3-x: weights file not found: /models/vgg16/weights/vgg16.weights.h5",
    )


def test_changed_inputs_for_a_published_version_are_refused() -> None:
    before = model()
    published = job(before, 2, "Complete", "j2")
    after = spec.parse(
        {
            **tfmodel(exports=[{"version": 2, "weights": "imagenet"}]),
            "metadata": {"name": "vgg16", "namespace": "ml"},
        }
    )
    decision = export_jobs.decide(after, [published], [])
    assert decision.apply == ()
    assert decision.prune == ()  # the record of the published version is kept
    assert decision.refused == (
        f"spec.exports[version=2]: version 2 was published by Job {published['metadata']['name']}; "
        "versions are immutable, so export a new version instead",
    )


def test_a_failed_job_with_changed_inputs_is_replaced() -> None:
    before = model()
    failed = job(before, 3, "Failed", "j3")
    after = model(exportImage="my/exporter:2")
    decision = export_jobs.decide(after, [failed], [])
    assert decision.prune == (failed["metadata"]["name"],)
    assert 3 in {e.version for e in decision.apply}


def test_gating_keeps_unexported_versions_out_of_models_config() -> None:
    desired = Plan(VersionPolicy("specific", versions=(1, 2)), (("canary", 2), ("stable", 2)))
    current = Plan(VersionPolicy("specific", versions=(1,)), (("stable", 1),))
    assert gated(desired, frozenset({2}), current) == Plan(
        VersionPolicy("specific", versions=(1,)), (("stable", 1),)
    )
    assert gated(desired, frozenset(), current) == desired


def test_a_version_without_a_job_record_gets_its_job_even_if_a_pod_serves_it() -> None:
    """Whether a pod serves a version says nothing about which export made it; the Job (run
    with --exist-ok) recognises its own published version and succeeds without touching it."""
    decision = export_jobs.decide(model(), [], [])
    assert [e.version for e in decision.apply] == [2, 3]
    assert all(s.state == "Pending" for s in decision.states)
