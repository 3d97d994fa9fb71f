"""Pure: which versions in a bucket are complete, which of them the sidecar mirrors, and which
local ones it may remove. No I/O: the listing, the versions file's text, TF Serving's answer
and the local directory names come in as values.

A version is `<prefix>/<N>/`. It is complete when its marker `<N>/_SUCCESS` exists (the
exporter writes it last). A version another tool uploaded has no marker: it counts as complete
when it has every file of a TF2 SavedModel (saved_model.pb, variables/variables.index and each
shard variables/variables.data-<i>-of-<n>, i < n) AND its listing (paths, sizes, ETags) is the
same as on the previous poll. S3 shows a multipart upload only once it is complete, so a listing
can look whole while a large shard is still uploading: naming every shard catches that, and the
second look catches a file still being replaced.
"""

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

MARKER = "_SUCCESS"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")  # the loader reads either
VARIABLES_INDEX = "variables/variables.index"
SHARD = re.compile(r"variables/variables\.data-(\d{5})-of-(\d{5})")
# TF Serving loads every directory whose name is a version number; these names are not, so a
# download in progress (or a removal) is invisible to it. Only this program makes them.
WORK_PREFIX = ".sync-"
VERSION_NAME = re.compile(r"[1-9][0-9]{0,17}")  # a positive int64, without leading zeros
UNLOADED = "END"  # TF Serving's state of a version it has unloaded


@dataclass(frozen=True, order=True)
class Entry:
    """An object of a store: its path (relative to the store's prefix, or to a version's
    directory once grouped), size in bytes, and ETag (None when the store gives none)."""

    path: str
    size: int
    etag: str | None


Files = frozenset[Entry]


@dataclass(frozen=True)
class Policy:
    """Which complete versions to mirror: the versions file, parsed. `keep` (the labelled
    versions) are mirrored whatever the kind, and never removed."""

    kind: Literal["all", "latest", "specific"] = "all"
    latest: int = 0
    specific: frozenset[int] = frozenset()
    keep: frozenset[int] = frozenset()


ALL = Policy()


def version_number(name: str) -> int | None:
    """The version a directory (or bucket "directory") name stands for, if it is one."""
    return int(name) if VERSION_NAME.fullmatch(name) else None


def by_version(entries: Iterable[Entry]) -> dict[int, Files]:
    """The bucket's versions, each with its files relative to `<N>/`. Objects outside a
    version directory, and the empty "folder" objects consoles create, are not files of one."""
    grouped: dict[int, set[Entry]] = {}
    for entry in entries:
        head, _, rest = entry.path.partition("/")
        version = version_number(head)
        if version is not None and rest and not rest.endswith("/"):
            grouped.setdefault(version, set()).add(Entry(rest, entry.size, entry.etag))
    return {version: frozenset(files) for version, files in grouped.items()}


def incompleteness(files: Files, previously: Files | None) -> str:
    """Why a version is not complete yet, "" when it is. `previously`: its files on the previous
    poll (None if it was not listed then)."""
    unsafe = sorted(e.path for e in files if not safe_path(e.path))
    if unsafe:  # it would be written outside its directory: never mirrored
        return f"an object name that is not a plain relative path: {unsafe[0]!r}"
    names = {e.path for e in files}
    if MARKER in names:
        return ""
    missing = missing_files(names)
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"waiting for {missing[0]}{more} (or the {MARKER} marker)"
    if files != previously:
        return "waiting for its listing to stay the same for one more poll"
    return ""


def settling(reason: str) -> bool:
    """Whether `incompleteness` found all the files and waits only for a second look."""
    return reason.startswith("waiting for its listing")


def missing_files(names: Collection[str]) -> list[str]:
    """The files of a TF2 SavedModel that `names` lacks."""
    missing = [] if any(n in names for n in SAVED_MODEL_FILES) else [SAVED_MODEL_FILES[0]]
    if VARIABLES_INDEX not in names:
        missing.append(VARIABLES_INDEX)
    counts = {int(m[2]) for m in map(SHARD.fullmatch, names) if m}
    if not counts:
        missing.append("variables/variables.data-00000-of-<n>")
    elif len(counts) > 1:  # a checkpoint being replaced by one sharded differently
        missing.append(f"shards of one checkpoint (found -of-{min(counts):05d} and others)")
    else:
        (n,) = counts
        shards = (f"variables/variables.data-{i:05d}-of-{n:05d}" for i in range(n))
        missing += [shard for shard in shards if shard not in names]
    return missing


