"""I/O: `tfmodel sync`, the model-sync sidecar. TF Serving 2.20 reads no s3:// (and gs:// only
from Google's endpoint), so this mirrors the complete versions of a bucket into the directory
TF Serving polls, and new versions arrive without a pod restart.

Every poll (--interval seconds):
1. list the bucket; the versions are `<prefix>/<N>/`, complete by versions.incompleteness;
2. read the versions file (the operator updates it through a ConfigMap, so it is read again
   each time) and pick the complete versions it wants (versions.wanted);
3. download each wanted version that is not here yet into `<dest>/.sync-tmp-<N>-<random>` (a
   name TF Serving ignores, on the same filesystem), check sizes and checksums, fsync, then
   rename it to `<dest>/<N>`: TF Serving never sees a partial version;
4. remove a local version that is no longer wanted (and not kept) only once TF Serving reports
   it unloaded; if TF Serving cannot tell, remove nothing.
Trouble (credentials, a missing bucket, a failed download) never ends the loop: it becomes the
`error` of the state endpoint (state.py), the versions already here stay, the next poll retries.
Leftovers of a killed run (`.sync-*` directories) are removed on start.
"""

import argparse
import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from tfmodel_operator.storage import versions
from tfmodel_operator.storage.serving import loaded_states
from tfmodel_operator.storage.state import Snapshot, SyncState, address, serve
from tfmodel_operator.storage.stores import Store, StoreError, open_store
from tfmodel_operator.storage.versions import ALL, Files, Policy


@dataclass(frozen=True)
class Settings:
    source: str  # s3://bucket/prefix or gs://bucket/prefix
    dest: Path
    model_name: str
    versions_file: Path | None
    interval: float
    serving_url: str
    listen: str
    once: bool
    verbose: bool
    check_etags: bool


@dataclass(frozen=True)
class Outcome:
    """What one poll left: its errors, and whether a wanted version waits for a second look
    at its listing (a version uploaded without a marker)."""

    errors: tuple[str, ...]
    settling: bool


