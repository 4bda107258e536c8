"""What every request meets before the app reads a byte of its body: a known bearer token (under
/v1/) within its rate limit, and a body no larger than MAX_BODY_BYTES. A 25 MB body without a token
was once read and parsed before its 401, and one carrier token sent 3,000 signals in 25 s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Caller, Callers
from api.problem import Problem

MAX_BODY_BYTES = 256 * 1024  # an opening with the most items an order may have fits in a tenth of it
GUARDED = "/v1/"


def _too_large(cap: int) -> Problem:
    return Problem(413, "Request body too large", "body", f"at most {cap} bytes")


class Gate:
    """An ASGI layer in front of the app. The caller it finds is left in the request's state."""

    def __init__(self, app: ASGIApp, callers: Callable[[], Callers], rate_limit: str, caps: dict[str, int] | None = None):
        """`caps`: paths whose bodies may be larger than MAX_BODY_BYTES (an evidence upload), and how much."""
        self.app = app
        self.caps = caps or {}
        self.callers = callers
        self.limiter = MovingWindowRateLimiter(MemoryStorage())  # per API process
        self.default_limits = parse_many(rate_limit)
        self.own_limits: dict[str, list[RateLimitItem]] = {}

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
            wait = self._over_limit(found)
            if wait is not None:
                rule = f"{found.name} may make {found.rate_limit or '; '.join(map(str, self.default_limits))} calls"
                await Problem(429, "Too many calls", "Authorization", rule).response({"Retry-After": str(wait)})(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = found
        cap = self.caps.get(scope["path"], MAX_BODY_BYTES)
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > cap:
            await _too_large(cap).response()(scope, receive, send)
            return
        over = False
        read = 0

        async def capped() -> Message:
            """A body sent without its length, or longer than it said, is cut at the cap."""
            nonlocal read, over
            message = await receive()
            read += len(message.get("body", b""))
            if read > cap:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def sending(message: Message) -> None:
            """Once a body was cut, the app's answer to what is left is replaced with the 413."""
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await _too_large(cap).response()(scope, receive, send)

        await self.app(scope, capped, sending)

    def _over_limit(self, caller: Caller) -> int | None:
        """None when the call is within the caller's limits (and counts it), else the seconds to wait."""
        limits = self.default_limits
        if caller.rate_limit is not None:
            if caller.name not in self.own_limits:  # parsed once per caller, not per call
                self.own_limits[caller.name] = parse_many(caller.rate_limit)
            limits = self.own_limits[caller.name]
        full = [item for item in limits if not self.limiter.test(item, caller.name)]
        if full:
            reset = max(self.limiter.get_window_stats(item, caller.name).reset_time for item in full)
            return max(1, math.ceil(reset - time.time()))
        for item in limits:
            self.limiter.hit(item, caller.name)
        return None

    def _caller(self, authorization: str) -> Caller | Problem:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return Problem(401, "A bearer token is required", "Authorization", "send Authorization: Bearer <token>")
        caller = self.callers().find(token.strip())
        if caller is None:
            return Problem(401, "Unknown token", "Authorization", "the token is not one this API knows")
        return caller
