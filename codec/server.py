"""The codec server the Temporal UI calls to show decrypted payloads: POST /decode with a JSON `Payloads`
body, as the UI sends it. Each caller is admitted for itself (`codec/ui_users.py`): in production the
UI passes the signed-in operator's access token; under `make run`, only this machine is served. /encode,
which seals anything with the production key, seals only when the UI's write actions need it. CORS
admits only the UI's origin. The history on the server stays encrypted: only this process, which holds
the keys, ever sees plaintext.

    CODEC_SERVER_AUTH=oidc CODEC_OIDC_ISSUER=… CODEC_OIDC_AUDIENCE=… CODEC_OIDC_GROUP=… python -m codec.server
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec.encryption import EncryptionCodec, Keyring, KeyringError
from codec.ui_users import LoopbackUsers, OidcUsers, Refused, UiUsers, is_loopback
from config.settings import Settings

log = logging.getLogger(__name__)


def build_app(codec: EncryptionCodec, users: UiUsers, ui_origin: str, encode: bool = False) -> FastAPI:
    app = FastAPI(title="Refund Cases codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui_origin],
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        allow_credentials=True,
    )

    async def apply(request: Request, direction: str) -> Response:
        try:
            who = await users.admit(request.headers.get("authorization", ""), request.client.host if request.client else None)
        except Refused as refused:
            raise HTTPException(status_code=refused.status, detail=refused.detail) from None
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as error:
            raise HTTPException(status_code=400, detail=f"payloads: not a JSON Payloads message ({error})") from None
        if direction == "encode" and payloads.payloads and not encode:
            raise HTTPException(status_code=403, detail="payloads: /encode is off here (CODEC_SERVER_ENCODE); it seals only an empty list")
        try:
            done = await (codec.decode if direction == "decode" else codec.encode)(payloads.payloads)
        except (KeyringError, ValueError) as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        log.info("codec %s: %d payloads for %s", direction, len(done), who)
        return Response(json_format.MessageToJson(Payloads(payloads=done)), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict:
        """For the container's health check: answers without credentials and decodes nothing."""
        return {"ok": True}

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await apply(request, "decode")

    @app.post("/encode")
    async def encode_(request: Request) -> Response:
        """Off, it still answers an empty list: the Temporal CLI encodes a query's (empty) arguments."""
        return await apply(request, "encode")

    return app


def ui_users(settings) -> UiUsers:
    """The settings' way of admitting callers; a half-configured one stops the server, naming what is missing."""
    if settings.codec_server_auth == "loopback":
        if not is_loopback(settings.codec_server_host):
            raise SystemExit(f"codec server: CODEC_SERVER_AUTH=loopback listens on loopback only, not {settings.codec_server_host}")
        return LoopbackUsers()
    missing = [name for name in ("codec_oidc_issuer", "codec_oidc_audience", "codec_oidc_group") if not getattr(settings, name)]
    if missing:
        raise SystemExit(f"codec server: CODEC_SERVER_AUTH=oidc needs {', '.join(m.upper() for m in missing)} (docs/operating.md)")
    return OidcUsers(
        settings.codec_oidc_issuer,
        settings.codec_oidc_audience,
        settings.codec_oidc_group,
        settings.codec_oidc_groups_claim,
        settings.codec_oidc_jwks_url,
    )


def main() -> None:
    import uvicorn

    settings = Settings()
    keyring = Keyring.configured(settings)
    if keyring is None:
        raise SystemExit("codec server: no keys (set CODEC_KEYS or create the key file: docs/operating.md)")
    app = build_app(EncryptionCodec(keyring), ui_users(settings), settings.codec_ui_origin, settings.codec_server_encode)
    uvicorn.run(
        app,
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        log_level="warning",
        ssl_certfile=settings.codec_server_tls_cert,
        ssl_keyfile=settings.codec_server_tls_key if settings.codec_server_tls_cert else None,
    )


if __name__ == "__main__":
    main()
