"""Pure: the serving children of a TFModel: the ConfigMap TF Serving reads, the Deployment of
tensorflow/serving, its Service, and (when asked for) its PodDisruptionBudget and NetworkPolicy.

Nothing here depends on the version policy or labels except the ConfigMap, so a version or
label change updates the ConfigMap alone and TF Serving re-reads it without a pod restart.
"""

import math

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import TFModel
from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.render.config_files import (
    BATCHING_CONFIG,
    MODELS_CONFIG,
    MONITORING_CONFIG,
    batching_config,
    config_files,
)
from tfmodel_operator.controller.decision.render.names import (
    config_map_name,
    digest,
    labels,
    metadata,
    server_selector,
)
from tfmodel_operator.controller.decision.render.pods import (
    container_security,
    models_mount,
    models_volume,
    pod_security,
    toleration,
)
from tfmodel_operator.controller.decision.render.sync import store_volumes, sync_container
from tfmodel_operator.controller.fields import quantity
from tfmodel_operator.controller.kinds import CHILDREN, Manifest

NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label every namespace carries


def config_map(tfmodel: TFModel, plan: Plan) -> Manifest:
    meta = metadata(tfmodel, config_map_name(tfmodel), "models-config")
    # The plan in machine-readable form: the next reconcile starts from what was written.
    meta["annotations"] = {vocabulary.PLAN: plan.to_json()}
    return {
        **CHILDREN["ConfigMap"].header(),
        "metadata": meta,
        "data": config_files(tfmodel, plan),
    }


def service(tfmodel: TFModel) -> Manifest:
    return {
        **CHILDREN["Service"].header(),
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {
            "type": "ClusterIP",
            "selector": server_selector(tfmodel),
            "ports": [
                {
                    "name": "grpc",
                    "port": vocabulary.GRPC_PORT,
                    "targetPort": "grpc",
                    "appProtocol": "grpc",
                },
                {
                    "name": "http",
                    "port": vocabulary.REST_PORT,
                    "targetPort": "http",
                    "appProtocol": "http",
                },
            ],
        },
    }


def disruption_budget(tfmodel: TFModel) -> Manifest:
    """With several replicas, a node drain takes one serving pod at a time."""
    return {
        **CHILDREN["PodDisruptionBudget"].header(),
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": server_selector(tfmodel)}},
    }


def autoscaler(tfmodel: TFModel) -> Manifest:
    """The HPA scales the TFModel itself (its /scale): the operator carries spec.replicas to the
    Deployment, so one party only ever writes Deployment.spec.replicas."""
    scaling = tfmodel.autoscaling
    assert scaling is not None
    metrics = [dict(m) for m in scaling.metrics] or [
        {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": scaling.target_cpu_utilization}}}
    ]  # fmt: skip
    spec: Manifest = {
        "scaleTargetRef": {
            "apiVersion": vocabulary.API_VERSION, "kind": vocabulary.KIND, "name": tfmodel.name,
        },
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "metrics": metrics,
    }  # fmt: skip
    if scaling.behavior:
        spec["behavior"] = dict(scaling.behavior)
    return {
        **CHILDREN["HorizontalPodAutoscaler"].header(),
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": spec,
    }


def network_policy(tfmodel: TFModel) -> Manifest:
    """TF Serving has no authentication: only the listed namespaces and pods, and the operator
    (which asks every pod for its status), may reach its gRPC and REST ports."""
    access = tfmodel.network_access
    assert access is not None
    sources: list[Manifest] = [
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: vocabulary.OPERATOR_NAMESPACE}},
            "podSelector": {"matchLabels": {vocabulary.LABEL_NAME: vocabulary.OPERATOR_NAME}},
        }
    ]
    if access.from_namespaces:
        names = {"key": NAMESPACE_NAME, "operator": "In", "values": list(access.from_namespaces)}
        sources.append({"namespaceSelector": {"matchExpressions": [names]}})
    if access.from_pods:
        sources.append({"podSelector": {"matchLabels": dict(access.from_pods)}})
    ports = [{"protocol": "TCP", "port": p} for p in (vocabulary.GRPC_PORT, vocabulary.REST_PORT)]
    operator = {"from": sources[:1], "ports": [{"protocol": "TCP", "port": vocabulary.SYNC_PORT}]}
    return {
        **CHILDREN["NetworkPolicy"].header(),
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {
            "podSelector": {"matchLabels": server_selector(tfmodel)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": ports}]
            # The operator asks each pod's model-sync sidecar for its state; nobody else may.
            + ([operator] if tfmodel.storage.bucket else []),
        },
    }


def deployment(tfmodel: TFModel) -> Manifest:
    pod_annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(vocabulary.REST_PORT),
        "prometheus.io/path": vocabulary.METRICS_PATH,
    }
    if tfmodel.batching:
        # TF Serving reads batching parameters only at start-up: a change must roll the pods.
        pod_annotations[f"{vocabulary.GROUP}/batching-hash"] = digest(
            batching_config(tfmodel.batching)
        )
    return {
        **CHILDREN["Deployment"].header(),
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {
            "replicas": tfmodel.replicas,
            "selector": {"matchLabels": server_selector(tfmodel)},
            "template": {
                "metadata": {"labels": labels(tfmodel, "server"), "annotations": pod_annotations},
                "spec": pod_spec(tfmodel),
            },
        },
    }


