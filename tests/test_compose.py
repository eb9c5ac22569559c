"""Static checks of the production stack: docker-compose.yml, Dockerfile, .env.example
and the Grafana provisioning files.

No Docker engine runs here, so the compose file is checked the way `docker compose
config` would read it: against the Compose Specification JSON Schema (vendored in
tests/data, see its README), both as written and after `${VAR}` interpolation with
the values of .env.example, plus the cross-references the schema cannot see
(depends_on targets, volumes, bind-mounted files, variables, secrets, ports).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.schema.json"
PROVISIONING = ROOT / "grafana" / "provisioning"

INFRASTRUCTURE = {"mosquitto", "kafka", "timescaledb", "grafana"}
# Service -> the `wastewatch` subcommand it runs (the lead keeps the CLI in step).
WASTEWATCH_COMMANDS = {
    "kafka-topics": ["kafka", "create-topics"],
    "migrate": ["db", "migrate"],
    "ingest-bridge": ["ingest", "bridge"],
    "ingest-sink": ["ingest", "sink"],
    "processors": ["process"],
    "api": ["api", "--host", "0.0.0.0", "--port", "8080"],
    "simulator": ["simulate", "live"],
}
ONE_SHOT = {"kafka-topics", "migrate"}
# The only ports published on the host (container port -> service). Grafana for
# operators; MQTT for field devices (8883 with TLS). All bind to 127.0.0.1
# unless .env overrides the address, as .env.example documents.
PUBLISHED = {3000: "grafana", 1883: "mosquitto", 8883: "mosquitto", 8080: "api"}
PLACEHOLDER_SECRET = "change-me"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY", re.IGNORECASE)

# $$ (escaped dollar), ${...} and $NAME, as in the Compose Specification.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^{}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)
_REQUIRED_INTERPOLATION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*:?\?[^}]*\}$")
_URL_USERINFO = re.compile(r"://(?P<userinfo>[^/@]+)@")
_BRACED_EXPRESSION = re.compile(r"\$\{[^{}]*\}")


class InterpolationError(ValueError):
    """A required variable is unset, or a ${...} expression is malformed."""


# --- helpers -------------------------------------------------------------------


@cache
def _compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def _load_compose() -> dict[str, Any]:
    """A fresh copy each call, so a test may mutate it."""
    data = yaml.safe_load(_compose_text())
    assert isinstance(data, dict)
    return data


@cache
def _schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def _validator() -> jsonschema.Draft7Validator:
    # The schema declares draft-07 (as "https://json-schema.org/draft-07/schema",
    # which jsonschema's validator_for does not map), so the draft is chosen here
    # and test_vendored_schema_is_the_compose_specification pins the declaration.
    return jsonschema.Draft7Validator(_schema())


def _schema_errors(document: object) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in _validator().iter_errors(document)
    ]


@cache
def _env_example() -> dict[str, str]:
    """KEY=VALUE lines of .env.example, as `docker compose --env-file` reads them."""
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f".env.example: not KEY=VALUE: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        assert key.strip() not in values, f".env.example defines {key} twice"
        values[key.strip()] = value
    return values


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose-style interpolation of one string value (no nesting needed here)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.match(match["braced"])
        if braced is None:
            raise InterpolationError(f"malformed interpolation {match[0]!r}")
        name, op, arg = braced["name"], braced["op"], braced["arg"] or ""
        is_set = name in env
        is_non_empty = bool(env.get(name))
        present = is_non_empty if op and op.startswith(":") else is_set
        if op is None:
            return env.get(name, "")
        if op.endswith("-"):
            return env[name] if present else arg
        if op.endswith("?"):
            if not present:
                raise InterpolationError(f"required variable {name} is unset: {arg}")
            return env[name]
        return arg if present else ""  # ":+" / "+": alternative value

    return _VARIABLE.sub(replace, text)


def _map_strings(node: object, function: Callable[[str], str]) -> object:
    """Apply function to every string value (not mapping key), like compose does."""
    if isinstance(node, str):
        return function(node)
    if isinstance(node, dict):
        return {key: _map_strings(value, function) for key, value in node.items()}
    if isinstance(node, list):
        return [_map_strings(value, function) for value in node]
    return node


def _interpolated(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    values = _env_example() if env is None else env
    result = _map_strings(_load_compose(), lambda text: interpolate(text, values))
    assert isinstance(result, dict)
    return result


def _strings(node: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(nearest mapping key, string) for every string value in the document."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for child_key, value in node.items():
            yield from _strings(value, str(child_key))
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, key)


def _variables(node: object) -> Iterator[tuple[str, str | None]]:
    """(name, operator) for every variable the document interpolates."""
    for _key, text in _strings(node):
        for match in _VARIABLE.finditer(text):
            if match["named"]:
                yield match["named"], None
            elif match["braced"] is not None:
                braced = _BRACED.match(match["braced"])
                assert braced is not None, f"malformed interpolation {match[0]!r}"
                yield braced["name"], braced["op"]


def _services() -> dict[str, dict[str, Any]]:
    services = _load_compose()["services"]
    assert isinstance(services, dict)
    return services


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


def _depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def _volume_mounts(service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(type, source, target) of each mount, short or long syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            is_path = source.startswith((".", "/", "~"))
            yield ("bind" if is_path else "volume"), source, target
        else:
            yield volume.get("type", "volume"), volume.get("source", ""), volume["target"]


def _published_ports(service: Mapping[str, Any]) -> Iterator[tuple[str, int]]:
    """(host ip, container port) of each published port, after interpolation."""
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            yield port.get("host_ip", "0.0.0.0"), int(port["target"])
            continue
        spec = str(port).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            yield parts[0].strip("[]"), int(parts[2])
        else:
            # "3000" or "3000:3000": published on every interface.
            yield "0.0.0.0", int(parts[-1])


# --- the schema itself -------------------------------------------------------------


def test_vendored_schema_is_the_compose_specification() -> None:
    schema = _schema()
    assert schema["title"] == "Compose Specification"
    assert schema["$id"] == "compose_spec.json"
    assert "draft-07" in schema["$schema"]
    jsonschema.Draft7Validator.check_schema(schema)
    # Newer than the docker-compose 1.x copy: knows the top-level keys of today.
    assert {"name", "include", "services", "volumes", "models"} <= set(schema["properties"])


# --- schema validation ----------------------------------------------------------------


def test_compose_file_validates_as_written() -> None:
    assert _schema_errors(_load_compose()) == []


def test_compose_file_validates_after_interpolation_with_env_example() -> None:
    assert _schema_errors(_interpolated()) == []


def test_compose_file_validates_with_only_required_variables_set() -> None:
    """Every ${VAR:-default} falls back to a value that still validates."""
    required = {name for name, op in _variables(_load_compose()) if op in {":?", "?"}}
    env = dict.fromkeys(required, PLACEHOLDER_SECRET)
    assert _schema_errors(_interpolated(env)) == []


def test_missing_secret_stops_interpolation() -> None:
    env = dict(_env_example())
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        _interpolated(env)


def _with_unknown_top_level_key(document: dict[str, Any]) -> None:
    document["servcies"] = document.pop("services")


def _with_bad_ports(document: dict[str, Any]) -> None:
    document["services"]["grafana"]["ports"] = "bad"


def _with_numeric_image(document: dict[str, Any]) -> None:
    document["services"]["kafka"]["image"] = 1


def _with_misspelled_service_key(document: dict[str, Any]) -> None:
    document["services"]["ingest-sink"]["depend_on"] = ["kafka"]


def _with_bad_depends_on_condition(document: dict[str, Any]) -> None:
    document["services"]["migrate"]["depends_on"]["timescaledb"] = {"condition": "healthy"}


def _with_bad_restart_type(document: dict[str, Any]) -> None:
    document["services"]["processors"]["restart"] = ["always"]


@pytest.mark.parametrize(
    "breakage",
    [
        _with_unknown_top_level_key,
        _with_bad_ports,
        _with_numeric_image,
        _with_misspelled_service_key,
        _with_bad_depends_on_condition,
        _with_bad_restart_type,
    ],
)
def test_validator_rejects_a_broken_copy(breakage: Callable[[dict[str, Any]], None]) -> None:
    document = copy.deepcopy(_load_compose())
    assert _schema_errors(document) == []
    breakage(document)
    assert _schema_errors(document) != []


def test_validator_rejects_a_minimal_broken_file() -> None:
    assert _schema_errors({"services": {"x": {"image": 1, "ports": "bad"}}}) != []
    assert _schema_errors({"services": {"x": {"image": "busybox"}}}) == []


# --- services -----------------------------------------------------------------------------


def test_every_service_the_code_needs_is_defined() -> None:
    services = _services()
    assert set(services) == INFRASTRUCTURE | set(WASTEWATCH_COMMANDS)
    assert services["simulator"].get("profiles") == ["demo"]
    for name, service in services.items():
        if name != "simulator":
            assert not service.get("profiles"), f"{name} must start without a profile"
    assert "version" not in _load_compose(), "the Compose Specification has no version key"


def test_wastewatch_services_share_one_image_and_run_their_subcommand() -> None:
    services = _services()
    builds = {
        json.dumps(services[name].get("build"), sort_keys=True) for name in WASTEWATCH_COMMANDS
    }
    images = {services[name].get("image") for name in WASTEWATCH_COMMANDS}
    assert len(builds) == 1
    assert len(images) == 1
    assert json.loads(builds.pop()) == {"context": ".", "dockerfile": "Dockerfile"}
    for name, command in WASTEWATCH_COMMANDS.items():
        assert services[name]["command"] == command, name
        assert "entrypoint" not in services[name], f"{name} must use the image's wastewatch"
    for name in INFRASTRUCTURE:
        assert "build" not in services[name], f"{name} runs an upstream image"


def test_every_wastewatch_command_parses_with_the_real_cli() -> None:
    """A command the CLI does not know would only fail inside a container."""
    from wastewatch.cli import build_parser

    parser = build_parser()
    for name, command in WASTEWATCH_COMMANDS.items():
        args = parser.parse_args(command)
        assert callable(args.handler), name


def test_restart_policies() -> None:
    for name, service in _services().items():
        expected = "no" if name in ONE_SHOT else "unless-stopped"
        assert service.get("restart") == expected, name


def test_depends_on_targets_exist_and_conditions_fit() -> None:
    services = _services()
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert not services[target].get("profiles") or service.get("profiles"), (
                f"{name} depends on {target}, which only runs under a profile"
            )
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{target} is not a one-shot service"


def test_startup_order() -> None:
    services = _services()
    expected = {
        "kafka-topics": {"kafka": "service_healthy"},
        "migrate": {"timescaledb": "service_healthy"},
        "grafana": {"migrate": "service_completed_successfully"},
        "ingest-bridge": {
            "mosquitto": "service_healthy",
            "kafka-topics": "service_completed_successfully",
        },
        "ingest-sink": {
            "kafka-topics": "service_completed_successfully",
            "migrate": "service_completed_successfully",
        },
        "processors": {
            "kafka-topics": "service_completed_successfully",
            "migrate": "service_completed_successfully",
        },
    }
    for name, depends in expected.items():
        assert _depends_on(services[name]) == depends, name


def test_healthchecks_probe_the_real_protocol() -> None:
    services = _services()
    probes = {
        "mosquitto": "mosquitto_sub",
        "kafka": "kafka-topics.sh",
        "timescaledb": "pg_isready",
    }
    for name, probe in probes.items():
        test = services[name]["healthcheck"]["test"]
        assert probe in " ".join(test), name
    assert "$$SYS" in " ".join(services["mosquitto"]["healthcheck"]["test"])
    assert "--list" in " ".join(services["kafka"]["healthcheck"]["test"])


def test_named_volumes_are_declared_and_used() -> None:
    compose = _load_compose()
    declared = set(compose.get("volumes") or {})
    used = {
        source
        for service in compose["services"].values()
        for kind, source, _target in _volume_mounts(service)
        if kind == "volume"
    }
    assert used <= declared, f"undeclared volumes: {used - declared}"
    assert declared <= used, f"unused volumes: {declared - used}"
    # All state lives in named volumes.
    for name in ("mosquitto", "kafka", "timescaledb", "grafana"):
        kinds = {kind for kind, _source, _target in _volume_mounts(compose["services"][name])}
        assert "volume" in kinds, f"{name} keeps its state outside a named volume"


def test_bind_mounted_files_exist_in_the_repo() -> None:
    for name, service in _services().items():
        for kind, source, _target in _volume_mounts(service):
            if kind != "bind":
                continue
            assert source.startswith("./"), f"{name}: bind mount {source} outside the repo"
            assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_grafana_provisioning_is_mounted() -> None:
    grafana = _services()["grafana"]
    mounts = {target: source for _kind, source, target in _volume_mounts(grafana)}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    for path in (
        "datasources/timescaledb.yaml",
        "dashboards/provider.yaml",
        "dashboards/json/.gitkeep",
    ):
        assert (PROVISIONING / path).is_file(), path


def test_mosquitto_config_is_mounted() -> None:
    mosquitto = _services()["mosquitto"]
    mounts = {target: source for _kind, source, target in _volume_mounts(mosquitto)}
    config = ROOT / mounts["/mosquitto/config"]
    assert (config / "mosquitto.conf").is_file()
    assert (config / "docker-entrypoint.sh").is_file()
    text = (config / "mosquitto.conf").read_text(encoding="utf-8")
    assert re.search(r"^allow_anonymous false$", text, re.M)
    assert re.search(r"^persistence true$", text, re.M)
    assert re.search(r"^persistence_location /mosquitto/data/?$", text, re.M)
    assert mounts["/mosquitto/devices"] == "./deploy/mosquitto/devices"
    assert mounts["/mosquitto/tls"] == "./deploy/mosquitto/tls"


def test_mosquitto_has_auth_acls_and_a_tls_listener() -> None:
    """The compose broker: passwords and ACL from the entrypoint, TLS on 8883 with the
    certificate `wastewatch tls server-cert` writes, the same service ACL as the local
    stack's (wastewatch.security.accounts)."""
    from wastewatch.security.accounts import SERVICE_ACCOUNTS, service_acl

    config = ROOT / "deploy" / "mosquitto"
    conf = (config / "mosquitto.conf").read_text(encoding="utf-8")
    lines = [line.strip() for line in conf.splitlines() if line and not line.startswith("#")]
    assert "password_file /mosquitto/auth/passwd" in lines
    assert "acl_file /mosquitto/auth/acl.conf" in lines
    assert "allow_anonymous true" not in lines
    tls = lines[lines.index("listener 8883") + 1 :]
    tls = tls[: next((i for i, x in enumerate(tls) if x.startswith("listener")), len(tls))]
    for option in ("cafile", "certfile", "keyfile"):
        assert any(x.startswith(f"{option} /mosquitto/auth/tls/") for x in tls), option
    assert "use_username_as_clientid true" in tls
    acl = (config / "acl.conf").read_text(encoding="utf-8")
    assert acl.endswith(service_acl()), "deploy/mosquitto/acl.conf differs from accounts.py"
    assert "pattern" not in acl
    entrypoint = (config / "docker-entrypoint.sh").read_text(encoding="utf-8")
    environment = _environment(_services()["mosquitto"])
    for account in SERVICE_ACCOUNTS:
        variable = "WW_MQTT_" + account.name.removeprefix("ww-").upper() + "_PASSWORD"
        assert f'"$passwd_file" {account.name} "${variable}"' in entrypoint, account.name
        assert variable in environment
    assert "devices=/mosquitto/devices" in entrypoint
    for name in ("passwd", "acl.conf"):
        assert f'"$devices/{name}"' in entrypoint
    for name in ("server.pem", "server.key", "ca.pem"):
        assert name in entrypoint
    # The folders the broker mounts hold no secret in git: only their README and ignore file.
    for folder in ("devices", "tls"):
        ignore = (config / folder / ".gitignore").read_text(encoding="utf-8").splitlines()
        assert "*" in ignore, folder
        assert "!README.md" in ignore, folder


