"""What every request meets before the app reads a byte of its body: a known bearer token (under
/v1/), and a body no larger than MAX_BODY_BYTES. A 25 MB body without a token was once read and parsed
before its 401."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Callers
from api.problem import Problem

MAX_BODY_BYTES = 256 * 1024  # an opening with the most items an order may have fits in a tenth of it
GUARDED = "/v1/"


def _too_large() -> Problem:
    return Problem(413, "Request body too large", "body", f"at most {MAX_BODY_BYTES} bytes")


class Gate:
    """An ASGI layer in front of the app. The caller it finds is left in the request's state."""

    def __init__(self, app: ASGIApp, callers: Callable[[], Callers]):
        self.app = app
        self.callers = callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"].startswith(GUARDED):
            found = self._caller(headers.get("authorization", ""))
            if isinstance(found, Problem):
                await found.response()(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = found
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            await _too_large().response()(scope, receive, send)
            return
        over = False
        read = 0

        async def capped() -> Message:
            """A body sent without its length, or longer than it said, is cut at the cap."""
            nonlocal read, over
            message = await receive()
            read += len(message.get("body", b""))
            if read > MAX_BODY_BYTES:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def sending(message: Message) -> None:
            """Once a body was cut, the app's answer to what is left is replaced with the 413."""
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await _too_large().response()(scope, receive, send)

        await self.app(scope, capped, sending)

    def _caller(self, authorization: str):
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return Problem(401, "A bearer token is required", "Authorization", "send Authorization: Bearer <token>")
        caller = self.callers().find(token.strip())
        if caller is None:
            return Problem(401, "Unknown token", "Authorization", "the token is not one this API knows")
        return caller
