"""The case store: one class made of its parts, each in a module named for its job."""

from __future__ import annotations

from store.case_writes import CaseAlreadyRan, CaseWrites, Written
from store.order_budget import OrderBudget
from store.orders import RegisteredOrders
from store.outbox import DeliveryRefused, Outbox
from store.payouts import PayoutHeld, PayoutHolds
from store.seller_flags import SellerFlags
from store.unit_holds import UnitHolds

__all__ = ["CaseAlreadyRan", "DeliveryRefused", "PayoutHeld", "Store", "Written"]


class Store(CaseWrites, OrderBudget, PayoutHolds, SellerFlags, RegisteredOrders, Outbox, UnitHolds):
    """The whole store, as the worker, the API and the CLI use it; each part writes safely to repeat."""
