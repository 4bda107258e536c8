"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine runs here): the compose
schema, pinned images, health checks, the files and commands they name, ports, the settings our
services read, and the search attributes the setup job registers against the ones the code uses. Each
check is shown failing on a broken copy."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from typer.testing import CliRunner

from config.settings import Settings
from starter.cli import app as cli
from workflows import search_attributes

ROOT = Path(__file__).parents[2]
# The Compose specification's JSON schema, as docker-compose 1.29.2 ships it (compose/config/compose_spec.json).
SCHEMA = json.loads((Path(__file__).parents[1] / "schemas" / "compose_spec.json").read_text())
OURS = {"case-store-migrate", "worker", "api", "codec-server"}  # built from our Dockerfile


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(ROOT / "Dockerfile"))


def _one_shot(service: dict) -> bool:
    return service.get("restart") == "no"


# ------------------------------------------------------------------------------------- checks


def schema_problems(compose: dict) -> list[str]:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]


def image_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        image = service.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image else ""
        if name in OURS:
            if service.get("build") != ".":
                problems.append(f"{name}: not built from our Dockerfile")
        elif not re.search(r"\d", tag) or tag == "latest":
            problems.append(f"{name}: image {image!r} is not pinned to a version")
    return problems


def health_problems(compose: dict) -> list[str]:
    problems = []
    services = compose["services"]
    for name, service in services.items():
        check = service.get("healthcheck", {})
        if not _one_shot(service) and (not check.get("test") or check.get("disable")):
            problems.append(f"{name}: a long-running service without a health check")
        for needed, how in (service.get("depends_on") or {}).items():
            if needed not in services:
                problems.append(f"{name}: depends on {needed}, which does not exist")
            elif how["condition"] == "service_healthy" and not services[needed].get("healthcheck", {}).get("test"):
                problems.append(f"{name}: waits for {needed} to be healthy, which has no health check")
            elif how["condition"] == "service_completed_successfully" and not _one_shot(services[needed]):
                problems.append(f"{name}: waits for {needed} to complete, which never does (restart is not 'no')")
    return problems


def file_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not (ROOT / source).exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
        if service.get("build") and not (ROOT / service["build"] / "Dockerfile").exists():
            problems.append(f"{name}: no Dockerfile in {service['build']}")
    return problems


def port_problems(compose: dict) -> list[str]:
    problems, seen = [], {}
    for name, service in compose["services"].items():
        replicas = service.get("deploy", {}).get("replicas", 1)
        for port in service.get("ports", []):
            host_ip, host_port, _ = port.split(":")
            if host_ip != "127.0.0.1":
                problems.append(f"{name}: {port} is published beyond loopback")
            if replicas > 1:
                problems.append(f"{name}: {replicas} replicas cannot share host port {host_port}")
            if host_port in seen:
                problems.append(f"{name}: host port {host_port} is also {seen[host_port]}'s")
            seen[host_port] = name
    return problems


def setting_problems(compose: dict) -> list[str]:
    """Our services' environment names only settings that exist (a misspelt name is silently ignored)."""
    known = {name.upper() for name in Settings.model_fields}
    problems = []
    for name in OURS:
        for variable in compose["services"][name].get("environment", {}):
            if variable not in known:
                problems.append(f"{name}: {variable} is not a setting (config/settings.py)")
    return problems


