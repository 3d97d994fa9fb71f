"""Pure: what a TFModel is once validated: typed, frozen values with every default applied.

`spec.parse` makes them from a resource; everything downstream reads only these.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tfmodel_operator import __version__

DEFAULT_IMAGE = "tensorflow/serving:2.20.0"
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_CONFIG_POLL_SECONDS = 30
DEFAULT_EXPORT_IMAGE = f"ghcr.io/tfmodel/tfmodel-exporter:{__version__}"
# The model-sync sidecar runs `tfmodel sync` from the operator's own image (no TensorFlow).
DEFAULT_SYNC_IMAGE = f"ghcr.io/tfmodel/tfmodel-operator:{__version__}"
DEFAULT_SYNC_SECONDS = 30
# The keras.applications the exporter builds (a constructor with a preprocess_input); the CRD
# has the same enum, and a test checks both against the installed Keras.
APPLICATIONS = (
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
    "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
    "EfficientNetB7", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2",
    "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "NASNetLarge", "NASNetMobile",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2", "VGG16",
    "VGG19", "Xception",
)  # fmt: skip
MAX_GPUS = 16
DEFAULT_CPU_UTILIZATION = 80  # percent of resources.requests.cpu, as KServe's default
MAX_VERSIONS = 100
# Mount points the operator owns inside the serving container.
RESERVED_MOUNTS = ("/etc/tfserving", "/tmp")


@dataclass(frozen=True)
class Bucket:
    """An object store holding the versions as `<prefix>/<N>/`; the model-sync sidecar mirrors
    the complete ones into each serving pod (TF Serving reads no s3://, and gs:// only from
    Google's own endpoint)."""

    store: Literal["s3", "gcs"]
    name: str
    prefix: str = ""
    endpoint: str = ""  # s3 only: MinIO, Ceph; empty: AWS
    region: str = ""  # s3 only
    secret_name: str = ""  # empty: the pod's own identity (IRSA, workload identity)
    sync_seconds: int = DEFAULT_SYNC_SECONDS

    @property
    def url(self) -> str:
        scheme = "s3" if self.store == "s3" else "gs"
        return f"{scheme}://{self.name}/{self.prefix}".rstrip("/")


@dataclass(frozen=True)
class Storage:
    kind: Literal["persistentVolumeClaim", "nfs", "s3", "gcs"]
    claim_name: str = ""
    sub_path: str = ""
    server: str = ""
    path: str = ""
    bucket: Bucket | None = None  # s3 and gcs


@dataclass(frozen=True)
class VersionPolicy:
    kind: Literal["latest", "all", "specific"]
    num_versions: int = 1
    versions: tuple[int, ...] = ()


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class Gpu:
    count: int
    resource_name: str
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]
    runtime_class_name: str
    memory_fraction: float | None


@dataclass(frozen=True)
class Batching:
    max_batch_size: int | None = None
    batch_timeout_micros: int | None = None
    max_enqueued_batches: int | None = None
    num_batch_threads: int | None = None


@dataclass(frozen=True)
class Export:
    """One SavedModel version to build with keras.applications and publish atomically."""

    version: int
    application: str = "VGG16"
    weights: str = "imagenet"  # imagenet | none | a path relative to the model volume
    warmup: bool = False
    image_signature: bool = True


@dataclass(frozen=True)
class Resources:
    requests: tuple[tuple[str, str], ...] = ()
    limits: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NetworkAccess:
    """Who may reach TF Serving's ports (it has no authentication), besides the operator."""

    from_namespaces: tuple[str, ...] = ()
    from_pods: tuple[tuple[str, str], ...] = ()  # a label selector in the TFModel's namespace


@dataclass(frozen=True)
class Promotion:
    """Which label moves are checked before they happen, and how (docs/reference.md, "The
    promotion gate")."""

    labels: tuple[str, ...] | None = None  # None: every label
    check_signatures: bool = True  # the new version keeps every signature the old one serves
    smoke_request: bool = True  # and answers one predict per signature on every ready pod

    def gates(self, label: str) -> bool:
        checks = self.check_signatures or self.smoke_request
        return checks and (self.labels is None or label in self.labels)


@dataclass(frozen=True)
class Autoscaling:
    """The HorizontalPodAutoscaler the operator owns; it scales the TFModel through /scale."""

    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int | None  # None: `metrics` replace the CPU target
    metrics: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)  # autoscaling/v2
    behavior: Mapping[str, Any] | None = field(default=None, hash=False)  # autoscaling/v2


@dataclass(frozen=True)
class TFModel:
    name: str
    namespace: str
    uid: str
    generation: int
    model_name: str
    storage: Storage
    base_path: str
    version_policy: VersionPolicy
    version_labels: tuple[tuple[str, int], ...]
    replicas: int
    image: str
    resources: Resources
    gpu: Gpu | None
    config_poll_seconds: int
    batching: Batching | None
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]
    affinity: Mapping[str, Any] | None = field(default=None, hash=False)
    exports: tuple[Export, ...] = ()
    export_image: str = DEFAULT_EXPORT_IMAGE
    sync_image: str = DEFAULT_SYNC_IMAGE  # the model-sync sidecar's, with a bucket
    network_access: "NetworkAccess | None" = None
    promotion: Promotion = Promotion()
    autoscaling: Autoscaling | None = None

    @property
    def device(self) -> str:
        return "gpu" if self.gpu else "cpu"
