"""Pure: a validated TFModel -> the children it should have, as plain manifests.

Only models.config is text (jinja2); manifests are built as dicts. Nothing here depends on
the version policy or labels except the ConfigMap, so a version or label change updates the
ConfigMap alone and TF Serving re-reads it without a pod restart.
"""

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import jinja2

from tfmodel_operator import config as c
from tfmodel_operator.plan import Plan
from tfmodel_operator.spec import Batching, Export, TFModel, Toleration, VersionPolicy, quantity

Manifest = dict[str, Any]

MODELS_CONFIG = "models.config"
MONITORING_CONFIG = "monitoring.config"
BATCHING_CONFIG = "batching.config"
SERVER_UID = 1000  # the tensorflow/serving image defines no user; KServe uses 1000 as well
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label every namespace carries

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("tfmodel_operator", "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Desired:
    config_map: Manifest
    service: Manifest
    deployment: Manifest
    jobs: tuple[Manifest, ...] = ()
    disruption_budget: Manifest | None = None
    network_policy: Manifest | None = None

    def in_apply_order(self) -> list[Manifest]:
        """Config before the pods that read it; the Service before its endpoints exist; the
        NetworkPolicy before the pods it guards."""
        optional = [m for m in (self.disruption_budget, self.network_policy) if m]
        return [self.config_map, self.service, *optional, self.deployment, *self.jobs]


def desired(tfmodel: TFModel, plan: Plan, exports: tuple[Export, ...] = ()) -> Desired:
    """The children; `exports` are the exports whose Jobs should exist now."""
    return Desired(
        config_map=with_applied_hash(config_map(tfmodel, plan)),
        service=with_applied_hash(service(tfmodel)),
        deployment=with_applied_hash(deployment(tfmodel)),
        jobs=tuple(with_applied_hash(export_job(tfmodel, e)) for e in exports),
        disruption_budget=(
            with_applied_hash(disruption_budget(tfmodel)) if tfmodel.replicas > 1 else None
        ),
        network_policy=(
            with_applied_hash(network_policy(tfmodel)) if tfmodel.network_access else None
        ),
    )


# --- names and metadata ---------------------------------------------------------------------


def config_map_name(tfmodel: TFModel) -> str:
    return f"{tfmodel.name}-models-config"


def labels(tfmodel: TFModel, component: str) -> dict[str, str]:
    return {
        c.LABEL_NAME: "tfserving",
        c.LABEL_INSTANCE: tfmodel.name,
        c.LABEL_COMPONENT: component,
        c.LABEL_MANAGED_BY: c.FIELD_MANAGER,
    }


def server_selector(tfmodel: TFModel) -> dict[str, str]:
    """Immutable once the Deployment exists, so it uses only instance and component."""
    return {c.LABEL_INSTANCE: tfmodel.name, c.LABEL_COMPONENT: "server"}


def metadata(tfmodel: TFModel, name: str, component: str) -> Manifest:
    owner = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": tfmodel.name,
        "uid": tfmodel.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "name": name,
        "namespace": tfmodel.namespace,
        "labels": labels(tfmodel, component),
        "ownerReferences": [owner],
    }


def with_applied_hash(manifest: Manifest) -> Manifest:
    """Stamp the manifest's own hash on it, so an unchanged child can be recognised cheaply."""
    annotations = {**manifest["metadata"].get("annotations", {}), c.APPLIED_HASH: digest(manifest)}
    return {**manifest, "metadata": {**manifest["metadata"], "annotations": annotations}}


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def endpoints(tfmodel: TFModel) -> dict[str, str]:
    host = f"{tfmodel.name}.{tfmodel.namespace}.svc"
    return {
        "rest": f"http://{host}:{c.REST_PORT}/v1/models/{tfmodel.model_name}",
        "grpc": f"{host}:{c.GRPC_PORT}",
    }


# --- the TF Serving config files ------------------------------------------------------------


def models_config(tfmodel: TFModel, plan: Plan) -> str:
    return render_models_config(tfmodel.model_name, tfmodel.base_path, plan.policy, plan.labels)


def render_models_config(
    name: str, base_path: str, policy: VersionPolicy, labels: tuple[tuple[str, int], ...]
) -> str:
    template = _templates.get_template("models.config.j2")
    return template.render(name=name, base_path=base_path, policy=policy, labels=sorted(labels))


def monitoring_config() -> str:
    return f'prometheus_config {{ enable: true, path: "{c.METRICS_PATH}" }}\n'