def ui_problems(compose: dict) -> list[str]:
    """The UI signs operators in and only reads; the codec server trusts each one's own token, and no
    secret rides in the endpoint the UI's open settings hand to anyone who loads it."""
    ui = compose["services"]["temporal-ui"]["environment"]
    codec = compose["services"]["codec-server"]["environment"]
    problems = [
        f"temporal-ui: {name} is {ui.get(name)!r}, not true"
        for name in ("TEMPORAL_AUTH_ENABLED", "TEMPORAL_CODEC_PASS_ACCESS_TOKEN")
        if str(ui.get(name)).lower() != "true"
    ]
    if not re.fullmatch(r"(true|\$\{\w+:-true\})", str(ui.get("TEMPORAL_DISABLE_WRITE_ACTIONS"))):
        problems.append("temporal-ui: write actions are not off by default")
    if secret := re.search(r"\$\{(\w*(TOKEN|SECRET|KEY|PASSWORD)\w*)", str(ui.get("TEMPORAL_CODEC_ENDPOINT"))):
        problems.append(f"temporal-ui: the codec endpoint carries {secret[1]}, which the UI's settings show to anyone")
    if codec.get("CODEC_SERVER_AUTH") != "oidc":
        problems.append(f"codec-server: CODEC_SERVER_AUTH is {codec.get('CODEC_SERVER_AUTH')!r}, not oidc")
    if not re.fullmatch(r"(false|\$\{\w+:-false\})", str(codec.get("CODEC_SERVER_ENCODE", "false"))):
        problems.append("codec-server: /encode is not off by default")
    return problems


def registered_attributes(script: str) -> dict[str, str]:
    return dict(re.findall(r"\b([A-Z][A-Za-z]+)=(Keyword|Datetime)\b", script))


def attribute_problems(script: str) -> list[str]:
    wanted = {key.name: "Datetime" if key.name in search_attributes.DATETIMES else "Keyword" for key in search_attributes.ALL}
    found = registered_attributes(script)
    return [f"search attribute {n}: the code uses {t}, the setup job registers {found.get(n)}" for n, t in wanted.items() if found.get(n) != t] + [
        f"search attribute {n}: registered, unknown to the code" for n in found.keys() - wanted.keys()
    ]


def dockerfile_problems(parser: DockerfileParser) -> list[str]:
    problems = []
    base = parser.baseimage or ""
    if not re.fullmatch(r"python:3\.11\.\d+-[a-z-]+", base):
        problems.append(f"FROM {base}: not a pinned Python 3.11 image")
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    copied = set()
    for kind, value in instructions:
        if kind == "COPY":
            *sources, _ = value.split()
            for source in sources:
                copied.add(source)
                if not (ROOT / source).exists():
                    problems.append(f"COPY {source}: does not exist")
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = {p.split(".")[0] for p in setuptools["packages"]} | {f"{m}.py" for m in setuptools["py-modules"]}
    problems += [f"package {p}: not copied into the image" for p in sorted(needed - copied)]
    kinds = [kind for kind, _ in instructions]
    if "HEALTHCHECK" not in kinds:
        problems.append("no HEALTHCHECK")
    users = [value for kind, value in instructions if kind == "USER"]
    if not users or users[-1] in ("root", "0"):
        problems.append("runs as root")
    exposed = {int(p) for kind, value in instructions if kind == "EXPOSE" for p in value.split()}
    defaults = Settings.model_fields
    for field in ("api_port", "codec_server_port", "worker_metrics_port", "api_metrics_port"):
        if defaults[field].default not in exposed:
            problems.append(f"EXPOSE: lacks {field.upper()}'s default {defaults[field].default}")
    return problems


# -------------------------------------------------------------------------------------- tests


def test_the_compose_file_follows_the_compose_specification():
    assert schema_problems(_compose()) == []


def test_images_are_pinned_and_ours_are_built_here():
    assert image_problems(_compose()) == []


def test_every_long_running_service_has_a_health_check_and_the_order_of_start_holds():
    assert health_problems(_compose()) == []


def test_referenced_files_exist_and_ports_are_loopback_and_distinct():
    compose = _compose()
    assert file_problems(compose) == [] and port_problems(compose) == []


def test_our_services_set_only_real_settings_and_run_real_commands():
    compose = _compose()
    assert setting_problems(compose) == []
    for name in OURS:
        command = compose["services"][name]["command"]
        if command[:2] == ["python", "-m"]:
            module = command[2].replace(".", "/")
            assert (ROOT / f"{module}.py").exists() or (ROOT / module / "__main__.py").exists(), (name, command)
        else:
            assert command[0] == "refund-cases", (name, command)
            assert CliRunner().invoke(cli, [*command[1:], "--help"]).exit_code == 0, (name, command)


