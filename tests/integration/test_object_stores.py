"""The object-storage servers of tests/support/object_stores.py are real servers a real client
(obstore, Rust's object_store) can use, and they listen only on 127.0.0.1."""

import json
import os

import obstore
import pytest
import requests
from obstore.store import GCSStore, S3Store

from support.object_stores import gcs_server, listening, s3_server
from tfmodel_operator.storage.stores import open_store

SAVED_MODEL = b"\x08\x01 not really a SavedModel"
KEY = "vgg16/1/saved_model.pb"


def listed_and_read(store: S3Store | GCSStore) -> None:
    listed = obstore.list(store, "vgg16/").collect()
    assert [(o["path"], o["size"]) for o in listed] == [(KEY, len(SAVED_MODEL))]
    assert obstore.get(store, KEY).bytes().to_bytes() == SAVED_MODEL


def test_s3_server() -> None:
    with s3_server() as s3:
        s3.create_bucket("models")
        store = open_store("s3://models", s3.env).backend()  # the yielded env is all it needs
        obstore.put(store, KEY, SAVED_MODEL)
        listed_and_read(store)
        s3.upload("models", "vgg16/2/saved_model.pb", b"2")
        assert obstore.get(store, "vgg16/2/saved_model.pb").bytes().to_bytes() == b"2"
        assert listening(s3.pid) == {("127.0.0.1", s3.port)}
    with pytest.raises(requests.ConnectionError):
        requests.get(s3.endpoint, timeout=2)


def test_s3_servers_start_empty() -> None:
    with s3_server() as s3:
        s3.create_bucket("models")
    with s3_server() as s3:
        assert "<Name>models</Name>" not in requests.get(s3.endpoint, timeout=10).text


def test_gcs_server() -> None:
    with gcs_server() as gcs:
        assert gcs.env == {"STORAGE_EMULATOR_HOST": gcs.endpoint}
        gcs.create_bucket("models")
        gcs.upload("models", KEY, SAVED_MODEL)  # obstore's XML-API PUT is not emulated
        # obstore ignores STORAGE_EMULATOR_HOST; this key points it at the emulator with no
        # OAuth (nor any request to a metadata server for a token).
        key = {"gcs_base_url": gcs.endpoint, "disable_oauth": True, "client_email": "",
               "private_key": "", "private_key_id": ""}  # fmt: skip
        store = GCSStore(
            "models", service_account_key=json.dumps(key), client_options={"allow_http": True}
        )
        listed_and_read(store)
        # The URLs it hands out lead back to it, not to 0.0.0.0 or storage.googleapis.com.
        listed = requests.get(f"{gcs.endpoint}/storage/v1/b/models/o", timeout=10).json()
        [item] = listed["items"]
        assert item["selfLink"].startswith(f"{gcs.endpoint}/")
        assert requests.get(item["mediaLink"], timeout=10).content == SAVED_MODEL
        assert listening(gcs.pid) == {("127.0.0.1", gcs.port)}
    assert not os.path.exists(f"/proc/{gcs.pid}")
