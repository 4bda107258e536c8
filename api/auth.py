"""Who is calling: a bearer token per calling service, with a role and, where it applies, the sellers
or buyers it may act for. Tokens are kept as SHA-256 hashes; the plain token exists only with its
service. Every check here runs before anything reaches a workflow."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from cases.model import OpaqueId, Party
from codec.private_file import write_private
from config.settings import RateLimit, Settings


class Role(StrEnum):
    SELLER_PORTAL = "seller_portal"
    BUYER_APP = "buyer_app"
    SUPPORT_CONSOLE = "support_console"
    CARRIER_WEBHOOK = "carrier_webhook"
    PAYMENT_WEBHOOK = "payment_webhook"
    ORDER_SYSTEM = "order_system"  # the marketplace's order system: registers orders, speaks in no case
    ADMIN = "admin"


# The party each role speaks for in a case; admin may speak for any.
SPEAKS_AS = {
    Role.SELLER_PORTAL: Party.SELLER,
    Role.BUYER_APP: Party.BUYER,
    Role.SUPPORT_CONSOLE: Party.SUPPORT,
    Role.CARRIER_WEBHOOK: Party.CARRIER,
    Role.PAYMENT_WEBHOOK: Party.PAYMENT,
}


class Caller(BaseModel):
    """One calling service, as configured."""

    name: OpaqueId
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bearer token, in hex.")
    role: Role
    seller_ids: list[OpaqueId] = Field(default=[], description="seller_portal: the sellers it may act for.")
    buyer_ids: list[OpaqueId] = Field(default=[], description="buyer_app: the buyers it may act for.")
    rate_limit: RateLimit | None = Field(default=None, description="Its own API_RATE_LIMIT, say for a carrier's busy webhook.")

    def may_speak_for(self, party: Party, party_id: str) -> bool:
        """Whether this caller may send a command as `party` with id `party_id`."""
        if self.role is Role.ADMIN:
            return True
        return SPEAKS_AS.get(self.role) is party and self._covers(party_id, party_id)

    def may_act_on(self, seller_id: str, buyer_id: str) -> bool:
        """Whether this caller may send anything at all to a case of this seller and buyer."""
        return self.role is Role.ADMIN or self._covers(seller_id, buyer_id)

    @property
    def reads_every_case(self) -> bool:
        return self.role in (Role.ADMIN, Role.SUPPORT_CONSOLE)

    def may_read(self, seller_id: str, buyer_id: str) -> bool:
        """Whether this caller may read a case of this seller and buyer."""
        if self.reads_every_case:
            return True
        return self.role in (Role.SELLER_PORTAL, Role.BUYER_APP) and self._covers(seller_id, buyer_id)

    def _covers(self, seller_id: str, buyer_id: str) -> bool:
        """Portals and apps act only for their own sellers or buyers; other roles are not scoped by id."""
        if self.role is Role.SELLER_PORTAL:
            return seller_id in self.seller_ids
        if self.role is Role.BUYER_APP:
            return buyer_id in self.buyer_ids
        return True


CALLERS = TypeAdapter(list[Caller])


class TokenError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return f"rc_{secrets.token_urlsafe(32)}"


class Callers:
    """The configured callers, found by token in constant time."""

    def __init__(self, callers: list[Caller]):
        names = [c.name for c in callers]
        if len(set(names)) != len(names):
            raise TokenError("api tokens: each caller needs a name of its own")
        self.callers = callers

    @classmethod
    def parse(cls, text: str, source: str) -> Callers:
        try:
            return cls(CALLERS.validate_python(json.loads(text)))
        except (json.JSONDecodeError, ValidationError) as err:
            raise TokenError(f"{source}: {err}".splitlines()[0]) from None

    @classmethod
    def load(cls, path: Path) -> Callers:
        return cls.parse(path.read_text(), str(path))

    @classmethod
    def configured(cls, settings: Settings) -> Callers:
        """The HTTP API's callers; none (every call answered 401) when neither source is set."""
        if settings.api_tokens is not None:
            return cls.parse(settings.api_tokens.get_secret_value(), "API_TOKENS")
        if settings.api_tokens_file.exists():
            return cls.load(settings.api_tokens_file)
        return cls([])

    def find(self, token: str) -> Caller | None:
        digest = hash_token(token)
        found = None
        for caller in self.callers:  # compare against all, so timing says nothing about which matched
            if hmac.compare_digest(caller.token_sha256, digest):
                found = caller
        return found


# `make run`'s callers: one token per role, for the examples of docs/http-api.md and local trials.
DEV_CALLERS = {
    "dev-admin": (Role.ADMIN, {}),
    "dev-support": (Role.SUPPORT_CONSOLE, {}),
    "dev-seller-portal": (Role.SELLER_PORTAL, {"seller_ids": ["seller-42", "seller-demo-1", "seller-demo-2"]}),
    "dev-buyer-app": (Role.BUYER_APP, {"buyer_ids": ["buyer-7"]}),
    "dev-carrier": (Role.CARRIER_WEBHOOK, {}),
    "dev-payment": (Role.PAYMENT_WEBHOOK, {}),
    "dev-order-system": (Role.ORDER_SYSTEM, {}),
}


def write_dev_tokens(tokens_file: Path, plain_folder: Path) -> None:
    """Makes `make run`'s callers once: hashes in `tokens_file`, each plain token in a file of its own
    (mode 600) under `plain_folder`, named after its caller."""
    if tokens_file.exists():
        return
    plain_folder.mkdir(parents=True, exist_ok=True)
    callers = []
    for name, (role, ids) in DEV_CALLERS.items():
        token = new_token()
        path = plain_folder / name
        write_private(path, token + "\n")
        callers.append(Caller(name=name, token_sha256=hash_token(token), role=role, **ids).model_dump(mode="json"))
    write_private(tokens_file, json.dumps(callers, indent=2) + "\n")