def pod_spec(tfmodel: TFModel) -> Manifest:
    node_selector = dict(tfmodel.node_selector)
    tolerations = list(tfmodel.tolerations)
    spec: Manifest = {
        "automountServiceAccountToken": False,  # TF Serving never talks to the API
        "securityContext": pod_security(),
        "containers": [server_container(tfmodel)],
        "volumes": volumes(tfmodel),
    }
    if tfmodel.storage.bucket:
        spec["initContainers"] = [sync_container(tfmodel, tfmodel.storage.bucket)]
    if tfmodel.gpu:
        node_selector.update(tfmodel.gpu.node_selector)
        tolerations.extend(t for t in tfmodel.gpu.tolerations if t not in tolerations)
        if tfmodel.gpu.runtime_class_name:
            spec["runtimeClassName"] = tfmodel.gpu.runtime_class_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = [toleration(t) for t in tolerations]
    if tfmodel.affinity:
        spec["affinity"] = dict(tfmodel.affinity)
    else:  # by default the replicas spread across nodes, where the scheduler can
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": server_selector(tfmodel)},
            }
        ]
    return spec


def server_args(tfmodel: TFModel) -> list[str]:
    args = [
        f"--port={vocabulary.GRPC_PORT}",
        f"--rest_api_port={vocabulary.REST_PORT}",
        f"--model_config_file={vocabulary.CONFIG_DIR}/{MODELS_CONFIG}",
        f"--model_config_file_poll_wait_seconds={tfmodel.config_poll_seconds}",
        f"--monitoring_config_file={vocabulary.CONFIG_DIR}/{MONITORING_CONFIG}",
        # A restarted pod loads every version before it listens, so labels on versions that
        # are still loading cannot be served early; without this flag such a config makes the
        # server refuse to start (serving#1608).
        "--allow_version_labels_for_unavailable_models=true",
    ]
    if tfmodel.batching:
        args += [
            "--enable_batching=true",
            f"--batching_parameters_file={vocabulary.CONFIG_DIR}/{BATCHING_CONFIG}",
        ]
    threads = cpu_threads(dict(tfmodel.resources.limits).get("cpu"))
    if threads:
        args += [
            f"--tensorflow_intra_op_parallelism={threads}",
            f"--tensorflow_inter_op_parallelism={threads}",
        ]
    if tfmodel.gpu and tfmodel.gpu.memory_fraction is not None:
        args.append(f"--per_process_gpu_memory_fraction={tfmodel.gpu.memory_fraction}")
    return args


def cpu_threads(limit: str | None) -> int | None:
    """Whole CPUs in a CPU limit, at least 1: TF's thread pools otherwise size to the node."""
    if limit is None:
        return None
    return max(1, math.ceil(quantity(limit)))


def server_container(tfmodel: TFModel) -> Manifest:
    model_url = f"/v1/models/{tfmodel.model_name}"
    resources: Manifest = {}
    if tfmodel.resources.requests:
        resources["requests"] = dict(tfmodel.resources.requests)
    if tfmodel.resources.limits or tfmodel.gpu:
        resources["limits"] = dict(tfmodel.resources.limits)
    if tfmodel.gpu:
        resources["limits"][tfmodel.gpu.resource_name] = str(tfmodel.gpu.count)
    return {
        "name": "tfserving",
        "image": tfmodel.image,
        # Bypass the image's entrypoint script so that every flag is explicit here.
        "command": ["tensorflow_model_server"],
        "args": server_args(tfmodel),
        "ports": [
            {"name": "grpc", "containerPort": vocabulary.GRPC_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": vocabulary.REST_PORT, "protocol": "TCP"},
        ],
        "resources": resources,
        # TF Serving listens only once the initial versions are loaded, so the startup probe
        # gives a large model up to 15 minutes before liveness may restart it.
        "startupProbe": {
            "httpGet": {"path": model_url, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 90,
        },
        "readinessProbe": {
            "httpGet": {"path": model_url, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "grpc"},
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "securityContext": container_security(),
        "volumeMounts": [
            # A directory mount, never subPath: kubelet does not update subPath mounts, and TF
            # Serving must see the new models.config to reload it.
            {"name": "config", "mountPath": vocabulary.CONFIG_DIR, "readOnly": True},
            models_mount(tfmodel, read_only=True),
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def volumes(tfmodel: TFModel) -> list[Manifest]:
    key_volumes = store_volumes(tfmodel.storage.bucket)[0] if tfmodel.storage.bucket else []
    return [
        {"name": "config", "configMap": {"name": config_map_name(tfmodel)}},
        models_volume(tfmodel, read_only=True),
        {"name": "tmp", "emptyDir": {}},
        *key_volumes,
    ]
