"""The artifact store over a local directory and over S3 (a real moto server on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from taskonomy.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from taskonomy.store import META_SUFFIX, ArtifactStore, validate_key


def test_bytes_json_and_tensors_round_trip(tmp_path):
    store = ArtifactStore(tmp_path)
    assert not store.exists("a/b")
    store.put_bytes("a/b", b"hello", meta={"n": 1})
    assert store.exists("a/b") and store.get_bytes("a/b") == b"hello" and store.meta("a/b") == {"n": 1}
    store.put_json("j/x.json", {"k": [1, 2]})
    assert store.get_json("j/x.json") == {"k": [1, 2]}
    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.array([1, 2], dtype=np.int64)}
    store.put_tensors("t/one", arrays, metadata={"task": "normal"})
    back = store.get_tensors("t/one")
    assert set(back) == {"x", "y"}
    np.testing.assert_array_equal(back["x"], arrays["x"])
    assert back["y"].dtype == np.int64
    assert store.meta("t/one") == {"task": "normal"}
    assert store.list() == ["a/b", "j/x.json", "t/one"]
    assert store.list("t/") == ["t/one"]
    assert store.delete("a/b") and not store.exists("a/b")
    assert not store.delete("a/b")


def test_torch_tensors_are_accepted(tmp_path):
    torch = pytest.importorskip("torch")
    store = ArtifactStore(f"file://{tmp_path}")
    store.put_tensors("w", {"w": torch.ones(2, 3)})
    np.testing.assert_array_equal(store.get_tensors("w")["w"], np.ones((2, 3), dtype=np.float32))


def test_corruption_is_detected(tmp_path):
    store = ArtifactStore(tmp_path)
    store.put_bytes("k", b"0123456789")
    path = tmp_path / "k"
    path.write_bytes(b"0123456780")
    with pytest.raises(CorruptArtifactError, match="sha256"):
        store.get_bytes("k")
    os.remove(path)
    with pytest.raises(CorruptArtifactError, match="missing"):
        store.get_bytes("k")
    (tmp_path / ("k" + META_SUFFIX)).write_text("{not json")
    with pytest.raises(CorruptArtifactError, match="sidecar"):
        store.get_bytes("k")
    store.put_bytes("t", b"not a safetensors file")
    with pytest.raises(CorruptArtifactError, match="safetensors"):
        store.get_tensors("t")


def test_missing_artifact_and_partial_write(tmp_path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(NotFoundError):
        store.get_bytes("nope")
    # a blob without its sidecar (a write interrupted before commit) does not exist
    (tmp_path / "half").write_bytes(b"xx")
    assert not store.exists("half")
    assert store.list() == []


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "..", "a//b", "a/./b", "a\\b", "c:/x", "a b",
                                 "x" + META_SUFFIX, "a/.tmp-1", "ok/é"])
def test_bad_keys_are_refused(tmp_path, bad):
    with pytest.raises(InvalidInputError):
        validate_key(bad)
    with pytest.raises(InvalidInputError):
        ArtifactStore(tmp_path).put_bytes(bad, b"x")


def test_store_does_not_import_torch():
    code = "import sys, taskonomy.store, taskonomy.contract, taskonomy.execution; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.integration
def test_s3_store_through_moto(monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="arts")
        monkeypatch.setenv("TASKONOMY_S3_ENDPOINT", endpoint)
        store = ArtifactStore("s3://arts/exp")
        store.put_tensors("nets/a", {"x": np.ones(3, dtype=np.float32)}, metadata={"m": 1})
        assert store.exists("nets/a") and store.meta("nets/a") == {"m": 1}
        np.testing.assert_array_equal(store.get_tensors("nets/a")["x"], np.ones(3, dtype=np.float32))
        assert store.list() == ["nets/a"]
        store.fs.pipe_file(store._path("nets/a"), b"garbage")
        store.fs.invalidate_cache()
        with pytest.raises(CorruptArtifactError):
            store.get_tensors("nets/a")
        assert store.delete("nets/a")
        store.fs.invalidate_cache()
        assert not store.exists("nets/a")
    finally:
        server.stop()
