"""`wastewatch devices broker-state`: the dynamic security plugin's file for a broker
that is not running yet (docker-compose's mqtt-auth service), unit-tested without a
broker.

The file must be exactly what `config_document` builds from the service passwords
in the environment and the registry's devices, written mode 600 in one rename; a
missing password is refused in one line (exit 2) and nothing is written.  That the
broker accepts such a document is proven against the real Mosquitto by
tests/test_security.py, whose local stack loads the same `config_document`.
"""

from __future__ import annotations

import functools
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from wastewatch.cli import main as cli
from wastewatch.security import dynsec
from wastewatch.security.accounts import (
    ADMIN,
    BRIDGE,
    OPS,
    SERVICE_ACCOUNTS,
    SIM,
    WEIGHBRIDGE,
    password_variable,
    passwords_from_environment,
)
from wastewatch.security.devices import DeviceRegistry
from wastewatch.security.dynsec import config_document, device_role
from wastewatch.security.errors import BadInputError
from wastewatch.security.passwords import hash_password, verify_password

VARIABLES = {
    BRIDGE: "WW_MQTT_BRIDGE_PASSWORD",
    SIM: "WW_MQTT_SIM_PASSWORD",
    OPS: "WW_MQTT_OPS_PASSWORD",
    WEIGHBRIDGE: "WW_MQTT_WEIGHBRIDGE_PASSWORD",
    ADMIN: "WW_MQTT_ADMIN_PASSWORD",
}


