"""Names shared by the operator, its resources and the model tools: the API group, labels,
annotations, ports, paths, and the signatures every export serves."""

GROUP = "serving.tfmodel.io"
VERSION = "v1alpha1"
KIND = "TFModel"
PLURAL = "tfmodels"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "tfmodel-operator"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
# Hash of the manifest the operator last applied; lets a no-op reconcile skip the write.
APPLIED_HASH = f"{GROUP}/applied-hash"
# The version policy and labels written into models.config (JSON), on the ConfigMap.
PLAN = f"{GROUP}/plan"

GRPC_PORT = 8500
REST_PORT = 8501
METRICS_PATH = "/monitoring/prometheus/metrics"
CONFIG_DIR = "/etc/tfserving"
# The model-sync sidecar (object stores): its state and readiness port, and the versions it
# mirrors, a file of the ConfigMap beside models.config so that it follows label moves too.
SYNC_PORT = 8502
SYNC_VERSIONS_FILE = "model-sync.json"
# The operator's own namespace and pod label: its pods may always reach TF Serving.
OPERATOR_NAMESPACE = "tfmodel-system"
OPERATOR_NAME = "tfmodel-operator"
# The signatures every export serves, and the names clients send and read.
SERVING_SIGNATURE = "serving_default"  # IMAGE_INPUT: float32 [batch, H, W, 3], preprocessed
IMAGE_SIGNATURE = "image_bytes"  # BYTES_INPUT: string [batch], image file contents
IMAGE_INPUT = "image"
BYTES_INPUT = "image_bytes"
OUTPUT = "predictions"  # float32 [batch, classes]