def test_the_ui_signs_operators_in_reads_only_and_hands_out_no_codec_secret():
    assert ui_problems(_compose()) == []


def test_the_setup_job_registers_exactly_the_search_attributes_the_code_uses():
    assert attribute_problems((ROOT / "deploy" / "temporal-namespace.sh").read_text()) == []


def test_the_dockerfile_builds_a_pinned_non_root_image_of_every_package():
    assert dockerfile_problems(_dockerfile()) == []


# ---------------------------------------------------------------------------- negative controls


def _broken(change) -> dict:
    compose = copy.deepcopy(_compose())
    change(compose["services"])
    return compose


@pytest.mark.parametrize(
    ("check", "change", "expected"),
    [
        (schema_problems, lambda s: s["worker"].update(replicas=3), "replicas"),
        (image_problems, lambda s: s["temporal-history"].update(image="temporalio/server:latest"), "not pinned"),
        (health_problems, lambda s: s["api"].pop("healthcheck"), "without a health check"),
        (health_problems, lambda s: s["worker"]["depends_on"].update(temporal_ui={"condition": "service_started"}), "does not exist"),
        (file_problems, lambda s: s["temporal-history"]["volumes"].append("./deploy/missing.yaml:/x:ro"), "does not exist"),
        (port_problems, lambda s: s["worker"].update(ports=["127.0.0.1:9464:9464"]), "cannot share"),
        (port_problems, lambda s: s["api"]["ports"].append("0.0.0.0:9999:9999"), "beyond loopback"),
        (setting_problems, lambda s: s["worker"]["environment"].update(DATABASE_URI="x"), "DATABASE_URI"),
        (
            ui_problems,
            lambda s: s["temporal-ui"]["environment"].update(TEMPORAL_CODEC_ENDPOINT="https://c/${CODEC_SERVER_TOKEN}"),
            "carries CODEC_SERVER_TOKEN",
        ),
        (ui_problems, lambda s: s["temporal-ui"]["environment"].pop("TEMPORAL_AUTH_ENABLED"), "TEMPORAL_AUTH_ENABLED"),
        (ui_problems, lambda s: s["temporal-ui"]["environment"].update(TEMPORAL_CODEC_PASS_ACCESS_TOKEN="false"), "PASS_ACCESS_TOKEN"),
        (ui_problems, lambda s: s["temporal-ui"]["environment"].update(TEMPORAL_DISABLE_WRITE_ACTIONS="${X:-false}"), "write actions"),
        (ui_problems, lambda s: s["codec-server"]["environment"].update(CODEC_SERVER_AUTH="loopback"), "not oidc"),
        (ui_problems, lambda s: s["codec-server"]["environment"].update(CODEC_SERVER_ENCODE="true"), "/encode"),
    ],
)
def test_negative_control_each_check_catches_a_broken_compose_file(check, change, expected):
    assert any(expected in problem for problem in check(_broken(change)))


def test_negative_control_a_missing_or_mistyped_search_attribute_is_caught():
    script = (ROOT / "deploy" / "temporal-namespace.sh").read_text()
    assert any("AwaitingSince" in p for p in attribute_problems(script.replace("AwaitingSince=Datetime", "")))
    assert any("ResponseDueAt" in p for p in attribute_problems(script.replace("ResponseDueAt=Datetime", "ResponseDueAt=Keyword")))


def test_negative_control_a_broken_dockerfile_is_caught(tmp_path):
    text = (ROOT / "Dockerfile").read_text()
    broken = text.replace("COPY store ./store\n", "").replace("USER 10001", "USER root").replace("python:3.11.11-slim-bookworm", "python:latest")
    parser = DockerfileParser(path=str(tmp_path / "Dockerfile"))
    parser.content = broken
    problems = dockerfile_problems(parser)
    assert any("package store" in p for p in problems) and "runs as root" in problems and any("FROM" in p for p in problems)
