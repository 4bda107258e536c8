"""Policy files are validated with the file, the field and the rule; money never goes through floats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases import policies
from cases.money import CurrencyMismatch, Money


def test_every_preset_loads():
    assert "direct_service" in policies.names()
    for name in policies.names():
        assert policies.load(name).name == name


def test_unknown_policy_names_the_known_ones():
    with pytest.raises(
        policies.PolicyError, match="policy: unknown policy 'nope'; known: buyer_protection, buyer_protection_extended, direct_service, "
    ):
        policies.load("nope")


def _without(text: str, section: str) -> str:
    start = text.index(f"[windows.{section}]")
    end = text.index("[windows.", start + 1)
    return text[:start] + text[end:]


def test_a_policy_missing_a_window_is_refused_with_file_field_and_rule(tmp_path):
    source = (policies.resources.files(policies.__package__) / "direct_service.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(_without(source, "awaiting_offer_answer"))
    with pytest.raises(policies.PolicyError) as refused:
        policies.load_file(broken)
    assert str(broken) in str(refused.value)
    assert "windows: every status a case can reach needs a window; missing awaiting_offer_answer" in str(refused.value)


def test_a_timeout_action_that_does_not_fit_its_status_is_refused(tmp_path):
    source = (policies.resources.files(policies.__package__) / "direct_service.toml").read_text()
    broken = tmp_path / "broken.toml"
    broken.write_text(
        source.replace('[windows.declined]\nhours = 168\non_timeout = "close"', '[windows.declined]\nhours = 168\non_timeout = "accept"')
    )
    with pytest.raises(policies.PolicyError, match="windows.declined.on_timeout: 'accept' is not allowed here; use one of close"):
        policies.load_file(broken)


def test_a_variant_extends_a_preset_and_states_only_what_differs(tmp_path):
    variant = tmp_path / "slow_seller.toml"
    variant.write_text(
        'extends = "direct_service"\nname = "slow_seller"\nversion = "1"\ntitle = "Slow"\n[windows.awaiting_seller_response]\nhours = 96\n'
    )
    loaded, base = policies.load_file(variant), policies.load("direct_service")
    assert loaded.windows["awaiting_seller_response"] == base.windows["awaiting_seller_response"].model_copy(update={"hours": 96})
    assert loaded.model_dump(exclude={"name", "version", "title", "windows"}) == base.model_dump(exclude={"name", "version", "title", "windows"})


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('extends = "direct_service"\nname = "x"\ntitle = "X"\n', "version: a policy that extends another must set its own"),
        ('extends = "nope"\nname = "x"\nversion = "1"\ntitle = "X"\n', "extends: unknown policy 'nope'"),
    ],
    ids=["own version", "known base"],
)
def test_a_variant_must_name_a_known_preset_and_its_own_version(tmp_path, text, error):
    variant = tmp_path / "variant.toml"
    variant.write_text(text)
    with pytest.raises(policies.PolicyError, match=f"{variant}: {error}"):
        policies.load_file(variant)


def test_money_parses_exactly_and_prints_in_the_currency():
    assert Money.parse("45.00", "EUR") == Money(amount=4500, currency="EUR")
    assert Money.parse("1500", "JPY") == Money(amount=1500, currency="JPY")
    assert str(Money(amount=-5150, currency="EUR")) == "-51.50 EUR"
    with pytest.raises(ValueError, match="more decimals than EUR allows"):
        Money.parse("0.001", "EUR")
    with pytest.raises(ValueError, match="not a number"):
        Money.parse("ten", "EUR")
    with pytest.raises(CurrencyMismatch):
        Money(amount=1, currency="EUR") + Money(amount=1, currency="USD")


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_money_round_trips_through_its_text(amount):
    money = Money(amount=amount, currency="EUR")
    assert Money.parse(str(money).split()[0], "EUR") == money