def safe_path(path: str) -> bool:
    """A relative path of plain names: no empty, `.` or `..` part, no absolute path."""
    return all(part not in ("", ".", "..") for part in path.split("/"))


def wanted(policy: Policy, complete: Collection[int]) -> frozenset[int]:
    """The complete versions to mirror: the policy's pick, plus the kept (labelled) ones."""
    chosen: Iterable[int]
    if policy.kind == "latest":
        chosen = sorted(complete)[-policy.latest :]
    elif policy.kind == "specific":
        chosen = policy.specific.intersection(complete)
    else:
        chosen = complete
    return frozenset(chosen) | policy.keep.intersection(complete)


def removable(
    local: Collection[int],
    wanted: Collection[int],
    policy: Policy,
    serving: Mapping[int, str] | None,
) -> list[int]:
    """Local versions to remove: not wanted, not kept, and unloaded by TF Serving (not in its
    answer, or END). `serving` None: TF Serving could not tell, so nothing goes."""
    if serving is None:
        return []
    unwanted = set(local) - set(wanted) - policy.keep
    return sorted(v for v in unwanted if serving.get(v, UNLOADED) == UNLOADED)


def parse_policy(text: str) -> Policy:
    """The versions file: {"latest": N} | {"all": true} | {"specific": [N, ...]}, plus an
    optional "keep": [N, ...]. ValueError says what is wrong, in one line."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"not JSON: {err}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(document) - {"latest", "all", "specific", "keep"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    kinds = [k for k in ("latest", "all", "specific") if k in document]
    if len(kinds) != 1:
        raise ValueError('needs exactly one of "latest", "all", "specific"')
    keep = frozenset(versions(document.get("keep", []), "keep"))
    kind = kinds[0]
    if kind == "latest":
        count = document["latest"]
        if type(count) is not int or count < 1:
            raise ValueError('"latest" must be a whole number >= 1')
        return Policy("latest", latest=count, keep=keep)
    if kind == "all":
        if document["all"] is not True:
            raise ValueError('"all" must be true')
        return Policy("all", keep=keep)
    return Policy("specific", specific=frozenset(versions(document["specific"], kind)), keep=keep)


def versions(value: Any, key: str) -> list[int]:
    if not isinstance(value, list) or not all(
        type(v) is int and version_number(str(v)) == v for v in value
    ):
        raise ValueError(f'"{key}" must be a list of version numbers >= 1')
    return value


def serving_states(answer: Any) -> dict[int, str] | None:
    """Version -> state from TF Serving's GET /v1/models/<model> answer, None if the answer is
    not one (the tenant picks the image: anything odd is "cannot tell")."""
    if not isinstance(answer, dict) or not isinstance(answer.get("model_version_status"), list):
        return None
    states: dict[int, str] = {}
    for status in answer["model_version_status"]:
        if not isinstance(status, dict):
            return None
        version, state = status.get("version"), status.get("state")
        # int64 versions are strings in TF Serving's JSON.
        number = version_number(version) if isinstance(version, str) else None
        if number is None or not isinstance(state, str):
            return None
        # The same version listed twice: not unloaded unless every entry says so.
        if states.get(number, UNLOADED) == UNLOADED:
            states[number] = state
    return states


def work_dir_name(purpose: Literal["tmp", "old"], version: int, token: str) -> str:
    """A directory TF Serving ignores: a version being downloaded ("tmp") or removed ("old")."""
    return f"{WORK_PREFIX}{purpose}-{version}-{token}"


def is_work_dir(name: str) -> bool:
    """A directory left by a run that was killed, to remove when starting."""
    return name.startswith(WORK_PREFIX)
