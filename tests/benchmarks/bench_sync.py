"""Benchmark (a script, not a test): the model-sync sidecar on a VGG16-sized version.

    .venv/bin/python tests/benchmarks/bench_sync.py [--rounds 5]

A version shaped like a VGG16 export (saved_model.pb, fingerprint.pb, variables.index and a
553 MB variables.data-00000-of-00001 of random bytes: 138,357,544 float32 weights) is put into
moto's S3 server on 127.0.0.1, then, in alternating rounds of the same run:

- sync: the real `tfmodel sync` process mirrors it into an empty directory (temporary
  directory, size and checksum checks, fsync, rename); its transfer time is the one it prints
  ("synced version 1 (554 MB in 2.1 s)"), its peak RSS the process's VmHWM from /proc once
  /state lists the version;
- plain: a child process downloads the same objects with the same library (obstore: GET,
  stream, write; no checks, no fsync), timed from the first request to the last byte written;
  and again with an fsync of each file (what any durable copy pays: the plain download leaves
  its writes to the page cache, to be written out after the clock stopped).

Two uploads: as `tfmodel export` puts it (the big file in multipart parts, so its ETag is no
MD5 and only sizes are checked) and as one single-part PUT (an MD5 ETag: the sidecar computes
the MD5 while streaming). Medians of --rounds rounds. moto runs on this same machine (a
process of its own, busy a core while serving): the figures compare the two clients on the same
server, not S3.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import obstore
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "operator"))

from support.object_stores import free_port, s3_server
from tfmodel_operator.storage.stores import PART_SIZE, UPLOAD_PARTS, open_store

TFMODEL = str(Path(sys.executable).with_name("tfmodel"))
VGG16 = {  # bytes, as `tfmodel export --weights none` writes them (the shard: 4 x 138,357,544)
    "saved_model.pb": 545_000,
    "fingerprint.pb": 56,
    "variables/variables.index": 1_800,
    "variables/variables.data-00000-of-00001": 553_430_176,
}
PLAIN = r"""
import os, sys, time, obstore
from obstore.store import S3Store
store = S3Store("models", prefix=sys.argv[1], client_options={"allow_http": True, "timeout": "1h"})
durable, dest, paths = sys.argv[2] == "fsync", sys.argv[3], sys.argv[4:]
started, total = time.monotonic(), 0
for i, path in enumerate(paths):
    with open(f"{dest}/{i}", "wb") as out:
        for chunk in obstore.get(store, path).stream(min_chunk_size=1 << 20):
            out.write(chunk)
            total += len(chunk)
        if durable:
            out.flush()
            os.fsync(out.fileno())
print(total, time.monotonic() - started)
"""


def put_version(scratch: Path, prefix: str, multipart: bool) -> None:
    store = open_store(f"s3://models/{prefix}")
    for name, size in VGG16.items():
        local = scratch / "file"
        with local.open("wb") as out:
            for offset in range(0, size, 1 << 24):
                out.write(os.urandom(min(1 << 24, size - offset)))
        if multipart:
            store.upload(local, f"1/{name}")  # as the exporter does
        else:
            obstore.put(store.backend(), f"1/{name}", local, use_multipart=False)
    (scratch / "file").unlink()
    marker = scratch / "empty"
    marker.touch()
    store.upload(marker, "1/_SUCCESS")  # last, as the exporter writes it


def sync_round(env: dict[str, str], prefix: str, dest: Path) -> tuple[float, float, int]:
    """(transfer seconds as the sidecar reports them, wall seconds to synced, peak RSS bytes)."""
    port = free_port()
    log = dest.parent / "sync.log"
    argv = [
        TFMODEL, "sync", "--source", f"s3://models/{prefix}", "--dest", str(dest),
        "--model-name", "vgg16", "--interval", "600", "--listen", f"127.0.0.1:{port}",
    ]  # fmt: skip
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tfmodel sync exited: {log.read_text()}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/state", timeout=1).json()["versions"]:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        wall = time.monotonic() - started
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) * 1024  # type: ignore[index]
    finally:
        process.terminate()
        process.wait(timeout=10)
    reported = re.search(r"synced version 1 \(.* in ([0-9.]+) s\)", log.read_text())
    assert reported, log.read_text()
    return float(reported[1]), wall, peak


def plain_round(env: dict[str, str], prefix: str, dest: Path, fsync: bool) -> float:
    paths = [f"1/{name}" for name in [*VGG16, "_SUCCESS"]]
    durable = "fsync" if fsync else "-"
    out = subprocess.run(
        [sys.executable, "-c", PLAIN, prefix, durable, str(dest), *paths],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    total, seconds = out.stdout.split()
    assert int(total) == sum(VGG16.values())
    return float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = sum(VGG16.values())
    print(f"VGG16-sized version: {size / 1e6:.0f} MB; multipart parts of {PART_SIZE >> 20} MiB, "
          f"{UPLOAD_PARTS} at a time; {args.rounds} rounds, medians")  # fmt: skip
    rows = []
    with s3_server() as s3, tempfile.TemporaryDirectory(prefix="bench-sync-") as work:
        s3.create_bucket("models")
        os.environ.update(s3.env)  # for the uploads from this process
        env = {k: v for k, v in s3.env.items() if k != "AWS_ALLOW_HTTP"}  # the sidecar's env
        scratch = Path(work)
        for prefix, multipart in (("exported", True), ("single-part", False)):
            started = time.monotonic()
            put_version(scratch, prefix, multipart)
            print(f"  put {prefix} version in {time.monotonic() - started:.1f} s")
            syncs, walls, peaks, plains, durables = [], [], [], [], []
            dest = scratch / "round" / "models"
            for _ in range(args.rounds):
                dest.mkdir(parents=True)
                transfer, wall, peak = sync_round(env, prefix, dest)
                syncs.append(transfer)
                walls.append(wall)
                peaks.append(peak)
                for fsync, times in ((False, plains), (True, durables)):
                    shutil.rmtree(scratch / "round")
                    dest.mkdir(parents=True)
                    times.append(plain_round(env, prefix, dest, fsync))
                shutil.rmtree(scratch / "round")
            sync_s, plain_s = statistics.median(syncs), statistics.median(plains)
            durable_s = statistics.median(durables)
            rows.append(
                (
                    prefix,
                    f"{size / sync_s / 1e6:.0f} MB/s ({sync_s:.2f} s)",
                    f"{size / plain_s / 1e6:.0f} MB/s ({plain_s:.2f} s)",
                    f"{plain_s / sync_s:.2f}x",
                    f"{durable_s / sync_s:.2f}x",
                    f"{statistics.median(walls):.2f} s",
                    f"{max(peaks) / 1e6:.0f} MB",
                )
            )
    header = (
        "upload",
        "sync",
        "plain download",
        "sync/plain",
        "sync/plain+fsync",
        "start->synced",
        "sync peak RSS",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
