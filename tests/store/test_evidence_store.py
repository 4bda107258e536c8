"""The evidence store: files content-addressed and sealed at rest, their type read from their bytes,
attached only by their uploader; on a folder and on an S3-compatible server."""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from cases.evidence import Attachment, EvidenceKind
from cases.refusal import Refusal
from codec.encryption import Keyring
from devserver.ports import free_port, wait_for_port
from store.evidence import EvidenceFiles, EvidenceUnreadable, FolderBlobs, S3Blobs
from tests.factories import gif, jpeg, pdf

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def keyring(key_id: str = "k1") -> Keyring:
    return Keyring.parse(f"{key_id}={base64.b64encode(secrets.token_bytes(32)).decode()}")


@pytest.fixture
def files(db, tmp_path):
    return EvidenceFiles(FolderBlobs(tmp_path / "evidence"), keyring(), db, max_bytes=100_000)


def test_a_file_is_stored_once_under_its_digest_sealed_and_read_back(files, tmp_path):
    photo = jpeg(50_000)
    stored = files.upload(photo, "api:buyer", NOW)
    assert (stored.digest, stored.media_type, stored.size) == (hashlib.sha256(photo).hexdigest(), "image/jpeg", 50_000)
    assert files.upload(photo, "api:seller", NOW) == stored
    (on_disk,) = (tmp_path / "evidence").rglob(stored.digest)
    sealed = on_disk.read_bytes()
    assert sealed.startswith(b"RCE1") and photo[:64] not in sealed and photo[-64:] not in sealed
    assert files.read(stored.digest) == (photo, "image/jpeg")


def test_the_type_comes_from_the_bytes_and_the_size_is_capped(files):
    with pytest.raises(Refusal, match="file: its content is not a photo"):
        files.upload(b"MZ\x90\x00 an executable named photo.jpg", "api:buyer", NOW)
    with pytest.raises(Refusal, match="file: at most 100000 bytes"):
        files.upload(jpeg(100_001), "api:buyer", NOW)
    with pytest.raises(Refusal, match="file: is empty"):
        files.upload(b"", "api:buyer", NOW)
    assert files.upload(gif(), "api:buyer", NOW).media_type == "image/gif"  # a known type; each policy decides on it


def test_only_the_uploader_attaches_a_file_and_the_store_describes_it(files):
    document = pdf()
    stored = files.upload(document, "api:seller", NOW)
    claimed = Attachment(digest=stored.digest, kind=EvidenceKind.DOCUMENT, media_type="image/jpeg", size=1)
    (described,) = files.attached([claimed], "api:seller")
    assert (described.media_type, described.size) == ("application/pdf", len(document)), "what the sender said is replaced"
    with pytest.raises(Refusal) as refused:
        files.attached([claimed], "api:buyer")
    assert refused.value.field == "evidence[0].digest" and "no file of yours" in refused.value.rule
    with pytest.raises(Refusal, match="evidence\\[0\\].digest"):
        files.attached([claimed.model_copy(update={"digest": "0" * 64})], None)


def test_a_file_altered_at_rest_or_sealed_with_another_key_does_not_open(db, tmp_path):
    blobs = FolderBlobs(tmp_path / "evidence")
    stored = EvidenceFiles(blobs, keyring(), db, 100_000).upload(jpeg(), "api:buyer", NOW)
    with pytest.raises(EvidenceUnreadable, match="does not open with key 'k1'"):
        EvidenceFiles(blobs, keyring(), db, 100_000).read(stored.digest)
    with pytest.raises(EvidenceUnreadable, match="key 'k1', which this keyring does not hold"):
        EvidenceFiles(blobs, keyring("k2"), db, 100_000).read(stored.digest)
    with pytest.raises(EvidenceUnreadable, match="no codec key is configured"):
        EvidenceFiles(blobs, None, db, 100_000).read(stored.digest)


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3-compatible server, from the registry, on loopback."""
    server = shutil.which("moto_server")
    if server is None:
        pytest.fail("moto_server is not installed: pip install -e '.[dev]'")
    port = free_port()
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_the_same_store_on_an_s3_compatible_server(db, s3_server, monkeypatch):
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="evidence")
    files = EvidenceFiles(S3Blobs("evidence", "cases", s3_server), keyring(), db, 1_000_000)
    photo = jpeg(300_000)
    stored = files.upload(photo, "api:buyer", NOW)
    raw = boto3.client("s3", endpoint_url=s3_server).get_object(Bucket="evidence", Key=f"cases/{stored.digest}")["Body"].read()
    assert raw.startswith(b"RCE1") and photo[:64] not in raw
    assert files.read(stored.digest) == (photo, "image/jpeg")
    assert files.read("f" * 64) is None