@pytest.fixture
def passwords(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every service password in the environment, each different."""
    chosen = {account: f"pw-{account}-{i}" for i, account in enumerate(VARIABLES)}
    for account, variable in VARIABLES.items():
        monkeypatch.setenv(variable, chosen[account])
    return chosen


@pytest.fixture
def registry(tmp_path: Path) -> DeviceRegistry:
    """A registry with two devices in two cities."""
    reg = DeviceRegistry(tmp_path / "devices")
    reg.provision("kls-bin-0001", "kalasin")
    reg.provision("kk-bin-0002", "khonkaen")
    return reg


def _broker_state(registry: Path, out: Path) -> int:
    return cli(["devices", "broker-state", "--registry", str(registry), "--out", str(out)])


def _refused(registry: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``broker-state`` fails with exit status 2 and a one-line message: the message."""
    assert _broker_state(registry, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_service_account_has_its_variable() -> None:
    assert {a.name: password_variable(a.name) for a in SERVICE_ACCOUNTS} == VARIABLES


def test_the_file_is_exactly_config_document(
    passwords: dict[str, str],
    registry: DeviceRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Service passwords are hashed with a random salt: fix it, for both sides alike.
    fixed = functools.partial(hash_password, salt=b"\x07" * 12)
    monkeypatch.setattr(dynsec, "hash_password", fixed)
    out = tmp_path / "data" / "dynamic-security.json"
    assert _broker_state(registry.directory, out) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == config_document(passwords, registry.grants())
    assert _mode(out) == 0o600
    assert [p.name for p in out.parent.iterdir()] == [out.name], "a temporary file was left"


def test_the_file_lets_in_each_service_and_device_as_itself(
    passwords: dict[str, str], registry: DeviceRegistry, tmp_path: Path
) -> None:
    """Unpatched: each service client's hash checks its password from the environment; each
    device carries its registry hash, is bound to its own id and has its own role."""
    out = tmp_path / "dynamic-security.json"
    assert _broker_state(registry.directory, out) == 0
    clients = {c["username"]: c for c in json.loads(out.read_text())["clients"]}
    assert set(clients) == set(VARIABLES) | {"kls-bin-0001", "kk-bin-0002"}
    for account, password in passwords.items():
        assert verify_password(password, _hash(clients[account])), account
        assert not verify_password(password + "x", _hash(clients[account])), account
    assert clients[WEIGHBRIDGE]["clientid"] == WEIGHBRIDGE
    assert "clientid" not in clients[BRIDGE]
    for device in registry.devices():
        entry = clients[device.device_id]
        assert _hash(entry) == device.password_hash
        assert entry["clientid"] == device.device_id
        assert entry["roles"] == [{"rolename": device_role(device.device_id)}]


def _hash(client: dict[str, Any]) -> str:
    return f"$7${client['iterations']}${client['salt']}${client['password']}"


def test_an_empty_registry_gives_the_service_accounts_only(
    passwords: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "devices").mkdir()
    out = tmp_path / "dynamic-security.json"
    assert _broker_state(tmp_path / "devices", out) == 0
    document = json.loads(out.read_text())
    assert [c["username"] for c in document["clients"]] == list(VARIABLES)


@pytest.mark.parametrize("account", list(VARIABLES))
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_password_is_refused_in_one_line(
    account: str,
    value: str | None,
    passwords: dict[str, str],
    registry: DeviceRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if value is None:
        monkeypatch.delenv(VARIABLES[account])
    else:
        monkeypatch.setenv(VARIABLES[account], value)
    out = tmp_path / "dynamic-security.json"
    out.write_text("the previous state\n")
    err = _refused(registry.directory, out, capsys)
    assert err.startswith("wastewatch: ")
    assert f"{VARIABLES[account]} is not set" in err
    assert account in err
    assert out.read_text() == "the previous state\n", "a refused run must not touch the file"


def test_passwords_from_environment_names_the_first_missing_variable() -> None:
    everything = dict.fromkeys(VARIABLES.values(), "x")
    assert passwords_from_environment(everything) == dict.fromkeys(VARIABLES, "x")
    del everything["WW_MQTT_ADMIN_PASSWORD"]
    with pytest.raises(BadInputError, match=r"^WW_MQTT_ADMIN_PASSWORD is not set"):
        passwords_from_environment(everything)


def test_an_existing_file_is_replaced_mode_600(
    passwords: dict[str, str], registry: DeviceRegistry, tmp_path: Path
) -> None:
    out = tmp_path / "dynamic-security.json"
    out.write_text("{}\n")
    out.chmod(0o644)
    assert _broker_state(registry.directory, out) == 0
    assert _mode(out) == 0o600
    assert len(json.loads(out.read_text())["clients"]) == len(VARIABLES) + 2


def test_a_registry_that_is_not_a_folder_is_refused(
    passwords: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dynamic-security.json"
    err = _refused(tmp_path / "no-such-registry", out, capsys)
    assert "is not a folder" in err
    assert not out.exists()


def test_a_corrupt_registry_stops_the_broker_from_starting_without_its_devices(
    passwords: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "devices").mkdir()
    (tmp_path / "devices" / "devices.json").write_text("{not json")
    out = tmp_path / "dynamic-security.json"
    err = _refused(tmp_path / "devices", out, capsys)
    assert "cannot read the registry" in err
    assert not out.exists()


# --- another registry's broker: named by the real environment only ---------------------


@pytest.fixture
def checkout_with_a_local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory whose local stack env file names a ww-admin (port 1: nothing
    listens), as `services up` leaves it on a host that also runs docker-compose."""
    monkeypatch.chdir(tmp_path)
    for variable in ("WW_MQTT_ADMIN_URL", "WW_STATE_DIR", "WW_MQTT_CA_FILE"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / ".wastewatch").mkdir()
    (tmp_path / ".wastewatch" / "env").write_text(
        "WW_MQTT_ADMIN_URL=mqtt://ww-admin:local-secret@127.0.0.1:1\n"
    )
    return tmp_path


def _provision_into(registry: Path, out: Path) -> int:
    return cli(
        [
            "devices",
            "provision",
            "--device-id",
            "kls-bin-0009",
            "--registry",
            str(registry),
            "--no-tls",
            "--broker-port",
            "8883",
            "--out",
            str(out),
        ]
    )


def test_a_compose_registry_is_never_applied_to_the_local_stacks_broker(
    checkout_with_a_local_stack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without WW_MQTT_ADMIN_URL in the environment, only the registry changes: the env
    file's ww-admin is the local broker's, where a compose device must not appear."""
    registry = checkout_with_a_local_stack / "deploy-devices"
    assert _provision_into(registry, checkout_with_a_local_stack / "cfg.json") == 0
    out = capsys.readouterr().out
    assert "is not the local stack's: set WW_MQTT_ADMIN_URL" in out
    assert [d.device_id for d in DeviceRegistry(registry).devices()] == ["kls-bin-0009"]


def test_a_compose_registry_is_applied_to_the_broker_the_environment_names(
    checkout_with_a_local_stack: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With WW_MQTT_ADMIN_URL exported, the change goes to that broker (here: nobody
    listens on port 2, so the attempt fails in one message naming that address)."""
    monkeypatch.setenv("WW_MQTT_ADMIN_URL", "mqtt://ww-admin:compose-secret@127.0.0.1:2")
    registry = checkout_with_a_local_stack / "deploy-devices"
    assert _provision_into(registry, checkout_with_a_local_stack / "cfg.json") == 2
    err = capsys.readouterr().err
    assert "cannot reach the MQTT broker at 127.0.0.1:2" in err
    assert "secret" not in err
