"""TFModel bodies for tests: a valid one, and a table of invalid ones with the field to blame."""

import copy
from collections.abc import Callable
from typing import Any

Body = dict[str, Any]


def tfmodel(name: str = "vgg16", **spec: Any) -> Body:
    return {
        "apiVersion": "serving.tfmodel.io/v1alpha1",
        "kind": "TFModel",
        "metadata": {"name": name},
        "spec": {
            "storage": {"persistentVolumeClaim": {"claimName": "models", "subPath": "vgg16"}},
            "versionPolicy": {"specific": {"versions": [1, 2]}},
            "versionLabels": {"stable": 1, "canary": 2},
            **spec,
        },
    }


def _with(path: str, value: Any) -> Callable[[Body], None]:
    """Set a dotted path (creating objects on the way); a value of DELETE removes it."""

    def change(body: Body) -> None:
        *parents, last = path.split(".")
        node = body
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return change


DELETE = object()
GPU = {"count": 1}
CPU = {"requests": {"cpu": "500m"}}
CPU_METRIC = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}  # fmt: skip
# TF Serving's requests per second per pod, as the prometheus-adapter rules in
# manifests/autoscaling/ name it.
RPS_METRIC = {"type": "Pods", "pods": {"metric": {"name": "tfserving_requests_per_second"},
              "target": {"type": "AverageValue", "averageValue": "10"}}}  # fmt: skip