def batching_config(batching: Batching) -> str:
    fields = [
        ("max_batch_size", batching.max_batch_size),
        ("batch_timeout_micros", batching.batch_timeout_micros),
        ("max_enqueued_batches", batching.max_enqueued_batches),
        ("num_batch_threads", batching.num_batch_threads),
    ]
    return "".join(f"{key} {{ value: {value} }}\n" for key, value in fields if value is not None)


def config_files(tfmodel: TFModel, plan: Plan) -> dict[str, str]:
    files = {MODELS_CONFIG: models_config(tfmodel, plan), MONITORING_CONFIG: monitoring_config()}
    if tfmodel.batching:
        files[BATCHING_CONFIG] = batching_config(tfmodel.batching)
    return files


# --- children ---------------------------------------------------------------------------------


def config_map(tfmodel: TFModel, plan: Plan) -> Manifest:
    meta = metadata(tfmodel, config_map_name(tfmodel), "models-config")
    # The plan in machine-readable form: the next reconcile starts from what was written.
    meta["annotations"] = {c.PLAN: plan.to_json()}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": config_files(tfmodel, plan),
    }


def service(tfmodel: TFModel) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {
            "type": "ClusterIP",
            "selector": server_selector(tfmodel),
            "ports": [
                {"name": "grpc", "port": c.GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"},
                {"name": "http", "port": c.REST_PORT, "targetPort": "http", "appProtocol": "http"},
            ],
        },
    }


def disruption_budget(tfmodel: TFModel) -> Manifest:
    """With several replicas, a node drain takes one serving pod at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": server_selector(tfmodel)}},
    }


def network_policy(tfmodel: TFModel) -> Manifest:
    """TF Serving has no authentication: only the listed namespaces and pods, and the operator
    (which asks every pod for its status), may reach its gRPC and REST ports."""
    access = tfmodel.network_access
    assert access is not None
    sources: list[Manifest] = [
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME: c.OPERATOR_NAMESPACE}},
            "podSelector": {"matchLabels": {c.LABEL_NAME: c.OPERATOR_NAME}},
        }
    ]
    if access.from_namespaces:
        names = {"key": NAMESPACE_NAME, "operator": "In", "values": list(access.from_namespaces)}
        sources.append({"namespaceSelector": {"matchExpressions": [names]}})
    if access.from_pods:
        sources.append({"podSelector": {"matchLabels": dict(access.from_pods)}})
    ports = [{"protocol": "TCP", "port": p} for p in (c.GRPC_PORT, c.REST_PORT)]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(tfmodel, tfmodel.name, "server"),
        "spec": {
            "podSelector": {"matchLabels": server_selector(tfmodel)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": sources, "ports": ports}],
        },
    }


def deployment(tfmodel: TFModel) -> Manifest:
    pod_annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(c.REST_PORT),
        "prometheus.io/path": c.METRICS_PATH,
    }
    if tfmodel.batching:
        # TF Serving reads batching parameters only at start-up: a change must roll the pods.
        pod_annotations[f"{c.GROUP}/batching-hash"] = digest(batching_config(tfmodel.batching))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
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
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVER_UID,
            "runAsGroup": SERVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [server_container(tfmodel)],
        "volumes": volumes(tfmodel),
    }
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


def toleration(t: Toleration) -> Manifest:
    result: Manifest = {"operator": t.operator}
    for key, value in (("key", t.key), ("value", t.value), ("effect", t.effect)):
        if value:
            result[key] = value
    if t.toleration_seconds is not None:
        result["tolerationSeconds"] = t.toleration_seconds
    return result


def server_args(tfmodel: TFModel) -> list[str]:
    args = [
        f"--port={c.GRPC_PORT}",
        f"--rest_api_port={c.REST_PORT}",
        f"--model_config_file={c.CONFIG_DIR}/{MODELS_CONFIG}",
        f"--model_config_file_poll_wait_seconds={tfmodel.config_poll_seconds}",
        f"--monitoring_config_file={c.CONFIG_DIR}/{MONITORING_CONFIG}",
        # A restarted pod loads every version before it listens, so labels on versions that
        # are still loading cannot be served early; without this flag such a config makes the
        # server refuse to start (serving#1608).
        "--allow_version_labels_for_unavailable_models=true",
    ]
    if tfmodel.batching:
        args += [
            "--enable_batching=true",
            f"--batching_parameters_file={c.CONFIG_DIR}/{BATCHING_CONFIG}",
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
            {"name": "grpc", "containerPort": c.GRPC_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": c.REST_PORT, "protocol": "TCP"},
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
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            # A directory mount, never subPath: kubelet does not update subPath mounts, and TF
            # Serving must see the new models.config to reload it.
            {"name": "config", "mountPath": c.CONFIG_DIR, "readOnly": True},
            models_mount(tfmodel, read_only=True),
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def volumes(tfmodel: TFModel) -> list[Manifest]:
    return [
        {"name": "config", "configMap": {"name": config_map_name(tfmodel)}},
        models_volume(tfmodel, read_only=True),
        {"name": "tmp", "emptyDir": {}},
    ]


def models_volume(tfmodel: TFModel, read_only: bool) -> Manifest:
    """The SavedModel volume: read-only for serving, read-write only in export Jobs."""
    storage = tfmodel.storage
    if storage.kind == "persistentVolumeClaim":
        source = {"persistentVolumeClaim": {"claimName": storage.claim_name, "readOnly": read_only}}
    else:
        source = {"nfs": {"server": storage.server, "path": storage.path, "readOnly": read_only}}
    return {"name": "models", **source}


def models_mount(tfmodel: TFModel, read_only: bool) -> Manifest:
    mount: Manifest = {"name": "models", "mountPath": tfmodel.base_path}
    if read_only:
        mount["readOnly"] = True
    if tfmodel.storage.sub_path:
        mount["subPath"] = tfmodel.storage.sub_path
    return mount


# --- export Jobs --------------------------------------------------------------------------------

EXPORT_VERSION = f"{c.GROUP}/export-version"


def export_inputs(tfmodel: TFModel, export: Export) -> dict[str, Any]:
    """Everything that decides what an export writes: a Job's name carries its hash, because a
    Job's pod template is immutable and a published version must never change."""
    return {
        "application": export.application, "weights": export.weights, "version": export.version,
        "warmup": export.warmup, "imageSignature": export.image_signature,
        "image": tfmodel.export_image, "modelName": tfmodel.model_name,
        "basePath": tfmodel.base_path, "storage": [tfmodel.storage.kind, tfmodel.storage.claim_name,
        tfmodel.storage.sub_path, tfmodel.storage.server, tfmodel.storage.path],
    }  # fmt: skip


