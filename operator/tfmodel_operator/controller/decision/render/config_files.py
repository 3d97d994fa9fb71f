"""Pure: the files TF Serving reads from the ConfigMap (models.config from a jinja2 template,
monitoring.config, batching.config), and the versions file of the model-sync sidecar."""

import jinja2

from tfmodel_operator import vocabulary
from tfmodel_operator.controller.api import Batching, TFModel, VersionPolicy
from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.render.sync import versions_file

MODELS_CONFIG = "models.config"
MONITORING_CONFIG = "monitoring.config"
BATCHING_CONFIG = "batching.config"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader(__name__, "templates"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def models_config(tfmodel: TFModel, plan: Plan) -> str:
    return render_models_config(tfmodel.model_name, tfmodel.base_path, plan.policy, plan.labels)


def render_models_config(
    name: str, base_path: str, policy: VersionPolicy, labels: tuple[tuple[str, int], ...]
) -> str:
    template = _templates.get_template("models.config.j2")
    return template.render(name=name, base_path=base_path, policy=policy, labels=sorted(labels))


def monitoring_config() -> str:
    return f'prometheus_config {{ enable: true, path: "{vocabulary.METRICS_PATH}" }}\n'


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
    if tfmodel.storage.bucket:
        files[vocabulary.SYNC_VERSIONS_FILE] = versions_file(plan)
    return files