# --- variables and secrets ------------------------------------------------------------


def test_every_interpolated_variable_is_in_env_example() -> None:
    documented = set(_env_example())
    used = dict(_variables(_load_compose()))
    missing = sorted(name for name in used if name not in documented)
    assert missing == [], f"add to .env.example: {missing}"
    without_default = sorted(name for name, op in used.items() if op is None)
    assert without_default == [], f"give a default or use :? for {without_default}"
    unused = sorted(name for name in documented if name not in used)
    assert unused == [], f".env.example lists variables compose never reads: {unused}"


def test_env_example_holds_only_placeholder_secrets() -> None:
    for name, value in _env_example().items():
        if SECRET_NAME.search(name):
            assert value == PLACEHOLDER_SECRET, f"{name} in .env.example must be a placeholder"
    assert "git-ignored" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_no_literal_secrets_in_compose_file() -> None:
    compose = _load_compose()
    for key, text in _strings(compose):
        if SECRET_NAME.search(key):
            assert _REQUIRED_INTERPOLATION.match(text), (
                f"{key} must be ${{VAR:?message}}, got {text!r}"
            )
        for match in _URL_USERINFO.finditer(text):
            assert _url_password_is_required_variable(match["userinfo"]), (
                f"password in URL must be ${{VAR:?message}}: {text!r}"
            )
    # Secrets never have a default, which would be a literal secret.
    for name, op in _variables(compose):
        if SECRET_NAME.search(name):
            assert op in {":?", "?"}, f"{name} must be required (:?), not defaulted"
    # And no secret value of .env.example leaked into a value of the file.
    assert not [text for _key, text in _strings(compose) if PLACEHOLDER_SECRET in text]