def main(args: argparse.Namespace) -> int:
    """`tfmodel sync`: 0 (--once: synced), 1 (--once: an error), 2 (bad arguments)."""
    settings = Settings(
        source=args.source,
        dest=args.dest,
        model_name=args.model_name,
        versions_file=args.versions_file,
        interval=args.interval,
        serving_url=args.serving_url,
        listen=args.listen,
        once=args.once,
        verbose=args.verbose,
        check_etags=args.etag_check,
    )
    try:
        if settings.interval <= 0:
            raise ValueError(f"--interval {settings.interval:g}: must be more than 0 seconds")
        address(settings.listen)
        store = open_store(settings.source)
    except ValueError as err:
        print(f"tfmodel sync: error: {err}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, stop)
    try:
        syncer = Syncer(settings, store)
    except OSError as err:
        print(f"tfmodel sync: error: {describe(err)}", file=sys.stderr)
        return 1
    if settings.once:
        return syncer.run_once()
    try:
        serve(syncer.state, settings.listen)
    except OSError as err:
        print(
            f"tfmodel sync: error: cannot listen on {settings.listen}: {describe(err)}",
            file=sys.stderr,
        )
        return 1
    syncer.run_forever()


def stop(signum: int, frame: object) -> NoReturn:
    """SIGTERM ends the process through the normal unwinding, so a download in progress
    removes its temporary directory."""
    raise SystemExit(0)


class Syncer:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.dest = settings.dest
        self.previous: dict[int, Files] = {}  # the last poll's listing, for marker-less versions
        self.shown_error = ""
        self.dest.mkdir(parents=True, exist_ok=True)
        for leftover in self.dest.iterdir():
            if versions.is_work_dir(leftover.name) and leftover.is_dir():
                shutil.rmtree(leftover)
                self.note(f"removed {leftover.name}, left by an earlier run")
        self.state = SyncState(Snapshot(store.describe(), versions=tuple(self.local())))

    def run_once(self) -> int:
        outcome = self.poll()
        if outcome.settling:  # a marker-less version is complete only on a second look
            time.sleep(self.settings.interval)
            outcome = self.poll()
        return 1 if outcome.errors else 0

    def run_forever(self) -> NoReturn:
        say(
            f"syncing {self.store.describe()} into {self.dest} every "
            f"{self.settings.interval:g} s; state on http://{self.settings.listen}/state"
        )
        while True:
            started = time.monotonic()
            self.poll()
            time.sleep(max(0.0, started + self.settings.interval - time.monotonic()))

    def poll(self) -> Outcome:
        try:
            listing = versions.by_version(self.store.list())
            policy = self.policy()
        except (StoreError, ValueError) as err:
            return self.finish([str(err)], settling=False)
        errors = []
        if not listing:
            errors.append(f"{self.store.describe()}: no versions there (no <N>/ directories)")
        reasons = {
            version: versions.incompleteness(files, self.previous.get(version))
            for version, files in listing.items()
        }
        self.previous = listing
        for version, reason in sorted(reasons.items()):
            if reason:
                self.note(f"version {version}: {reason}")
        complete = {v for v, reason in reasons.items() if not reason}
        wanted = versions.wanted(policy, complete)
        settling = {v for v, reason in reasons.items() if versions.settling(reason)}
        here = self.local()
        # Newest first: that is the one a `latest` policy serves.
        for version in sorted(wanted - here, reverse=True):
            try:
                self.download(version, listing[version])
            except (StoreError, OSError) as err:
                errors.append(f"version {version}: {describe(err)}")
        self.remove_unwanted(here, wanted, policy)
        waiting = bool(settling & versions.wanted(policy, complete | settling))
        return self.finish(errors, settling=waiting)

    def policy(self) -> Policy:
        """The versions file, read afresh; no file: every complete version."""
        path = self.settings.versions_file
        if path is None:
            return ALL
        try:
            return versions.parse_policy(path.read_text())
        except FileNotFoundError:
            self.note(f"no {path}: syncing every complete version")
            return ALL
        except OSError as err:
            raise ValueError(f"versions file {describe(err)}") from None
        except ValueError as err:
            raise ValueError(f"versions file {path}: {err}") from None

    def download(self, version: int, files: Files) -> None:
        started = time.monotonic()
        token = secrets.token_hex(4)
        temporary = self.dest / versions.work_dir_name("tmp", version, token)
        temporary.mkdir()
        try:
            total = 0
            for entry in sorted(files):
                target = temporary / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                path = f"{version}/{entry.path}"
                written = self.store.download(path, target, self.settings.check_etags)
                if written != entry.size:
                    raise StoreError(f"{self.store.url_of(path)}: changed since it was listed")
                total += written
            sync_directories(temporary)
            os.rename(temporary, self.dest / str(version))
            sync_directories(self.dest, recursive=False)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        say(f"synced version {version} ({size(total)} in {time.monotonic() - started:.2f} s)")

    def remove_unwanted(self, here: set[int], wanted: frozenset[int], policy: Policy) -> None:
        unwanted = sorted(here - wanted - policy.keep)
        if not unwanted:
            return
        states = loaded_states(self.settings.serving_url, self.settings.model_name)
        if states is None:
            self.note(
                f"versions {unwanted} are no longer wanted, but TF Serving at "
                f"{self.settings.serving_url} did not tell what it has loaded: removing nothing"
            )
            return
        for version in versions.removable(here, wanted, policy, states):
            token = secrets.token_hex(4)
            removed = self.dest / versions.work_dir_name("old", version, token)
            try:
                os.rename(self.dest / str(version), removed)  # gone at once for TF Serving
                shutil.rmtree(removed)
            except OSError as err:
                self.note(f"version {version}: not removed: {describe(err)}")
                continue
            say(f"removed version {version} (no longer wanted, and TF Serving unloaded it)")
        for version in unwanted:
            state = states.get(version, versions.UNLOADED)
            if state != versions.UNLOADED:
                self.note(f"version {version}: no longer wanted; TF Serving has it {state}")

    def finish(self, errors: list[str], settling: bool) -> Outcome:
        error = "; ".join(errors)
        now = self.state.snapshot()
        changes: dict[str, object] = {"versions": tuple(sorted(self.local())), "error": error}
        if not error:
            changes["last_sync"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            changes["ready"] = now.ready or not settling
        self.state.update(**changes)
        if error != self.shown_error:
            if error:
                print(f"error: {error}", file=sys.stderr, flush=True)
            else:
                say(f"synced with {self.store.describe()} again")
            self.shown_error = error
        return Outcome(tuple(errors), settling)

    def local(self) -> set[int]:
        """The versions in the local directory."""
        found = (versions.version_number(d.name) for d in self.dest.iterdir() if d.is_dir())
        return {v for v in found if v is not None}

    def note(self, message: str) -> None:
        if self.settings.verbose:
            say(message)


def sync_directories(top: Path, recursive: bool = True) -> None:
    """fsync `top`'s directories (the files are fsynced as they are written), deepest first,
    so that after a crash the renamed version holds its files."""
    tree = os.walk(top, topdown=False) if recursive else [(str(top), [], [])]
    for directory, _, _ in tree:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def describe(err: Exception) -> str:
    """A StoreError as it is; an OSError as its reason and file."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err)


def size(count: int) -> str:
    if count < 10**6:
        return f"{count / 1e3:.0f} kB"
    return f"{count / 1e6:.0f} MB" if count >= 10**7 else f"{count / 1e6:.1f} MB"


def say(message: str) -> None:
    print(message, flush=True)
