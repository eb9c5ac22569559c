"""The broker's service accounts and the ACL they get.

Devices each have an account of their own (`wastewatch.security.devices`);
everything else that talks MQTT uses one of these, named ``ww-*`` (a prefix no
device id may take):

==================  ===========================================================
``ww-bridge``       the ingest bridge: reads device telemetry and status and
                    weighbridge tickets; publishes nothing
``ww-sim``          the simulated fleet, benchmarks and local tools: publishes
                    (and reads) as any device or weighbridge -- development and
                    the demo only
``ww-ops``          operators: read every topic (and ``$SYS``), publish device
                    configs
``ww-weighbridge``  landfill weighbridges: publish tickets only (client id
                    ``ww-weighbridge`` only)
``ww-admin``        changes accounts while the broker runs: sends the dynamic
                    security plugin's commands (``wastewatch devices``) and
                    nothing else
==================  ===========================================================

The grants become roles of Mosquitto's dynamic security plugin
(`wastewatch.security.dynsec`), the same for the local stack and
docker-compose, so the names are fixed; only the passwords differ: generated
under the state dir locally, from the environment in compose
(`password_variable`: ``ww-bridge`` -> ``WW_MQTT_BRIDGE_PASSWORD``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from wastewatch.security.errors import BadInputError
from wastewatch.security.passwords import new_password

RESERVED_PREFIX: Final = "ww-"
BRIDGE: Final = "ww-bridge"
SIM: Final = "ww-sim"
OPS: Final = "ww-ops"
WEIGHBRIDGE: Final = "ww-weighbridge"
ADMIN: Final = "ww-admin"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """One service account: its name, why it exists, its (access, topic filter) grants."""

    name: str
    purpose: str
    grants: tuple[tuple[str, str], ...]


SERVICE_ACCOUNTS: Final[tuple[ServiceAccount, ...]] = (
    ServiceAccount(
        BRIDGE,
        "the ingest bridge reads what devices and weighbridges publish and publishes nothing",
        (
            ("read", "ww/+/bins/+/telemetry"),
            ("read", "ww/+/bins/+/status"),
            ("read", "ww/+/landfill/+/tickets"),
            # The broker's guard plugins report refused logins and denied publishes here.
            ("read", "$SYS/broker/wastewatch/#"),
        ),
    ),
    ServiceAccount(
        SIM,
        "the simulated fleet, benchmarks and local tools act as any device or weighbridge "
        "(and the ingest benchmark's raw legs use wwbench/)",
        (("readwrite", "ww/#"), ("readwrite", "wwbench/#")),
    ),
    ServiceAccount(
        OPS,
        "operators read every topic and the broker's $SYS, and publish device configs",
        (("read", "ww/#"), ("write", "ww/+/bins/+/config"), ("read", "$SYS/#")),
    ),
    ServiceAccount(
        WEIGHBRIDGE,
        "landfill weighbridges publish tickets only",
        (("write", "ww/+/landfill/+/tickets"),),
    ),
    ServiceAccount(
        ADMIN,
        "the account tools change the broker's accounts with, live; it reads no data",
        (("readwrite", "$CONTROL/dynamic-security/#"),),
    ),
)


def load_or_create_passwords(path: Path) -> dict[str, str]:
    """Service account -> password, generated once per state dir (file mode 600).

    Accounts added since the file was written get a password; the others keep theirs.
    """
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [a.name for a in SERVICE_ACCOUNTS if a.name not in data]
    for name in missing:
        data[name] = new_password()
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(data, indent=2))
    return {a.name: data[a.name] for a in SERVICE_ACCOUNTS}


def password_variable(account: str) -> str:
    """The environment variable holding a service account's password where the environment
    supplies it (docker-compose's ``.env``): ``ww-admin`` -> ``WW_MQTT_ADMIN_PASSWORD``."""
    return "WW_MQTT_" + account.removeprefix(RESERVED_PREFIX).upper() + "_PASSWORD"


def passwords_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Service account -> password, each from its `password_variable`.

    An unset or empty variable is refused (`BadInputError`, naming the first one):
    a broker built without it would lock that service out, or worse, accept ``""``.
    """
    passwords: dict[str, str] = {}
    for account in SERVICE_ACCOUNTS:
        variable = password_variable(account.name)
        password = environ.get(variable, "")
        if not password:
            raise BadInputError(
                f"{variable} is not set: it holds the password of the {account.name} account "
                "(docker-compose: set it in .env)"
            )
        passwords[account.name] = password
    return passwords


def mqtt_url(user: str, password: str, host: str, port: int, *, tls: bool = False) -> str:
    """``mqtt[s]://user:password@host:port`` with both parts URL-quoted."""
    scheme = "mqtts" if tls else "mqtt"
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}"