def _url_password_is_required_variable(userinfo: str) -> bool:
    """True if user:password in a URL has a ${VAR:?...} as its whole password."""
    expressions = _BRACED_EXPRESSION.findall(userinfo)
    masked = _BRACED_EXPRESSION.sub(lambda _match: "\x00", userinfo)
    _user, sep, password = masked.partition(":")
    if not sep:
        return True  # no password in the URL at all
    if password != "\x00":
        return False
    return bool(_REQUIRED_INTERPOLATION.match(expressions[-1]))


def test_url_password_check_bites() -> None:
    assert _url_password_is_required_variable("${U:-u}:${P:?set P}")
    assert _url_password_is_required_variable("user")
    assert not _url_password_is_required_variable("${U:-u}:hunter2")
    assert not _url_password_is_required_variable("user:${P:-hunter2}")
    assert not _url_password_is_required_variable("user:x${P:?set P}")


def test_owner_credentials_reach_only_migrate() -> None:
    for name, service in _services().items():
        environment = _environment(service)
        if name == "migrate":
            assert "WW_DB_DSN" in environment
        else:
            assert "WW_DB_DSN" not in environment, f"{name} must not get the owner DSN"


def test_published_ports_bind_to_loopback_by_default() -> None:
    services = _interpolated()["services"]
    for name, service in services.items():
        for host_ip, container_port in _published_ports(service):
            assert PUBLISHED.get(container_port) == name, f"{name} publishes {container_port}"
            assert host_ip == "127.0.0.1", f"{name}:{container_port} binds to {host_ip}"
    published = {port for service in services.values() for _, port in _published_ports(service)}
    assert {1883, 3000, 8883} <= published


