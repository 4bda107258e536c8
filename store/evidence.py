"""The evidence store: files the parties give, content-addressed (the SHA-256 of their content) and
sealed with the codec's keys before they are written, in a folder by default or in an S3-compatible
bucket. A case holds references only (cases.evidence); the case store remembers what each file is, as
read from its bytes, and who uploaded it: only its uploader may attach it."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import filetype
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cases.evidence import Attachment
from cases.refusal import Refusal
from store.database import Store
from store.schema import EvidenceFileRow, EvidenceUploadRow

SEALED, PLAIN = b"RCE1", b"RCE0"  # a stored file's first bytes: sealed (then key id, nonce, ciphertext) or not
NONCE_BYTES = 12


class EvidenceUnreadable(ValueError):
    """A stored file that does not open: sealed with a key this keyring lacks, or altered."""


class Keys(Protocol):
    """The codec's keyring (codec.encryption.Keyring): the current key seals, every key opens."""

    @property
    def keys(self) -> dict[str, bytes]: ...
    @property
    def current(self) -> str: ...


class Blobs(Protocol):
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str) -> bytes | None: ...


class FolderBlobs:
    """Files under a folder, two levels by digest; written whole or not at all."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / name

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)

    def get(self, name: str) -> bytes | None:
        path = self._path(name)
        return path.read_bytes() if path.exists() else None


class S3Blobs:
    """Files in an S3-compatible bucket, through boto3."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client: Any = None):
        import boto3  # only a store configured with s3:// needs it

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def get(self, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None


def blobs_at(where: str, s3_endpoint: str | None = None) -> Blobs:
    """A folder, or s3://bucket[/prefix]."""
    if where.startswith("s3://"):
        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        return S3Blobs(bucket, prefix, s3_endpoint or None)
    return FolderBlobs(Path(where))


@dataclass(frozen=True)
class StoredFile:
    digest: str
    media_type: str
    size: int


class EvidenceFiles:
    """Upload, describe and read evidence files."""

    def __init__(self, blobs: Blobs, keyring: Keys | None, store: Store, max_bytes: int):
        self.blobs, self.keyring, self.store, self.max_bytes = blobs, keyring, store, max_bytes

    def upload(self, content: bytes, uploader: str, at: datetime) -> StoredFile:
        """Stores a file once (its digest is its name) and records that `uploader` gave it. Raises
        Refusal naming `file` when it is empty, too large, or of a type no policy takes, as read from
        its first bytes."""
        if not content:
            raise Refusal("file", "is empty")
        if len(content) > self.max_bytes:
            raise Refusal("file", f"at most {self.max_bytes} bytes")
        media_type = media_type_of(content)
        if media_type is None:
            raise Refusal("file", "its content is not a photo, a video or a PDF this service reads (JPEG, PNG, WebP, HEIC, PDF, MP4, QuickTime)")
        digest = hashlib.sha256(content).hexdigest()
        if self.store.get(EvidenceFileRow, digest) is None:
            self.blobs.put(digest, self._seal(digest, content))
            self.store.insert_once(EvidenceFileRow(digest=digest, media_type=media_type, size=len(content), stored_at=at))
        self.store.insert_once(EvidenceUploadRow(digest=digest, uploader=uploader, uploaded_at=at))
        return StoredFile(digest, media_type, len(content))

    def attached(self, attachments: list[Attachment], uploader: str | None) -> list[Attachment]:
        """The attachments with their media type and size from the store. With `uploader` (the API's
        caller), each file must be one it uploaded. Raises Refusal naming the file."""
        found = []
        for n, attachment in enumerate(attachments):
            row = self.store.get(EvidenceFileRow, attachment.digest)
            mine = uploader is None or self.store.get(EvidenceUploadRow, (attachment.digest, uploader)) is not None
            if row is None or not mine:
                raise Refusal(f"evidence[{n}].digest", "no file of yours has this digest: upload it first (POST /v1/evidence)")
            found.append(attachment.model_copy(update={"media_type": row.media_type, "size": row.size}))
        return found

    def read(self, digest: str) -> tuple[bytes, str] | None:
        """The file's content and media type, or None when the store has no such file."""
        row = self.store.get(EvidenceFileRow, digest)
        stored = self.blobs.get(digest) if row is not None else None
        if row is None or stored is None:
            return None
        content = self._open(digest, stored)
        if hashlib.sha256(content).hexdigest() != digest:
            raise EvidenceUnreadable(f"evidence {digest[:12]}: its content does not match its digest")
        return content, row.media_type

    def _seal(self, digest: str, content: bytes) -> bytes:
        if self.keyring is None:
            return PLAIN + content
        key_id = self.keyring.current.encode()
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keyring.keys[self.keyring.current]).encrypt(nonce, content, digest.encode() + key_id)
        return SEALED + bytes([len(key_id)]) + key_id + nonce + sealed

    def _open(self, digest: str, stored: bytes) -> bytes:
        if stored.startswith(PLAIN):
            return stored[len(PLAIN) :]
        if not stored.startswith(SEALED) or self.keyring is None:
            raise EvidenceUnreadable(f"evidence {digest[:12]} is sealed and no codec key is configured to open it")
        length = stored[len(SEALED)]
        key_start = len(SEALED) + 1
        key_id = stored[key_start : key_start + length]
        nonce = stored[key_start + length : key_start + length + NONCE_BYTES]
        key = self.keyring.keys.get(key_id.decode())
        if key is None:
            raise EvidenceUnreadable(f"evidence {digest[:12]} is sealed with key {key_id.decode()!r}, which this keyring does not hold")
        try:
            return AESGCM(key).decrypt(nonce, stored[key_start + length + NONCE_BYTES :], digest.encode() + key_id)
        except InvalidTag:
            raise EvidenceUnreadable(
                f"evidence {digest[:12]} does not open with key {key_id.decode()!r}: another key, or the file was altered"
            ) from None


def media_type_of(content: bytes) -> str | None:
    """The media type a file's first bytes say (filetype reads the signatures), if it is one evidence takes."""
    kind = filetype.guess(content[:8192])
    return kind.mime if kind is not None and kind.mime in EVIDENCE_TYPES else None


EVIDENCE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/gif", "application/pdf", "video/mp4", "video/quicktime"})
