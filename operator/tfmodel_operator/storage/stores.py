"""I/O: the object stores (S3 and GCS) that hold model versions, behind one small API.

    store = open_store("s3://models/vgg16")
    store.list("2")                             # [Entry("2/saved_model.pb", 531_542, '"9f…"'), …]
    store.download("2/saved_model.pb", path)    # bytes written, checked and fsynced
    store.upload(path, "3/saved_model.pb")

Why obstore (the Python binding of the Rust `object_store` crate that Apache Arrow, DataFusion
and delta-rs read their data with), and not boto3 plus google-cloud-storage:
- one library and one API for S3, GCS (and Azure), one set of errors to translate;
- it streams: a download is read chunk by chunk, so the sidecar's memory does not grow with a
  file's size (about 25 MB RSS while streaming a 554 MB variables shard), and large uploads go
  as multipart uploads of bounded parts;
- it finds credentials as each cloud's SDK does, and signs requests itself: the AWS_* access
  keys, IRSA's web identity token, ECS and EC2 instance roles; GOOGLE_APPLICATION_CREDENTIALS,
  then the metadata server (GKE workload identity);
- it is small: one compiled module whose only Python dependency is typing-extensions; importing
  it and opening a store adds 12 MB of RSS, where boto3's S3 client alone adds 41 MB (measured
  side by side). And botocore pins python-dateutil<3, which the kubernetes client (>=3) in the
  same image cannot share;
- retries and timeouts are set per store, so a dead endpoint costs a poll, not minutes.
What it does not read, translated here from the stores' standard variables: an http://
AWS_ENDPOINT_URL needs `allow_http`; STORAGE_EMULATOR_HOST (the GCS emulator, as
google-cloud-storage reads it) becomes the store's base URL, without credentials.
"""

import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import obstore
from obstore.store import GCSStore, S3Store

from tfmodel_operator.storage.versions import Entry

if TYPE_CHECKING:
    from obstore.store import ClientConfig, GCSConfig, RetryConfig, S3Config

__all__ = ["Entry", "Store", "StoreError", "open_store"]

CHUNK = 1 << 20  # bytes handed from the library to Python at a time
HASH_BACKLOG = 4  # chunks received but not hashed yet, at most
# Written data is pushed to disk (and dropped from the page cache) every this many bytes: the
# final fsync is then short, and a container's memory limit, which counts its page cache, is
# not filled by a file TF Serving reads once.
WRITEBACK_EVERY = 32 << 20
PART_SIZE = 8 << 20  # multipart uploads: parts of this size, at most UPLOAD_PARTS in memory
UPLOAD_PARTS = 4
RETRIES: "RetryConfig" = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
TIMEOUTS: "ClientConfig" = {
    "connect_timeout": timedelta(seconds=5),
    "read_timeout": timedelta(seconds=60),  # a stalled transfer fails; a slow one goes on
    "timeout": timedelta(hours=24),  # the library's default (30 s) would cut large files off
}
# A single-part upload's S3 ETag is the MD5 of the content (not so for multipart uploads,
# "<md5>-<parts>", nor for SSE-KMS or SSE-C objects: see --no-etag-check).
MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')
MAX_PROBLEM = 300  # characters of the library's message kept in an error


class StoreError(Exception):
    """What went wrong with a store, in one line that names it (its URL) and the problem."""


Backend = S3Store | GCSStore


