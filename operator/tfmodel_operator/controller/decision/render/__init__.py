"""Pure: a validated TFModel and the plan -> the children it should have, as plain manifests.

Only models.config is text (jinja2, in config_files); manifests are built as dicts: the serving
children in `server`, export Jobs in `jobs`, their names and labels in `names`, what their pods
share (security contexts, the model volume, tolerations) in `pods`.
"""

from dataclasses import dataclass

from tfmodel_operator.controller.api import Export, TFModel
from tfmodel_operator.controller.decision.plan import Plan
from tfmodel_operator.controller.decision.render.jobs import export_job
from tfmodel_operator.controller.decision.render.names import with_applied_hash
from tfmodel_operator.controller.decision.render.server import (
    autoscaler,
    config_map,
    deployment,
    disruption_budget,
    network_policy,
    service,
)
from tfmodel_operator.controller.kinds import Manifest


@dataclass(frozen=True)
class Desired:
    config_map: Manifest
    service: Manifest
    deployment: Manifest
    jobs: tuple[Manifest, ...] = ()
    disruption_budget: Manifest | None = None
    network_policy: Manifest | None = None
    autoscaler: Manifest | None = None

    def in_apply_order(self) -> list[Manifest]:
        """Config before the pods that read it; the Service before its endpoints exist; the
        NetworkPolicy before the pods it guards; the autoscaler once there is something to scale."""
        optional = [m for m in (self.disruption_budget, self.network_policy) if m]
        scaler = [self.autoscaler] if self.autoscaler else []
        return [self.config_map, self.service, *optional, self.deployment, *scaler, *self.jobs]


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
        autoscaler=with_applied_hash(autoscaler(tfmodel)) if tfmodel.autoscaling else None,
    )