def export_job_name(tfmodel: TFModel, export: Export) -> str:
    """`<name>-export-v<N>-<hash10>`, shortened to fit a label value (63 characters)."""
    prefix = f"{tfmodel.name}-export-v{export.version}"[:52].rstrip("-")
    return f"{prefix}-{digest(export_inputs(tfmodel, export))[:10]}"


def export_job(tfmodel: TFModel, export: Export) -> Manifest:
    meta = metadata(tfmodel, export_job_name(tfmodel, export), "export")
    meta["labels"][EXPORT_VERSION] = str(export.version)
    weights = export.weights
    if weights not in ("imagenet", "none"):
        weights = f"{tfmodel.base_path}/{weights}"  # a file on the model volume
    args = [
        "--application", export.application, "--weights", weights,
        "--version", str(export.version), "--base-path", tfmodel.base_path,
        "--model-name", tfmodel.model_name,
    ]  # fmt: skip
    if export.warmup:
        args.append("--warmup")
    if not export.image_signature:
        args.append("--no-image-signature")
    args.append("--exist-ok")  # a retried Job finds its own published version: success
    pod: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVER_UID,
            "runAsGroup": SERVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "export",
                "image": tfmodel.export_image,
                "args": args,
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "KERAS_HOME", "value": "/tmp/keras"},
                ],
                "resources": {
                    "requests": {"cpu": "1", "memory": "2Gi"},
                    "limits": {"memory": "6Gi"},
                },
                # The exporter's last words become the pod's termination message, and so the
                # TFModel's status when an export fails.
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    models_mount(tfmodel, read_only=False),
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [models_volume(tfmodel, read_only=False), {"name": "tmp", "emptyDir": {}}],
    }
    if tfmodel.node_selector:
        pod["nodeSelector"] = dict(tfmodel.node_selector)
    if tfmodel.tolerations:
        pod["tolerations"] = [toleration(t) for t in tfmodel.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            # No ttlSecondsAfterFinished: the finished Job is the record that the version was
            # published; deleting it would make the next reconcile export again.
            "backoffLimit": 1,
            "activeDeadlineSeconds": 3600,
            "template": {"metadata": {"labels": labels(tfmodel, "export")}, "spec": pod},
        },
    }
