"""cluster/compose.py: how `make cluster` reads docker-compose.yml (versions, variables, start order,
ports, mounted files), so that what runs here is the file's topology."""

from __future__ import annotations

import pytest

from cluster.compose import ROOT, SERVER_IMAGE, UI_IMAGE, Compose, ComposeError, interpolate
from cluster.fleet import Ports

VARIABLES = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "value"),
        ("${UNSET}", ""),
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("a$$b ${SET:?needed}", "a$b value"),
        ("postgresql://u:${SET}@postgresql:5432/cases", "postgresql://u:value@postgresql:5432/cases"),
    ],
)
def test_variables_are_filled_as_compose_fills_them(text, expected):
    assert interpolate(text, VARIABLES, "here") == expected


@pytest.mark.parametrize("text", ["${UNSET:?set UNSET in .env}", "${EMPTY:?set it}", "${UNSET?set it}"])
def test_a_required_variable_that_is_unset_is_an_error_naming_it_and_the_place(text):
    with pytest.raises(ComposeError, match=r"api: X: (UNSET|EMPTY) is required"):
        interpolate(text, VARIABLES, "api: X")


def test_the_versions_come_from_the_image_tags_and_each_image_pins_one():
    compose = Compose.load()
    assert compose.image_version(SERVER_IMAGE) == "1.29.1"
    assert compose.image_version(UI_IMAGE) == "2.34.0"
    compose.services["temporal-matching"] = {**compose.services["temporal-matching"], "image": "temporalio/server:1.30.0"}
    with pytest.raises(ComposeError, match="pin"):
        compose.image_version(SERVER_IMAGE)


def test_the_four_services_start_in_the_order_depends_on_gives():
    assert Compose.load().of_image(SERVER_IMAGE) == ["temporal-history", "temporal-matching", "temporal-frontend", "temporal-worker"]


def test_each_server_service_names_its_role_and_shares_the_database_and_shards():
    compose = Compose.load()
    for service in compose.of_image(SERVER_IMAGE):
        env = compose.environment(service, {"TEMPORAL_DB_PASSWORD": "x"})
        assert env["SERVICES"] == service.removeprefix("temporal-")
        assert env["DB"] == "postgres12" and int(env["NUM_HISTORY_SHARDS"]) > 1


def test_the_published_ports_and_the_mounted_files_are_read_from_the_file():
    compose = Compose.load()
    assert Ports.published(compose) == Ports(frontend=7233, ui=8080, api=8000, api_metrics=9465, codec=8081)
    assert compose.host_path("temporal-history", "config/dynamicconfig/refund-cases.yaml") == ROOT / "deploy" / "dynamicconfig.yaml"
    with pytest.raises(ComposeError, match="no file"):
        compose.host_path("temporal-history", "/etc/other.yaml")
