"""Payload encryption: every payload a case writes to Temporal (inputs, results, signals, updates,
queries, failures) is sealed with AES-256-GCM before it leaves the process, so the server's history
holds ciphertext only. Each payload names its key id, so keys rotate: the first key of the keyring
encrypts, all of them decrypt. Payloads that were never encrypted pass through, so turning encryption
on keeps older histories readable."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from codec.private_file import write_private
from config.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class KeyringError(ValueError):
    """A keyring that cannot be used, or a payload sealed with a key it does not hold."""


@dataclasses.dataclass(frozen=True)
class Keyring:
    """Key id -> 32-byte key; `current` encrypts."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyringError(f"codec keys: the current key {self.current!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if len(key) != 32:
                raise KeyringError(f"codec keys: key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """`id=base64key,id2=base64key`: the first encrypts."""
        pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
        if not pairs or any(len(pair) != 2 for pair in pairs):
            raise KeyringError("codec keys: expected id=base64key[,id=base64key…]")
        return cls({kid.strip(): _b64(kid, key) for kid, key in pairs}, pairs[0][0].strip())

    @classmethod
    def load(cls, path: Path) -> Keyring:
        """A key file: {"current": id, "keys": {id: base64key, …}}."""
        data = json.loads(path.read_text())
        return cls({kid: _b64(kid, key) for kid, key in data["keys"].items()}, data["current"])

    @classmethod
    def configured(cls, settings: Settings) -> Keyring | None:
        """The encryption keys, or None when encryption is off."""
        if settings.codec == "off":
            return None
        if settings.codec_keys is not None:
            return cls.parse(settings.codec_keys.get_secret_value())
        if settings.codec_key_file.exists():
            return cls.load(settings.codec_key_file)
        if settings.codec == "on":
            raise KeyringError(f"codec: on, but CODEC_KEYS is unset and {settings.codec_key_file} does not exist")
        return None

    @staticmethod
    def create(path: Path, key_id: str = "k1") -> Path:
        """Writes a new key file with one random key, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        write_private(path, json.dumps({"current": key_id, "keys": {key_id: key}}, indent=2) + "\n")
        return path


def _b64(key_id: str, text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise KeyringError(f"codec keys: key {key_id!r} is not valid base64") from None


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring):
        super().__init__()
        self.keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        key_id = self.keyring.current
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise KeyringError(f"payload sealed with key {key_id!r}, which this keyring does not hold")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise KeyringError(
                f"payload sealed with key {key_id!r} does not open with this keyring's {key_id!r}: "
                "another key under the same id, or the payload was altered"
            ) from None
        return Payload.FromString(plain)


def data_converter(keyring: Keyring | None) -> DataConverter:
    """Pydantic payloads; sealed, with failure messages and stack traces too, when there is a keyring."""
    if keyring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