# (case id, change to a valid TFModel, the field the error must name)
INVALID: list[tuple[str, list[Callable[[Body], None]], str]] = [
    ("name-uppercase", [_with("metadata.name", "VGG16")], "metadata.name"),
    ("name-starts-with-digit", [_with("metadata.name", "16vgg")], "metadata.name"),
    ("name-too-long-for-service", [_with("metadata.name", "m" * 64)], "metadata.name"),
    ("model-name-quote-injection", [_with("spec.modelName", "vgg' base_path: '/etc")], "spec.modelName"),
    ("model-name-newline-injection", [_with("spec.modelName", "vgg\n}")], "spec.modelName"),
    ("model-name-too-long", [_with("spec.modelName", "m" * 64)], "spec.modelName"),
    ("model-name-slash", [_with("spec.modelName", "team/vgg16")], "spec.modelName"),
    ("model-name-space", [_with("spec.modelName", "my model")], "spec.modelName"),
    ("model-name-dot-dot", [_with("spec.modelName", "a..b")], "spec.modelName"),
    ("model-name-leading-dot", [_with("spec.modelName", ".hidden")], "spec.modelName"),
    ("export-application-unknown", [_with("spec.exports", [{"version": 2, "application": "VGG17"}])], "spec.exports"),
    ("version-zero", [_with("spec.versionPolicy.specific.versions", [0])], "spec.versionPolicy.specific.versions"),
    ("version-negative", [_with("spec.versionPolicy.specific.versions", [-1, 2])], "spec.versionPolicy.specific.versions"),
    ("version-duplicated", [_with("spec.versionPolicy.specific.versions", [1, 2, 2])], "spec.versionPolicy.specific.versions"),
    ("versions-empty", [_with("spec.versionPolicy.specific.versions", [])], "spec.versionPolicy.specific.versions"),
    ("two-version-policies", [_with("spec.versionPolicy.latest", {"numVersions": 2})], "spec.versionPolicy"),
    ("no-version-policy-choice", [_with("spec.versionPolicy", {})], "spec.versionPolicy"),
    ("latest-zero-versions", [_with("spec.versionPolicy", {"latest": {"numVersions": 0}})], "spec.versionPolicy.latest.numVersions"),
    ("label-on-unserved-version", [_with("spec.versionLabels.stable", 3)], "spec.versionLabels"),
    ("label-name-with-dash", [_with("spec.versionLabels", {"can-ary": 2})], "spec.versionLabels"),
    ("label-name-quote-injection", [_with("spec.versionLabels", {"x' value: 1": 1})], "spec.versionLabels"),
    ("label-version-zero", [_with("spec.versionLabels", {"stable": 0})], "spec.versionLabels"),
    ("two-storage-sources", [_with("spec.storage.nfs", {"server": "nfs.local", "path": "/exports"})], "spec.storage"),
    ("no-storage-source", [_with("spec.storage", {})], "spec.storage"),
    ("storage-missing", [_with("spec.storage", DELETE)], "spec.storage"),
    ("subpath-traversal", [_with("spec.storage.persistentVolumeClaim.subPath", "../secrets")], "spec.storage.persistentVolumeClaim.subPath"),
    ("subpath-absolute", [_with("spec.storage.persistentVolumeClaim.subPath", "/etc")], "spec.storage.persistentVolumeClaim.subPath"),
    ("nfs-path-traversal", [_with("spec.storage", {"nfs": {"server": "nfs.local", "path": "/exports/../root"}})], "spec.storage.nfs.path"),
    ("base-path-traversal", [_with("spec.basePath", "/models/../etc")], "spec.basePath"),
    ("base-path-relative", [_with("spec.basePath", "models/vgg16")], "spec.basePath"),
    ("base-path-quote-injection", [_with("spec.basePath", "/models/x'y")], "spec.basePath"),
    ("base-path-over-config-mount", [_with("spec.basePath", "/etc/tfserving/models")], "spec.basePath"),
    ("gpu-count-zero", [_with("spec.gpu", {"count": 0})], "spec.gpu.count"),
    ("gpu-count-absurd", [_with("spec.gpu", {"count": 1000})], "spec.gpu.count"),
    ("gpu-memory-fraction-zero", [_with("spec.gpu", {**GPU, "memoryFraction": 0})], "spec.gpu.memoryFraction"),
    ("gpu-memory-fraction-above-one", [_with("spec.gpu", {**GPU, "memoryFraction": 1.5})], "spec.gpu.memoryFraction"),
    ("gpu-also-in-resource-limits", [_with("spec.gpu", GPU), _with("spec.resources", {"limits": {"nvidia.com/gpu": "2"}})], "spec.resources.limits"),
    ("replicas-negative", [_with("spec.replicas", -1)], "spec.replicas"),
    ("image-with-extra-args", [_with("spec.image", "tensorflow/serving:2.20.0 --evil")], "spec.image"),
    ("resource-quantity-garbage", [_with("spec.resources", {"requests": {"cpu": "lots"}})], "spec.resources.requests"),
    ("config-poll-zero", [_with("spec.configPollSeconds", 0)], "spec.configPollSeconds"),
    ("batching-size-zero", [_with("spec.batching", {"maxBatchSize": 0})], "spec.batching.maxBatchSize"),
    ("toleration-bad-operator", [_with("spec.tolerations", [{"key": "a", "operator": "Maybe"}])], "spec.tolerations[0].operator"),
    ("node-selector-newline", [_with("spec.nodeSelector", {"disk": "ssd\nx"})], "spec.nodeSelector"),
    ("unknown-field-typo", [_with("spec.modelname", "vgg16")], "spec.modelname"),
    ("export-version-duplicated", [_with("spec.exports", [{"version": 2}, {"version": 2}])], "spec.exports"),
    ("export-version-zero", [_with("spec.exports", [{"version": 0}])], "spec.exports"),
    ("export-weights-traversal", [_with("spec.exports", [{"version": 2, "weights": "../../etc/passwd"}])], "spec.exports"),
    ("promotion-label-with-dash", [_with("spec.promotion", {"labels": ["can-ary"]})], "spec.promotion.labels"),
    ("promotion-check-not-a-boolean", [_with("spec.promotion", {"checkSignatures": "no"})], "spec.promotion.checkSignatures"),
    ("export-application-injection", [_with("spec.exports", [{"version": 2, "application": "VGG16 --weights=x"}])], "spec.exports"),
    ("autoscaling-min-above-max", [_with("spec.autoscaling", {"minReplicas": 3, "maxReplicas": 2}), _with("spec.resources", CPU)], "spec.autoscaling.minReplicas"),
    ("autoscaling-without-max", [_with("spec.autoscaling", {"minReplicas": 1}), _with("spec.resources", CPU)], "spec.autoscaling.maxReplicas"),
    ("autoscaling-cpu-without-cpu-request", [_with("spec.autoscaling", {"maxReplicas": 3})], "spec.resources.requests.cpu"),
    ("autoscaling-cpu-metric-without-cpu-request", [_with("spec.autoscaling", {"maxReplicas": 3, "metrics": [CPU_METRIC]})], "spec.resources.requests.cpu"),
    ("autoscaling-with-zero-replicas", [_with("spec.autoscaling", {"maxReplicas": 3, "metrics": [RPS_METRIC]}), _with("spec.replicas", 0)], "spec.replicas"),
    ("storage-s3-and-pvc", [_with("spec.storage.s3", {"bucket": "models"})], "spec.storage"),
    ("storage-s3-without-bucket", [_with("spec.storage", {"s3": {"prefix": "vgg16"}})], "spec.storage.s3.bucket"),
    ("storage-s3-bucket-uppercase", [_with("spec.storage", {"s3": {"bucket": "Models"}})], "spec.storage.s3.bucket"),
    ("storage-s3-prefix-leading-slash", [_with("spec.storage", {"s3": {"bucket": "models", "prefix": "/vgg16"}})], "spec.storage.s3.prefix"),
    ("storage-s3-prefix-dot-dot", [_with("spec.storage", {"s3": {"bucket": "models", "prefix": "a/../b"}})], "spec.storage.s3.prefix"),
    ("storage-s3-endpoint-not-a-url", [_with("spec.storage", {"s3": {"bucket": "models", "endpoint": "minio:9000"}})], "spec.storage.s3.endpoint"),
    ("storage-gcs-with-endpoint", [_with("spec.storage", {"gcs": {"bucket": "models", "endpoint": "http://x"}})], "spec.storage.gcs.endpoint"),
    ("storage-sync-seconds-with-pvc", [_with("spec.storage.syncSeconds", 10)], "spec.storage.syncSeconds"),
    ("storage-sync-seconds-zero", [_with("spec.storage", {"s3": {"bucket": "models"}, "syncSeconds": 0})], "spec.storage.syncSeconds"),
    ("storage-bucket-export-weights-file", [_with("spec.storage", {"s3": {"bucket": "models"}}), _with("spec.exports", [{"version": 3, "weights": "w.weights.h5"}])], "spec.exports"),
    ("autoscaling-cpu-and-metrics", [_with("spec.autoscaling", {"maxReplicas": 3, "targetCPUUtilization": 50, "metrics": [RPS_METRIC]}), _with("spec.resources", CPU)], "spec.autoscaling"),
]  # fmt: skip


def invalid_body(changes: list[Callable[[Body], None]]) -> Body:
    body = copy.deepcopy(tfmodel("bad"))
    for change in changes:
        change(body)
    return body


def vgg16(**spec: Any) -> dict[str, Any]:
    """The TFModel most integration tests serve: version 1 as stable on 2 pods, polled each second."""
    fields = {"versionPolicy": {"specific": {"versions": [1]}}, "versionLabels": {"stable": 1},
              "replicas": 2, "configPollSeconds": 1, **spec}  # fmt: skip
    return tfmodel("vgg16", **fields)
