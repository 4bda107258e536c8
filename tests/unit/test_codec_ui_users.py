"""The codec server admits each UI user for themselves: an access token the identity provider signed,
for this audience, in the operators' group. Tried as an attacker would: no token, someone else's
audience or issuer, an expired token, a forged signature, algorithm confusion, a user outside the group.
The provider is a real HTTP server on loopback publishing its OpenID configuration and key set."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payloads

from codec.encryption import EncryptionCodec, Keyring
from codec.server import build_app, ui_users
from config.settings import Settings
from tests.identity_provider import AUDIENCE, GROUP, SIGNING_KEY, access_token, identity_provider
from tests.unit.test_codec import CANARY, JSON, KEY_1, UI, body, plain

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def provider():
    with identity_provider() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def codec_server(provider):
    users = ui_users(Settings(_env_file=None, codec_oidc_issuer=provider, codec_oidc_audience=AUDIENCE, codec_oidc_group=GROUP))
    codec = EncryptionCodec(Keyring.parse(f"k1={KEY_1}"))
    # Not on loopback: in oidc mode the caller's address proves nothing either way.
    return TestClient(build_app(codec, users, ui_origin=UI), client=("203.0.113.9", 50000)), codec


async def decode(codec_server, authorization: str | None):
    http, codec = codec_server
    [sealed] = await codec.encode([plain(CANARY)])
    headers = JSON | ({"authorization": authorization} if authorization is not None else {})
    return http.post("/decode", content=body(sealed), headers=headers)


async def test_a_signed_in_operator_in_the_group_reads_payloads(codec_server, provider):
    answer = await decode(codec_server, f"Bearer {access_token(provider)}")
    assert answer.status_code == 200
    assert json_format.Parse(answer.text, Payloads()).payloads[0] == plain(CANARY)
    one_group = await decode(codec_server, f"Bearer {access_token(provider, groups=GROUP)}")
    assert one_group.status_code == 200


def forged(issuer: str) -> str:
    """A token signed with the provider's public key as an HMAC secret: the classic algorithm confusion."""
    public_pem = SIGNING_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": "key-1", "typ": "JWT"}
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": "attacker", "exp": int(time.time()) + 300, "groups": [GROUP]}
    signing = jwt.api_jws.PyJWS()
    signing._algorithms["HS256"].prepare_key = lambda key: key  # PyJWT rightly refuses a PEM as an HMAC key
    return signing.encode(json.dumps(claims).encode(), public_pem, algorithm="HS256", headers=header)


def unsigned(issuer: str) -> str:
    claims = {"iss": issuer, "aud": AUDIENCE, "sub": "attacker", "exp": int(time.time()) + 300, "groups": [GROUP]}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "key-1"})


@pytest.mark.parametrize(
    ("authorization", "status", "detail"),
    [
        (None, 401, "a Bearer access token from the UI's sign-in is required"),
        ("Basic b3BlcmF0b3I6cGFzcw==", 401, "a Bearer access token from the UI's sign-in is required"),
        ("Bearer not-a-jwt", 401, "Not enough segments"),
        (lambda issuer: access_token(issuer, aud="another-app"), 401, "Audience doesn't match"),
        (lambda issuer: access_token("http://elsewhere.example"), 401, "Invalid issuer"),
        (lambda issuer: access_token(issuer, exp=int(time.time()) - 3600), 401, "Signature has expired"),
        (lambda issuer: access_token(issuer, exp=None), 401, 'Token is missing the "exp" claim'),
        (lambda issuer: access_token(issuer, key=OTHER_KEY), 401, "Signature verification failed"),
        (lambda issuer: access_token(issuer, key=OTHER_KEY, kid="key-2"), 401, "Unable to find a signing key"),
        (forged, 401, "The specified alg value is not allowed"),
        (unsigned, 401, "The specified alg value is not allowed"),
        (lambda issuer: access_token(issuer, groups=["buyers"]), 403, "groups must include 'refund-operators'"),
        (lambda issuer: access_token(issuer, groups=None), 403, "groups must include 'refund-operators'"),
    ],
    ids=[
        "no token",
        "basic",
        "garbage",
        "audience",
        "issuer",
        "expired",
        "no expiry",
        "forged signature",
        "unknown key",
        "hmac with the public key",
        "alg none",
        "outside the group",
        "no groups",
    ],
)
async def test_everyone_else_is_refused_and_reads_nothing(codec_server, provider, authorization, status, detail):
    header = f"Bearer {authorization(provider)}" if callable(authorization) else authorization
    refused = await decode(codec_server, header)
    assert refused.status_code == status, refused.text
    assert detail in refused.json()["detail"]
    assert CANARY not in refused.text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300),
        st.builds(lambda parts: "Bearer " + ".".join(parts), st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=", max_size=80), max_size=4)),
    )
)
async def test_no_authorization_header_an_attacker_can_type_opens_a_payload(codec_server, header):
    refused = await decode(codec_server, header)
    assert refused.status_code in (401, 403), (header, refused.text)
    assert CANARY not in refused.text