class Store:
    """A bucket and a prefix in it; paths are relative to the prefix."""

    def __init__(self, url: str, connect: Callable[[], Backend], md5_etags: bool) -> None:
        self.url = url
        self.connect = connect
        self.connected: Backend | None = None
        self.md5_etags = md5_etags

    def describe(self) -> str:
        return self.url

    def backend(self) -> Backend:
        """The library's store, made on first use: reading a credentials file can fail, and
        that must be a StoreError like any other."""
        if self.connected is None:
            self.connected = self.connect()
        return self.connected

    def list(self, subpath: str = "") -> list[Entry]:
        """Every object under `subpath` (a "directory" relative to the prefix; "" for all)."""
        try:
            listing = obstore.list(self.backend(), subpath.strip("/") or None, chunk_size=1000)
            return [
                Entry(meta["path"], meta["size"], meta["e_tag"])
                for chunk in listing
                for meta in chunk
            ]
        except STORE_ERRORS as err:
            raise self.error(err, f"listing {self.url_of(subpath)}/") from None

    def download(self, path: str, local_file: Path, check_etag: bool = True) -> int:
        """Stream object `path` into `local_file` (created or replaced), fsync it, and return
        the bytes written. The size (and for S3 a single-part upload's MD5) is checked while
        streaming, so a short or corrupted transfer is a StoreError, not a file."""
        try:
            result = obstore.get(self.backend(), path)
            meta = result.meta
            chunks = iter(result.stream(min_chunk_size=CHUNK))
        except STORE_ERRORS as err:
            raise self.error(err, f"reading {self.url_of(path)}") from None
        etag = MD5_ETAG.fullmatch(meta["e_tag"] or "") if self.md5_etags and check_etag else None
        with local_file.open("wb") as out, BackgroundMD5(enabled=bool(etag)) as digest:
            written = flushed = 0
            while True:
                try:
                    chunk = next(chunks, None)
                except STORE_ERRORS as err:
                    raise self.error(err, f"reading {self.url_of(path)}") from None
                if chunk is None:
                    break
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if written - flushed >= WRITEBACK_EVERY:
                    out.flush()
                    # Starts writeback of what is dirty, drops what is already on disk.
                    os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                    flushed = written
            out.flush()
            os.fsync(out.fileno())
        if written != meta["size"]:
            raise StoreError(
                f"{self.url_of(path)}: got {written} bytes of {meta['size']} (the transfer "
                "was cut short, or the object changed meanwhile)"
            )
        if etag and digest.hexdigest() != etag[1]:
            raise StoreError(
                f"{self.url_of(path)}: the content's MD5 is not its ETag {etag[1]} (corrupted "
                "in transfer; or the bucket encrypts with SSE-KMS or SSE-C, whose ETags are "
                "not MD5s: then sync with --no-etag-check)"
            )
        return written

    def upload(self, local_file: Path, path: str) -> None:
        """Put `local_file` at `path`, streamed (multipart beyond one part: memory stays
        bounded whatever the file's size). The object appears whole or not at all."""
        try:
            obstore.put(
                self.backend(),
                path,
                local_file,
                chunk_size=PART_SIZE,
                max_concurrency=UPLOAD_PARTS,
            )
        except STORE_ERRORS as err:
            raise self.error(err, f"writing {self.url_of(path)}") from None

    def url_of(self, path: str) -> str:
        return f"{self.url}/{path.strip('/')}" if path.strip("/") else self.url

    def error(self, err: Exception, doing: str) -> StoreError:
        return StoreError(f"{doing}: {problem(err)}")


