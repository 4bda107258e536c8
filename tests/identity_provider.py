"""A stand-in OpenID provider on loopback: the two public documents a real one serves (its OpenID
configuration and key set) and tokens signed with its key, as it would issue them to UI users."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE, GROUP = "temporal-ui", "refund-operators"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def identity_provider() -> Iterator[str]:
    """Yields the issuer URL while the provider serves."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key())) | {"kid": "key-1", "use": "sig", "alg": "RS256"}

    class Documents(BaseHTTPRequestHandler):
        def do_GET(self):
            documents = {
                "/.well-known/openid-configuration": {"issuer": issuer, "jwks_uri": f"{issuer}/keys"},
                "/keys": {"keys": [jwk]},
            }
            found = documents.get(self.path)
            self.send_response(200 if found else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(found or {}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Documents)
    issuer = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield issuer
    finally:
        server.shutdown()


def access_token(issuer: str, key=SIGNING_KEY, kid: str = "key-1", algorithm: str = "RS256", **claims) -> str:
    """An operator's access token; a claim given as None is left out."""
    now = int(time.time())
    body = {"iss": issuer, "aud": AUDIENCE, "sub": "operator-7", "iat": now, "exp": now + 300, "groups": [GROUP]} | claims
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm, headers={"kid": kid})


def oidc_env(issuer: str) -> dict[str, str]:
    """The codec server's settings for this provider."""
    return {"CODEC_SERVER_AUTH": "oidc", "CODEC_OIDC_ISSUER": issuer, "CODEC_OIDC_AUDIENCE": AUDIENCE, "CODEC_OIDC_GROUP": GROUP}
