"""The codec server the Temporal UI calls to show decrypted payloads: POST /decode and /encode with a
JSON `Payloads` body, as the UI sends them. Only callers holding the token are served, either as a
Bearer header or as the first path segment (the form a UI codec endpoint URL can carry); CORS admits
only the UI's origin; it listens on loopback unless told otherwise. The history on the server stays
encrypted: only this process, which holds the keys, ever sees plaintext.

    CODEC_SERVER_TOKEN=… .venv/bin/python -m codec.server
"""

from __future__ import annotations

import secrets

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from codec.encryption import EncryptionCodec, KeyringError


def build_app(codec: EncryptionCodec, token: str, ui_origin: str) -> FastAPI:
    app = FastAPI(title="Refund Cases codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui_origin],
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        allow_credentials=True,
    )

    def authorise(request: Request, path_token: str | None) -> None:
        header = request.headers.get("authorization", "")
        offered = path_token or (header[7:] if header.lower().startswith("bearer ") else "")
        if not offered or not secrets.compare_digest(offered.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="token: missing or wrong")

    async def apply(request: Request, direction: str, path_token: str | None) -> Response:
        authorise(request, path_token)
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as error:
            raise HTTPException(status_code=400, detail=f"payloads: not a JSON Payloads message ({error})") from None
        try:
            done = await (codec.decode if direction == "decode" else codec.encode)(payloads.payloads)
        except (KeyringError, ValueError) as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return Response(json_format.MessageToJson(Payloads(payloads=done)), media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict:
        """For the container's health check: answers without a token and decodes nothing."""
        return {"ok": True}

    for direction in ("decode", "encode"):

        async def with_header(request: Request, direction: str = direction) -> Response:
            return await apply(request, direction, None)

        async def with_path(token_in_path: str, request: Request, direction: str = direction) -> Response:
            return await apply(request, direction, token_in_path)

        app.post(f"/{direction}")(with_header)
        app.post(f"/{{token_in_path}}/{direction}")(with_path)
    return app


def main() -> None:
    import uvicorn

    from starter.settings import Settings

    settings = Settings()
    keyring = settings.keyring()
    if keyring is None:
        raise SystemExit("codec server: no keys (set CODEC_KEYS or create the key file, see README)")
    if settings.codec_server_token is None:
        raise SystemExit("codec server: CODEC_SERVER_TOKEN is required; callers must present it")
    app = build_app(EncryptionCodec(keyring), settings.codec_server_token.get_secret_value(), settings.codec_ui_origin)
    uvicorn.run(app, host=settings.codec_server_host, port=settings.codec_server_port, log_level="warning")


if __name__ == "__main__":
    main()