class BackgroundMD5:
    """The MD5 of the chunks given to it, computed in a thread of its own: hashlib releases the
    GIL, so hashing overlaps receiving and writing instead of adding to them (MD5 runs at about
    0.5 GB/s on one core: inline, it halved a fast download)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=HASH_BACKLOG)
        self.thread = threading.Thread(target=self.consume, name="md5", daemon=True)

    def consume(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            self.md5.update(chunk)

    def update(self, chunk: bytes) -> None:
        if self.enabled:
            self.chunks.put(chunk)

    def hexdigest(self) -> str:
        """Once the `with` block is left."""
        return self.md5.hexdigest()

    def __enter__(self) -> "BackgroundMD5":
        if self.enabled:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.chunks.put(None)
            self.thread.join()


# The stores' standard variables, as the library's S3 settings; given explicitly they win over
# what it finds in the process environment itself.
S3_VARIABLES = {"AWS_ACCESS_KEY_ID": "access_key_id", "AWS_SECRET_ACCESS_KEY": "secret_access_key",
                "AWS_SESSION_TOKEN": "session_token", "AWS_REGION": "region",
                "AWS_ENDPOINT_URL": "endpoint"}  # fmt: skip


def open_store(url: str, environ: Mapping[str, str] = os.environ) -> Store:
    """The store at `url` (s3://bucket/prefix or gs://bucket/prefix), configured by the
    stores' standard variables in `environ` (see the module's doc; with the process's own
    environment, the library also finds the rest of each cloud's credential chain). Nothing is
    contacted yet: a wrong bucket or wrong credentials show up as a StoreError on first use."""
    parts = urlsplit(url)
    bucket, prefix = parts.netloc, parts.path.strip("/") or None
    if parts.scheme not in ("s3", "gs") or not bucket or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an object store URL (s3://bucket/prefix or gs://…)")
    clean = f"{parts.scheme}://{bucket}" + (f"/{prefix}" if prefix else "")
    if parts.scheme == "s3":
        endpoint = environ.get("AWS_ENDPOINT_URL", "")
        options: ClientConfig = {**TIMEOUTS, "allow_http": endpoint.startswith("http://")}
        config = cast(
            "S3Config",
            {key: environ[name] for name, key in S3_VARIABLES.items() if environ.get(name)},
        )
        return Store(
            clean,
            lambda: S3Store(
                bucket, prefix=prefix, config=config, client_options=options, retry_config=RETRIES
            ),
            md5_etags=True,
        )
    emulator = environ.get("STORAGE_EMULATOR_HOST", "")
    if not emulator:
        key_file = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        gcs = cast("GCSConfig", {"application_credentials": key_file} if key_file else {})
        return Store(
            clean,
            lambda: GCSStore(
                bucket, prefix=prefix, config=gcs, client_options=TIMEOUTS, retry_config=RETRIES
            ),
            md5_etags=False,
        )
    # google-cloud-storage's reading: the emulator's address, with or without a scheme, and no
    # credentials. The library takes both from a service-account key (its own tests run so
    # against fake-gcs-server); its `skip_signature` would still fetch a token for uploads
    # (apache/arrow-rs-object-store#520).
    base = (emulator if "://" in emulator else f"http://{emulator}").rstrip("/")
    key = json.dumps(
        {"gcs_base_url": base, "disable_oauth": True}
        | dict.fromkeys(("client_email", "private_key", "private_key_id"), "")
    )
    emulated: ClientConfig = {**TIMEOUTS, "allow_http": base.startswith("http://")}
    return Store(
        clean,
        lambda: GCSStore(
            bucket,
            prefix=prefix,
            service_account_key=key,
            client_options=emulated,
            retry_config=RETRIES,
        ),
        md5_etags=False,
    )


# The library raises its own errors, and FileNotFoundError for a missing object.
STORE_ERRORS = (obstore.exceptions.BaseError, FileNotFoundError)
XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
XML_MESSAGE = re.compile(r"<Message>([^<]{1,200})</Message>")
JSON_MESSAGE = re.compile(r'"message":\s*"([^"]{1,200})"')
HTTP_STATUS = re.compile(r"status code: (\d{3})")
# S3's (and GCS's XML API's) error codes that say more than the HTTP status.
CODES = {
    "NoSuchBucket": "the bucket does not exist",
    "NoSuchKey": "no such object",
    "AccessDenied": "access denied (the credentials may not read or write here)",
    "InvalidAccessKeyId": "wrong credentials (the access key is not known)",
    "SignatureDoesNotMatch": "wrong credentials (the secret key does not match the access key)",
    "InvalidToken": "wrong credentials (the session token is not valid)",
    "ExpiredToken": "the credentials have expired",
    "AuthorizationHeaderMalformed": "the request's region or credentials are malformed",
    "PermanentRedirect": "the bucket is in another region (set AWS_REGION)",
}
# Where the library asks for credentials when the environment has none (EC2/EKS, GCE/GKE).
METADATA_HOSTS = ("169.254.169.254", "metadata.google.internal")
STATUSES = {
    "401": "wrong credentials (not authenticated)",
    "403": "access denied (the credentials may not read or write here)",
    "404": "not found",
}


def problem(err: Exception) -> str:
    """The library's error (a multi-line report with a debug dump) as a few words."""
    text = str(err)
    if any(host in text for host in METADATA_HOSTS):
        return (
            "no credentials: none in the environment, and the instance metadata service gave none"
        )
    code = XML_CODE.search(text)
    if code and code[1] in CODES:
        return f"{CODES[code[1]]} ({code[1]})"
    status = HTTP_STATUS.search(text)
    if status:
        message = XML_MESSAGE.search(text) or JSON_MESSAGE.search(text)
        known = STATUSES.get(status[1], f"HTTP {status[1]}")
        return f"{known}: {message[1]}" if message else known
    if isinstance(err, FileNotFoundError):
        return "no such object"
    if "error sending request" in text or "Connection refused" in text:
        return "cannot connect to the store's endpoint"
    first = text.split("\n\nDebug source:", 1)[0].replace("\n", " ").strip()
    return first[:MAX_PROBLEM] or type(err).__name__
