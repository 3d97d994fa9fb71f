"""Names the operator and its resources share: the API group, labels, ports, paths."""

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
# The operator's own namespace and pod label: its pods may always reach TF Serving.
OPERATOR_NAMESPACE = "tfmodel-system"
OPERATOR_NAME = "tfmodel-operator"
