"""Payload encryption and the codec server the UI calls."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure

from codec.encryption import ENCODING, EncryptionCodec, Keyring, KeyringError, data_converter
from codec.server import build_app, ui_users
from codec.ui_users import LoopbackUsers
from config.settings import Settings
from tests.factories import request

KEY_1, KEY_2 = base64.b64encode(b"1" * 32).decode(), base64.b64encode(b"2" * 32).decode()
CANARY = "buyer-canary-4711"
UI = "http://localhost:8233"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_every_payload_is_sealed_and_opens_again():
    converter = data_converter(Keyring.parse(f"k1={KEY_1}"))
    opening = request(buyer_id=CANARY)
    [sealed] = await converter.encode([opening])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert CANARY.encode() not in sealed.SerializeToString()
    [again] = await converter.decode([sealed], [type(opening)])
    assert again == opening


async def test_failures_are_sealed_too():
    converter = data_converter(Keyring.parse(f"k1={KEY_1}"))
    failure = Failure()
    await converter.encode_failure(ValueError(f"refused for {CANARY}"), failure)
    assert CANARY.encode() not in failure.SerializeToString()
    assert CANARY in str(await converter.decode_failure(failure))


async def test_keys_rotate_old_ones_still_open_and_unknown_ones_are_named():
    old = EncryptionCodec(Keyring.parse(f"k1={KEY_1}"))
    rotated = EncryptionCodec(Keyring.parse(f"k2={KEY_2},k1={KEY_1}"))
    [sealed_with_k1] = await old.encode([plain("x")])
    assert await rotated.decode([sealed_with_k1]) == [plain("x")]
    [sealed_with_k2] = await rotated.encode([plain("x")])
    assert sealed_with_k2.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(KeyringError, match="payload sealed with key 'k2', which this keyring does not hold"):
        await old.decode([sealed_with_k2])


async def test_another_key_under_the_same_id_is_named_not_a_crash():
    [sealed] = await EncryptionCodec(Keyring.parse(f"k1={KEY_1}")).encode([plain(CANARY)])
    with pytest.raises(KeyringError, match="payload sealed with key 'k1' does not open with this keyring's 'k1'"):
        await EncryptionCodec(Keyring.parse(f"k1={KEY_2}")).decode([sealed])


async def test_unencrypted_payloads_pass_through_so_older_histories_stay_readable():
    codec = EncryptionCodec(Keyring.parse(f"k1={KEY_1}"))
    assert await codec.decode([plain("old")]) == [plain("old")]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("k1", "expected id=base64key"),
        ("k1=not base64!", "key 'k1' is not valid base64"),
        (f"k1={base64.b64encode(b'short').decode()}", "key 'k1' must be 32 bytes"),
    ],
)
def test_a_bad_keyring_is_refused_with_the_rule(text, error):
    with pytest.raises(KeyringError, match=error):
        Keyring.parse(text)


def test_encryption_is_on_with_keys_or_a_key_file_and_off_when_told(tmp_path, monkeypatch):
    key_file = Keyring.create(tmp_path / "keys.json")
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert Keyring.configured(Settings(codec_key_file=key_file)).current == "k1"
    assert Keyring.configured(Settings(codec_key_file=tmp_path / "none.json")) is None
    assert Keyring.configured(Settings(codec="off", codec_key_file=key_file)) is None
    with pytest.raises(KeyringError, match="codec: on, but CODEC_KEYS is unset"):
        Keyring.configured(Settings(codec="on", codec_key_file=tmp_path / "none.json"))


@pytest.fixture
def codec():
    return EncryptionCodec(Keyring.parse(f"k1={KEY_1}"))


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


JSON = {"content-type": "application/json"}


def on_this_machine(app) -> TestClient:
    return TestClient(app, client=("127.0.0.1", 50000))


async def test_in_loopback_mode_the_codec_server_serves_this_machine_and_no_other(codec):
    app = build_app(codec, LoopbackUsers(), ui_origin=UI)
    [sealed] = await codec.encode([plain(CANARY)])
    answer = on_this_machine(app).post("/decode", content=body(sealed), headers=JSON)
    assert answer.status_code == 200 and json_format.Parse(answer.text, Payloads()).payloads[0] == plain(CANARY)
    elsewhere = TestClient(app, client=("203.0.113.9", 50000)).post("/decode", content=body(sealed), headers=JSON)
    assert elsewhere.status_code == 403 and CANARY not in elsewhere.text
    assert elsewhere.json()["detail"] == "caller: the codec server in loopback mode serves this machine only"


def test_loopback_mode_will_not_listen_beyond_this_machine():
    with pytest.raises(SystemExit, match="listens on loopback only, not 0.0.0.0"):
        ui_users(Settings(codec_server_auth="loopback", codec_server_host="0.0.0.0"))
    assert isinstance(ui_users(Settings(codec_server_auth="loopback")), LoopbackUsers)


def test_oidc_mode_names_every_setting_it_lacks():
    with pytest.raises(SystemExit, match="needs CODEC_OIDC_ISSUER, CODEC_OIDC_AUDIENCE, CODEC_OIDC_GROUP"):
        ui_users(Settings(_env_file=None))


async def test_encode_seals_only_when_asked_for_and_admits_the_same_callers(codec):
    off = on_this_machine(build_app(codec, LoopbackUsers(), ui_origin=UI))
    refused = off.post("/encode", content=body(plain("x")), headers=JSON)
    assert refused.status_code == 403 and "/encode is off here (CODEC_SERVER_ENCODE)" in refused.json()["detail"]
    nothing = off.post("/encode", content=body(), headers=JSON)  # what the Temporal CLI sends with a query
    assert nothing.status_code == 200 and list(json_format.Parse(nothing.text, Payloads()).payloads) == []
    app = build_app(codec, LoopbackUsers(), ui_origin=UI, encode=True)
    sealed = on_this_machine(app).post("/encode", content=body(plain("x")), headers=JSON)
    assert json_format.Parse(sealed.text, Payloads()).payloads[0].metadata["encoding"] == ENCODING
    assert TestClient(app, client=("203.0.113.9", 1)).post("/encode", content=body(plain("x")), headers=JSON).status_code == 403


async def test_the_codec_server_names_bad_input(codec):
    http = on_this_machine(build_app(codec, LoopbackUsers(), ui_origin=UI))
    bad = http.post("/decode", content="{not json", headers=JSON)
    assert bad.status_code == 400 and bad.json()["detail"].startswith("payloads: not a JSON Payloads message")
    [foreign] = await EncryptionCodec(Keyring.parse(f"k1={KEY_2}")).encode([plain(CANARY)])
    unopened = http.post("/decode", content=body(foreign), headers=JSON)
    assert unopened.status_code == 422 and "does not open with this keyring's 'k1'" in unopened.json()["detail"]


def test_cors_admits_only_the_ui_origin(codec):
    http = on_this_machine(build_app(codec, LoopbackUsers(), ui_origin=UI))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace,authorization"}
    ui = http.options("/decode", headers={"Origin": UI, **preflight})
    assert ui.status_code == 200 and ui.headers["access-control-allow-origin"] == UI
    other = http.options("/decode", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
