"""Money as integer minor units plus an ISO 4217 currency: never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from pydantic import ConfigDict, Field

from cases.strict import Strict

# Currencies whose minor unit is not the cent. Everything else has two decimals.
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "TND": 3}


class CurrencyMismatch(ValueError):
    pass


# Far above any real order, far below what a 64-bit column holds even summed over an order's items.
MAX_MINOR = 10**15


class Money(Strict):
    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=-MAX_MINOR, le=MAX_MINOR, description="Integer minor units (cents for EUR).")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR.")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=0, currency=currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Reads a human amount such as "45.00" exactly, through Decimal."""
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError(f"amount {text!r} is not a number") from None
        minor = value.scaleb(exponent(currency))
        if minor != minor.to_integral_value():
            raise ValueError(f"amount {text!r} has more decimals than {currency} allows")
        return cls(amount=int(minor), currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        exp = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        return f"{sign}{whole}.{frac:0{exp}d} {self.currency}" if exp else f"{sign}{whole} {self.currency}"


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)
