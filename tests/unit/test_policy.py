"""The platform policy: what TFModel authors may ask for."""

from typing import Any

import pytest

from support.tfmodels import tfmodel
from tfmodel_operator.controller import policy, spec

LOCKED = policy.load("""
imagePrefixes: ["tensorflow/serving:"]
exportImagePrefixes: ["registry.example/exporter:"]
nfsServers: ["nfs.example.internal"]
runtimeClassNames: ["nvidia"]
allowTolerations: false
allowNodeSelectors: false
""")
NFS = {"nfs": {"server": "nfs.example.internal", "path": "/exports/m"}}


def violations(rules: policy.Policy, **changes: Any) -> list[str]:
    body = {**tfmodel(**changes), "metadata": {"name": "vgg16", "namespace": "ml"}}
    return policy.violations(spec.parse(body), body["spec"], rules)


def test_no_policy_allows_anything_the_schema_admits() -> None:
    assert (
        violations(policy.Policy(), image="evil.example/x:1", tolerations=[{"operator": "Exists"}])
        == []
    )


def test_within_the_policy_nothing_is_refused() -> None:
    assert violations(LOCKED, storage=NFS, gpu={"count": 1, "runtimeClassName": "nvidia"}) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"image": "evil.example/serving:1"}, "spec.image: evil.example/serving:1 is not allowed by the platform policy (imagePrefixes: tensorflow/serving:)"),
        ({"exports": [{"version": 2}], "exportImage": "evil.example/x:1"}, "spec.exportImage: evil.example/x:1 is not allowed"),
        ({"storage": {"nfs": {"server": "10.0.0.9", "path": "/"  "etc"}}}, "spec.storage.nfs.server: 10.0.0.9 is not allowed by the platform policy (nfsServers: nfs.example.internal)"),
        ({"gpu": {"count": 1, "runtimeClassName": "runc-privileged"}}, "spec.gpu.runtimeClassName: runc-privileged is not allowed"),
        ({"tolerations": [{"operator": "Exists"}]}, "spec.tolerations: tolerations are not allowed by the platform policy (allowTolerations: false)"),
        ({"gpu": {"count": 1, "tolerations": [{"operator": "Exists"}]}}, "spec.gpu.tolerations: tolerations are not allowed"),
        ({"nodeSelector": {"pool": "payments"}}, "spec.nodeSelector: node selection is not allowed"),
        ({"affinity": {"nodeAffinity": {}}}, "spec.affinity: node selection is not allowed"),
    ],
)  # fmt: skip
def test_each_rule_refuses_naming_the_field_and_the_rule(
    changes: dict[str, Any], expected: str
) -> None:
    (found,) = violations(LOCKED, **changes)
    assert found.startswith(expected), found


def test_the_default_gpu_toleration_is_the_platforms_not_the_authors() -> None:
    assert violations(LOCKED, gpu={"count": 1}) == []


@pytest.mark.parametrize(
    ("text", "error"),
    [("imagePrefix: [a]", "unknown rules imagePrefix"), ("nfsServers: nfs", "nfsServers must be a list"),
     ("allowTolerations: sometimes", "allowTolerations must be true or false"), ("- a", "a mapping")],
)  # fmt: skip
def test_a_broken_policy_file_is_refused_saying_why(text: str, error: str) -> None:
    with pytest.raises(policy.PolicyError, match=error):
        policy.load(text)
