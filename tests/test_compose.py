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
    "mqtt-auth": [
        "devices",
        "broker-state",
        "--registry",
        "/mosquitto/devices",
        "--out",
        "/mosquitto/data/dynamic-security.json",
    ],
    "kafka-topics": ["kafka", "create-topics"],
    "migrate": ["db", "migrate"],
    "ingest-bridge": ["ingest", "bridge"],
    "ingest-sink": ["ingest", "sink"],
    "processors": ["process"],
    "api": ["api", "--host", "0.0.0.0", "--port", "8080"],
    "simulator": ["simulate", "live"],
}
ONE_SHOT = {"mqtt-auth", "kafka-topics", "migrate"}
# The only ports published on the host (container port -> service). Grafana for
# operators; MQTT for field devices (8883 with TLS). All bind to 127.0.0.1
# unless .env overrides the address, as .env.example documents.
PUBLISHED = {3000: "grafana", 1883: "mosquitto", 8883: "mosquitto", 8080: "api"}
# The variable each published port's host address comes from: one per MQTT listener,
# so opening 8883 (TLS) to the field devices never opens 1883 (plain) with it.
BIND_VARIABLES = {
    3000: "GRAFANA_BIND_ADDRESS",
    1883: "MQTT_BIND_ADDRESS",
    8883: "MQTT_TLS_BIND_ADDRESS",
    8080: "API_BIND_ADDRESS",
}
# Where the dynamic security plugin keeps the broker's accounts: mosquitto.conf's
# plugin_opt_config_file, inside the mosquitto-data volume, written by mqtt-auth.
DYNSEC_FILE = "/mosquitto/data/dynamic-security.json"
DYNSEC_PLUGIN = "/usr/lib/mosquitto_dynamic_security.so"
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


def _mounts_by_target(service: Mapping[str, Any]) -> dict[str, str]:
    return {target: source for _kind, source, target in _volume_mounts(service)}


def _mosquitto_conf() -> list[str]:
    """deploy/mosquitto/mosquitto.conf's settings, comments and blank lines left out."""
    text = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _listener(conf: list[str], port: int) -> list[str]:
    """The settings of one listener block (up to the next listener)."""
    block = conf[conf.index(f"listener {port}") + 1 :]
    return block[: next((i for i, x in enumerate(block) if x.startswith("listener")), len(block))]


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
    for name in INFRASTRUCTURE - {"mosquitto"}:
        assert "build" not in services[name], f"{name} runs an upstream image"
    # The broker is the upstream image plus the guard plugins, built from the repo.
    assert services["mosquitto"]["build"] == {
        "context": "./deploy/mosquitto",
        "dockerfile": "Dockerfile",
    }


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
        "mqtt-auth": {},
        "mosquitto": {"mqtt-auth": "service_completed_successfully"},
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
    assert mounts["/mosquitto/tls"] == "./deploy/mosquitto/tls"
    assert mounts["/mosquitto/data"] == "mosquitto-data"


