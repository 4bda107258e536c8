"""A payment provider double that fails the way real providers do, for tests and the chaos run.

It keeps its own database (it stands for a system outside ours), shared by every worker process that
opens the same URL:

- an idempotency key is remembered for `key_retention`, with the first response, which a repeat of the
  key gets back without moving money; once the key is forgotten, the same key moves money again;
- before doing anything it may answer a transient 5xx (`GatewayUnavailable`);
- after moving the money it may lose the answer (a timeout after commit, also `GatewayUnavailable`),
  at random or, with `lose_first_answer`, the first answer of every refund;
- it rejects for good (`GatewayRejection`, a 4xx) any refund of `reject_amount` minor units, so a
  test or a chaos path can ask for a rejection.

Every movement of money is written to `provider_payments`, so a run can count refunds per key.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, CursorResult, Integer, String, Text, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from activities.payments import GatewayReceipt, GatewayRejection, GatewayUnavailable
from cases.money import Money
from store.engine import make_engine
from store.schema import UTCDateTime


class _Base(DeclarativeBase):
    pass


class ProviderKey(_Base):
    """An idempotency key the provider remembers, with its first response."""

    __tablename__ = "provider_keys"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProviderPayment(_Base):
    """Money the provider moved: one row per refund it made."""

    __tablename__ = "provider_payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    case_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass
class Faults:
    """How often the provider misbehaves (probabilities per call), and what it rejects."""

    unavailable: float = 0.0
    timeout_after_commit: float = 0.0
    reject_amount: int | None = None
    lose_first_answer: bool = False  # every refund's first answer is lost after the money moved


class ProviderDouble:
    def __init__(
        self,
        url: str,
        faults: Faults | None = None,
        key_retention: timedelta = timedelta(hours=24),
        clock=lambda: datetime.now(UTC),
        seed: int | None = None,
    ):
        self.engine = make_engine(url)
        _Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.faults = faults or Faults()
        self.key_retention = key_retention
        self.clock = clock
        self.random = random.Random(seed)

    def refund(self, idempotency_key: str, case_id: str, number: int, amount: Money) -> GatewayReceipt:
        if self.random.random() < self.faults.unavailable:
            raise GatewayUnavailable("503 from the provider: try again later")
        now = self.clock()
        try:
            response = self._answer(idempotency_key, case_id, number, amount, now)
        except IntegrityError:  # another worker took the key at the same moment: its answer is the answer
            return self.refund(idempotency_key, case_id, number, amount)
        if "replayed" in response:
            return _receipt(response, first_call=False)
        lost = self.random.random() < self.faults.timeout_after_commit
        if lost or (self.faults.lose_first_answer and self._payments_for(idempotency_key) == 1):
            raise GatewayUnavailable("timeout: the provider's answer was lost (the refund went through)")
        return _receipt(response, first_call=True)

    def _answer(self, key: str, case_id: str, number: int, amount: Money, now: datetime) -> dict:
        """In one transaction: the remembered response, or a new one (and the money moved)."""
        with self.sessions() as session, session.begin():
            known = session.get(ProviderKey, key)
            if known is not None and known.created_at > now - self.key_retention:
                return {**json.loads(known.response), "replayed": True}
            if known is not None:
                session.delete(known)  # forgotten: from here on the key is new to the provider
                session.flush()
            if amount.amount == self.faults.reject_amount:
                response = {"status": "rejected", "failure": "402 charge_disputed: the original charge is disputed"}
            else:
                session.add(ProviderPayment(key=key, case_id=case_id, number=number, amount=amount.amount, currency=amount.currency, at=now))
                response = {"status": "settled", "gateway_ref": f"re_{key.replace(':', '_')}"}
            session.add(ProviderKey(key=key, response=json.dumps(response), created_at=now))
        return response

    def payments(self) -> list[ProviderPayment]:
        with self.sessions() as session:
            return list(session.scalars(select(ProviderPayment).order_by(ProviderPayment.id)))

    def _payments_for(self, key: str) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).where(ProviderPayment.key == key)) or 0

    def payments_per_key(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(select(ProviderPayment.key, func.count()).group_by(ProviderPayment.key))
            return {key: count for key, count in rows}

    def forget_keys_older_than(self, moment: datetime) -> int:
        with self.sessions() as session, session.begin():
            forgotten = cast(CursorResult[Any], session.execute(delete(ProviderKey).where(ProviderKey.created_at < moment)))
            return forgotten.rowcount


def _receipt(response: dict, first_call: bool) -> GatewayReceipt:
    """The provider's answer; a repeated key gets the first one again, rejection included."""
    if response["status"] == "rejected":
        raise GatewayRejection(response["failure"])
    return GatewayReceipt(status=response["status"], gateway_ref=response.get("gateway_ref"), first_call=first_call)