# --- settings reach the wastewatch processes consistently -----------------------------------


def test_wastewatch_settings_point_at_the_compose_services() -> None:
    compose = _interpolated()
    services = compose["services"]
    env = _env_example()
    kafka = _environment(services["kafka"])
    timescaledb = _environment(services["timescaledb"])
    for name in WASTEWATCH_COMMANDS:
        environment = _environment(services[name])
        assert environment["WW_CITY"] == "kalasin"
        assert environment["WW_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert environment["WW_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
        assert (
            f"PLAINTEXT://{environment['WW_KAFKA_BOOTSTRAP']}"
            in (kafka["KAFKA_ADVERTISED_LISTENERS"])
        )
        for key, value in environment.items():
            if key.endswith("DSN"):
                assert value.startswith("postgresql://"), key
                assert value.endswith(f"@timescaledb:5432/{timescaledb['POSTGRES_DB']}"), key
            if key == "WW_MQTT_URL":
                assert value.startswith("mqtt://"), value
                assert value.endswith("@mosquitto:1883"), value
    bridge = _environment(services["ingest-bridge"])
    assert (
        bridge["WW_MQTT_URL"] == f"mqtt://ww-bridge:{env['WW_MQTT_BRIDGE_PASSWORD']}@mosquitto:1883"
    )
    simulator = _environment(services["simulator"])
    assert simulator["WW_MQTT_URL"].startswith("mqtt://ww-sim:")
    # Each run-time service gets its own least-privilege role and nothing else.
    roles = {
        "ingest-bridge": set(),
        "ingest-sink": {"WW_DB_INGEST_DSN"},
        "processors": {"WW_DB_PROCESSOR_DSN"},
        "api": {"WW_DB_READER_DSN"},
        "simulator": set(),
    }
    for name, wanted in roles.items():
        assert {k for k in _environment(services[name]) if k.endswith("DSN")} == wanted, name
    user = {"INGEST": "WW_DB_INGEST_USER", "PROCESSOR": "WW_DB_PROCESSOR_USER"}
    for role, variable in user.items():
        dsn = _environment(services["migrate"])[f"WW_DB_{role}_DSN"]
        assert dsn.startswith(f"postgresql://{env[variable]}:"), dsn
    mqtt_secrets = {k for k in _environment(services["mosquitto"]) if "PASSWORD" in k}
    assert mqtt_secrets == {
        "WW_MQTT_BRIDGE_PASSWORD",
        "WW_MQTT_SIM_PASSWORD",
        "WW_MQTT_OPS_PASSWORD",
        "WW_MQTT_WEIGHBRIDGE_PASSWORD",
    }
    kraft = kafka["KAFKA_PROCESS_ROLES"].split(",")
    assert sorted(kraft) == ["broker", "controller"]


def test_grafana_datasource_uses_the_read_only_role() -> None:
    provisioning = yaml.safe_load(
        (PROVISIONING / "datasources" / "timescaledb.yaml").read_text(encoding="utf-8")
    )
    (datasource,) = provisioning["datasources"]
    assert datasource["name"] == "TimescaleDB"
    assert datasource["uid"] == "timescaledb"
    assert datasource["type"] in {"postgres", "grafana-postgresql-datasource"}
    assert datasource["url"] == "timescaledb:5432"
    assert datasource["user"] == "$WW_DB_READER_USER"
    assert datasource["secureJsonData"] == {"password": "$WW_DB_READER_PASSWORD"}
    assert datasource["jsonData"]["database"] == "wastewatch"
    assert datasource["jsonData"]["timescaledb"] is True
    assert datasource["jsonData"]["postgresVersion"] == 1500
    assert datasource["jsonData"]["sslmode"] == "disable"
    # The variables Grafana expands are in its container environment, as the
    # reader role, never the owner.
    grafana = _environment(_interpolated()["services"]["grafana"])
    env = _env_example()
    assert grafana["WW_DB_READER_USER"] == env["WW_DB_READER_USER"]
    assert grafana["WW_DB_READER_PASSWORD"] == env["WW_DB_READER_PASSWORD"]
    assert not any("POSTGRES" in key for key in grafana)


def test_grafana_dashboard_provider_reads_the_provisioned_json() -> None:
    provisioning = yaml.safe_load(
        (PROVISIONING / "dashboards" / "provider.yaml").read_text(encoding="utf-8")
    )
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert path == "/etc/grafana/provisioning/dashboards/json"
    relative = Path(path).relative_to("/etc/grafana/provisioning")
    assert (PROVISIONING / relative).is_dir()


# --- image ------------------------------------------------------------------------------------


def test_dockerfile_builds_one_non_root_wastewatch_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases
    assert all(base == "python:3.11-slim-bookworm" for base in bases)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["wastewatch"\]$', text, re.M)
    assert re.search(r"^RUN .*pip (?:wheel|install)\b.* \.$", text, re.M)


def test_dockerignore_keeps_state_and_secrets_out_of_the_build() -> None:
    entries = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".venv", ".wastewatch", ".git", ".env", "**/__pycache__", ".pytest_cache"):
        assert entry in entries, entry
    # pyproject.toml and the installed packages must stay in the context.
    for needed in ("pyproject.toml", "wastewatch", "schema", "ingest", "processors"):
        assert needed not in entries, needed


def test_kafka_image_is_the_version_the_local_stack_runs() -> None:
    """One Kafka version: compose's apache/kafka tag equals deploy/kafka/pom.xml's."""
    from wastewatch.stack.kafka_install import kafka_version

    image = _load_compose()["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{kafka_version()}"