def test_mosquitto_takes_its_accounts_from_the_dynamic_security_plugin() -> None:
    """The compose broker, like the local stack's: Mosquitto's dynamic security plugin
    holds accounts, client-id bindings and ACLs (changed live by ww-admin), no password
    or ACL file; its state file is in the data volume, where mqtt-auth writes it."""
    config = ROOT / "deploy" / "mosquitto"
    conf = _mosquitto_conf()
    assert "allow_anonymous false" in conf
    assert "allow_anonymous true" not in conf
    # The login guard before the plugin, the denial watch after it (ww_guard.c says why).
    assert [x for x in conf if x.startswith("plugin ")] == [
        "plugin /usr/lib/ww_login_guard.so",
        f"plugin {DYNSEC_PLUGIN}",
        "plugin /usr/lib/ww_denial_watch.so",
    ]
    assert [x for x in conf if x.startswith("plugin_opt_config_file")] == [
        f"plugin_opt_config_file {DYNSEC_FILE}"
    ]
    assert not [x for x in conf if x.startswith(("password_file", "acl_file", "auth_plugin"))]
    assert not (config / "acl.conf").exists(), "the plugin's roles replace acl.conf"
    # The plugin's file lives in the broker's data volume (the plugin saves live changes
    # there, so they survive a restart).
    mosquitto = _services()["mosquitto"]
    # 2.0.18 and later save it as FILE.new and rename that over FILE, so a save still
    # works after mqtt-auth, running again beside a live broker, left FILE owned by root;
    # 2.0.11 rewrote FILE in place, and failed there without a word.
    dockerfile = (config / "Dockerfile").read_text(encoding="utf-8")
    base = re.findall(r"^FROM eclipse-mosquitto:2\.0\.(\d+)\s*$", dockerfile, re.M)
    assert len(base) == 1, "the broker image must build FROM eclipse-mosquitto:2.0.x"
    assert int(base[0]) >= 18, base
    assert mosquitto["image"].endswith(f":2.0.{base[0]}}}"), mosquitto["image"]
    # The same source as the local stack's plugins, both roles, warnings as errors.
    for define, name in (
        ("WW_LOGIN_GUARD", "ww_login_guard.so"),
        ("WW_DENIAL_WATCH", "ww_denial_watch.so"),
    ):
        assert re.search(
            rf"-Werror -D{define}\s*\\\s*\n\s*-o /src/{name} /src/ww_guard\.c", dockerfile
        ), name
    assert "COPY guard/ww_guard.c" in dockerfile
    assert DYNSEC_FILE.startswith(_volume_target(mosquitto, "mosquitto-data") + "/")
    # The entrypoint keeps only the TLS copy and the ownership work: no password hashing,
    # no ACL, and it never rewrites the plugin's file (that would undo live changes).
    entrypoint = (config / "docker-entrypoint.sh").read_text(encoding="utf-8")
    code = [x for x in entrypoint.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    body = "\n".join(code)
    for gone in ("mosquitto_passwd", "acl", "passwd", "/mosquitto/devices", "WW_MQTT_"):
        assert gone not in body, gone
    assert f"dynsec_file={DYNSEC_FILE}" in body
    assert "chown -R mosquitto:mosquitto" in body
    assert re.search(r"chown -R mosquitto:mosquitto .*/mosquitto/data\b", body)
    assert 'chmod 600 "$dynsec_file"' in body
    assert not re.search(r'(>|cp |mv )[^\n]*"\$dynsec_file"', body), "must not write the file"
    for name in ("server.pem", "server.key", "ca.pem"):
        assert name in body
    assert code[-1].startswith("exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf")


def _volume_target(service: Mapping[str, Any], volume: str) -> str:
    (target,) = [t for kind, s, t in _volume_mounts(service) if kind == "volume" and s == volume]
    return target


def test_mqtt_auth_writes_the_plugin_state_before_mosquitto_starts() -> None:
    """The one-shot runs `devices broker-state` on every service password and the device
    registry, into the volume mosquitto reads, and mosquitto waits for it to succeed."""
    from wastewatch.cli import build_parser
    from wastewatch.security.accounts import SERVICE_ACCOUNTS, password_variable

    services = _services()
    auth, mosquitto = services["mqtt-auth"], services["mosquitto"]
    assert auth["restart"] == "no"
    assert _depends_on(mosquitto)["mqtt-auth"] == "service_completed_successfully"
    args = build_parser().parse_args(auth["command"])
    assert auth["command"][:2] == ["devices", "broker-state"]
    # The registry: the folder `devices provision --registry deploy/mosquitto/devices`
    # writes, mounted read-only (the one-shot only reads it).
    registry_mount = [
        v for v in auth["volumes"] if isinstance(v, str) and v.split(":")[1] == str(args.registry)
    ]
    assert registry_mount == [f"./deploy/mosquitto/devices:{args.registry}:ro"]
    # The output: the plugin's file, in the same volume mosquitto mounts at the same place.
    assert str(args.out) == DYNSEC_FILE
    assert _volume_target(auth, "mosquitto-data") == _volume_target(mosquitto, "mosquitto-data")
    assert str(args.out).startswith(_volume_target(auth, "mosquitto-data") + "/")
    # Every service account's password, each from its own variable, required.
    wanted = {password_variable(a.name) for a in SERVICE_ACCOUNTS}
    assert "WW_MQTT_ADMIN_PASSWORD" in wanted
    environment = _environment(auth)
    assert {k for k in environment if "PASSWORD" in k} == wanted
    for variable in wanted:
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", environment[variable]), variable
    # The registry folder keeps its secrets out of git.
    ignore = (ROOT / "deploy/mosquitto/devices/.gitignore").read_text(encoding="utf-8")
    assert {"*", "!README.md"} <= set(ignore.splitlines())


def test_the_one_shots_environment_is_all_broker_state_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the one-shot's command with its interpolated environment (and its two container
    paths mapped into tmp_path): it writes a plugin file with every service account."""
    from wastewatch.cli import main as cli
    from wastewatch.security.accounts import SERVICE_ACCOUNTS, password_variable

    auth = _interpolated()["services"]["mqtt-auth"]
    for account in SERVICE_ACCOUNTS:
        monkeypatch.delenv(password_variable(account.name), raising=False)
    for key, value in _environment(auth).items():
        monkeypatch.setenv(key, value)
    container = {"/mosquitto/devices": tmp_path / "devices", "/mosquitto/data": tmp_path / "data"}
    for folder in container.values():
        folder.mkdir()

    def on_host(arg: str) -> str:
        for target, folder in container.items():
            if arg == target or arg.startswith(target + "/"):
                return str(folder) + arg.removeprefix(target)
        return arg

    command = [on_host(arg) for arg in auth["command"]]
    assert cli(command) == 0
    written = tmp_path / "data" / Path(DYNSEC_FILE).name
    users = [c["username"] for c in json.loads(written.read_text())["clients"]]
    assert users == [a.name for a in SERVICE_ACCOUNTS]
    assert written.stat().st_mode & 0o077 == 0


def test_mosquitto_listens_plain_and_with_tls() -> None:
    """Plain 1883 inside the network and for the operators' tools; TLS on 8883 with the
    certificate `wastewatch tls server-cert` writes, the client id being the user name."""
    conf = _mosquitto_conf()
    assert sorted(x for x in conf if x.startswith("listener")) == ["listener 1883", "listener 8883"]
    tls = _listener(conf, 8883)
    for option in ("cafile", "certfile", "keyfile"):
        assert any(x.startswith(f"{option} /mosquitto/auth/tls/") for x in tls), option
    assert "use_username_as_clientid true" in tls
    mounts = _mounts_by_target(_services()["mosquitto"])
    assert mounts["/mosquitto/tls"] == "./deploy/mosquitto/tls"
    ignore = (ROOT / "deploy/mosquitto/tls/.gitignore").read_text(encoding="utf-8")
    assert {"*", "!README.md"} <= set(ignore.splitlines())


def test_each_published_port_has_its_own_bind_address_variable() -> None:
    """MQTT_BIND_ADDRESS publishes 1883 only, MQTT_TLS_BIND_ADDRESS 8883 only: opening the
    TLS port to the field never opens the plain one (where ww-admin's password travels)."""
    for name, service in _services().items():
        for port in service.get("ports") or []:
            spec = str(port)
            container_port = int(spec.split("/")[0].rsplit(":", 1)[1])
            variable = BIND_VARIABLES[container_port]
            assert spec.startswith(f"${{{variable}:-127.0.0.1}}:"), (name, spec)
    assert set(BIND_VARIABLES.values()) <= set(_env_example())
    env = dict(_env_example(), MQTT_TLS_BIND_ADDRESS="0.0.0.0")
    mosquitto = _interpolated(env)["services"]["mosquitto"]
    assert {port: ip for ip, port in _published_ports(mosquitto)} == {
        1883: "127.0.0.1",
        8883: "0.0.0.0",
    }


def test_the_admin_password_is_required() -> None:
    assert _env_example()["WW_MQTT_ADMIN_PASSWORD"] == PLACEHOLDER_SECRET
    env = dict(_env_example())
    del env["WW_MQTT_ADMIN_PASSWORD"]
    with pytest.raises(InterpolationError, match="WW_MQTT_ADMIN_PASSWORD"):
        _interpolated(env)


def test_the_bridges_client_id_is_a_required_secret_of_its_own() -> None:
    """Only the bridge sets WW_MQTT_CLIENT_ID, from a required .env variable that is not
    guessable (a guessable id would let another account take over the bridge's session
    and the readings queued in it) and does not change with the bridge's password (a new
    id would strand the old session's queue)."""
    from wastewatch.core.settings import MqttSettings

    for name, service in _services().items():
        assert "--client-id" not in (service.get("command") or []), name
        if name != "ingest-bridge":
            assert "WW_MQTT_CLIENT_ID" not in _environment(service), name
    raw = _environment(_services()["ingest-bridge"])["WW_MQTT_CLIENT_ID"]
    assert _REQUIRED_INTERPOLATION.match(raw), raw
    assert raw.startswith("${WW_MQTT_BRIDGE_CLIENT_ID:?")
    assert _env_example()["WW_MQTT_BRIDGE_CLIENT_ID"] == PLACEHOLDER_SECRET
    env = _environment(_interpolated()["services"]["ingest-bridge"])
    settings = MqttSettings(url=env["WW_MQTT_URL"], client_id=env["WW_MQTT_CLIENT_ID"])
    rotated = MqttSettings(
        url=env["WW_MQTT_URL"].replace(":change-me@", ":another-password@"),
        client_id=env["WW_MQTT_CLIENT_ID"],
    )
    assert settings.bridge_client_id() == rotated.bridge_client_id()


def test_only_mqtt_auth_runs_as_root_with_one_capability() -> None:
    """The wastewatch containers run as the image's user with no capability; mqtt-auth
    needs root with DAC_OVERRIDE only, to read the operator's registry (mode 600) and write
    into the mosquitto user's volume."""
    services = _services()
    for name in WASTEWATCH_COMMANDS:
        service = services[name]
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        if name == "mqtt-auth":
            assert service["user"] == "0:0"
            assert service["cap_add"] == ["DAC_OVERRIDE"]
        else:
            assert "user" not in service, name
            assert "cap_add" not in service, name


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
    # The MQTT service passwords go to the broker and its one-shot, and no further (the
    # bridge and the simulator get their own account's inside their URL).
    service_passwords = {
        "WW_MQTT_BRIDGE_PASSWORD",
        "WW_MQTT_SIM_PASSWORD",
        "WW_MQTT_OPS_PASSWORD",
        "WW_MQTT_WEIGHBRIDGE_PASSWORD",
        "WW_MQTT_ADMIN_PASSWORD",
    }
    for name, service in services.items():
        mqtt_secrets = {k for k in _environment(service) if k.startswith("WW_MQTT_")} - {
            "WW_MQTT_URL"
        }
        wanted = service_passwords if name in {"mosquitto", "mqtt-auth"} else set()
        if name == "ingest-bridge":
            wanted = {"WW_MQTT_CLIENT_ID"}  # its session's id, a secret of its own
        assert mqtt_secrets == wanted, name
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
    from wastewatch.workbench.stack.kafka_install import kafka_version

    image = _load_compose()["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{kafka_version()}"
