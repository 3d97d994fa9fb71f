"""How GitOps tools judge a TFModel: kstatus itself (Flux, kpt) and Argo CD's health script."""

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARGOCD_HEALTH = REPO / "manifests" / "argocd" / "health.lua"


@cache
def kstatus_binary() -> str:
    """tests/cluster/kstatus, built (or reused from ~/.cache) by build-kstatus.sh."""
    built = subprocess.run([REPO / "tests/cluster/build-kstatus.sh"], check=True,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    return built.stdout.strip()


def kstatus(obj: dict[str, Any]) -> str:
    """Current, InProgress, Failed, ... as sigs.k8s.io/cli-utils' status.Compute says."""
    done = subprocess.run([kstatus_binary()], input=json.dumps(obj), capture_output=True,
                          text=True, check=True)  # fmt: skip
    return str(json.loads(done.stdout)["status"])


def argocd_health(obj: dict[str, Any]) -> str:
    """Healthy, Progressing, Degraded, ... as manifests/argocd/health.lua says, run by Lua 5.1
    (Argo CD runs it with gopher-lua, which implements Lua 5.1)."""
    from lupa import lua51

    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj) {ARGOCD_HEALTH.read_text()} end")
    result = check(to_lua(lua, obj))
    return str(result["status"])


def to_lua(lua: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return lua.table_from({k: to_lua(lua, v) for k, v in value.items()})
    if isinstance(value, list):
        return lua.table_from([to_lua(lua, v) for v in value])
    return value
