"""Pure: the kinds of object the operator watches and writes, in one table, and the two names
every module uses for objects: `Manifest` (an object as the API serves it, a plain dict) and
`Key` (a TFModel's namespace and name).

The informers watch every kind here; the cache keeps CHILDREN by the TFModel that controls
them, ReplicaSets and pods through their owners' UIDs; the writes reach each kind by its path.
"""

from dataclasses import dataclass
from typing import Any

from tfmodel_operator import vocabulary

Manifest = dict[str, Any]
Key = tuple[str, str]  # (namespace, TFModel name)


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str  # "v1", "apps/v1", ...
    plural: str

    @property
    def prefix(self) -> str:
        """/api/v1 for the core group, /apis/<group>/<version> for the others."""
        return (
            f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        )

    def header(self) -> Manifest:
        """The apiVersion and kind a manifest of this kind starts with."""
        return {"apiVersion": self.api_version, "kind": self.name}

    def path(self, namespace: str | None = None, name: str = "") -> str:
        """The collection (in `namespace`, or everywhere), or the object `name` in it."""
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{self.prefix}{where}/{self.plural}" + (f"/{name}" if name else "")


TFMODEL = Kind(vocabulary.KIND, vocabulary.API_VERSION, vocabulary.PLURAL)
# What a TFModel controls (render.Desired makes them; kube writes and deletes them).
CHILDREN = {
    kind.name: kind
    for kind in (
        Kind("ConfigMap", "v1", "configmaps"),
        Kind("Service", "v1", "services"),
        Kind("Deployment", "apps/v1", "deployments"),
        Kind("Job", "batch/v1", "jobs"),
        Kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
        Kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
        Kind("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    )
}
REPLICA_SET = Kind("ReplicaSet", "apps/v1", "replicasets")  # links pods to their Deployment
POD = Kind("Pod", "v1", "pods")
WATCHED = (TFMODEL, *CHILDREN.values(), REPLICA_SET, POD)
