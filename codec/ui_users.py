"""Who may read payloads through the codec server. The UI, with `codec.passAccessToken`, sends each
signed-in operator's own OIDC access token; the codec server verifies it against the identity
provider's published keys and admits members of one group. No shared secret exists to leak: the UI's
settings carry only the codec server's address. On a developer's machine, where the dev server's UI
has no sign-in, `loopback` admits callers on this machine only, and refuses to listen anywhere else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

import httpx
import jwt
from starlette.concurrency import run_in_threadpool

# Asymmetric only: a UI user must never be able to mint a token with a key they can read.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class Refused(Exception):
    """The caller may not use the codec server; `status` is 401 (who are you) or 403 (not you)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class UiUsers(Protocol):
    async def admit(self, authorization: str, client_host: str | None) -> str:
        """The admitted caller's subject, or Refused."""
        ...


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoopbackUsers:
    """`make run`'s mode: the dev UI signs nobody in, so the machine is the boundary."""

    async def admit(self, authorization: str, client_host: str | None) -> str:
        if not is_loopback(client_host):
            raise Refused(403, "caller: the codec server in loopback mode serves this machine only")
        return "loopback"


class OidcUsers:
    """Operators signed in to the UI through the identity provider, in `group`."""

    def __init__(self, issuer: str, audience: str, group: str, groups_claim: str = "groups", jwks_url: str | None = None):
        self.issuer, self.audience, self.group, self.groups_claim = issuer, audience, group, groups_claim
        self.keys = jwt.PyJWKClient(jwks_url or discovered_jwks_url(issuer), cache_keys=True, lifespan=300)

    async def admit(self, authorization: str, client_host: str | None) -> str:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "authorization: a Bearer access token from the UI's sign-in is required")
        try:
            key = await run_in_threadpool(self.keys.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise Refused(503, "authorization: the identity provider's keys cannot be fetched now") from None
        except jwt.PyJWTError as error:
            raise Refused(401, f"authorization: {error}") from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.PyJWTError as error:
            raise Refused(401, f"authorization: {error}") from None
        groups = claims.get(self.groups_claim, [])
        if self.group not in ([groups] if isinstance(groups, str) else groups):
            raise Refused(403, f"authorization: {self.groups_claim} must include {self.group!r} to read payloads")
        return str(claims["sub"])


def discovered_jwks_url(issuer: str) -> str:
    """The provider's key set, as its OpenID configuration names it."""
    configuration = httpx.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10)
    configuration.raise_for_status()
    return configuration.json()["jwks_uri"]
