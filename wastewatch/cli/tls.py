"""`wastewatch tls ca|server-cert`: the local certificate authority.

`wastewatch services up` creates the CA and the local broker's certificate by
itself; ``server-cert`` issues a broker certificate for other names from the
same CA -- docker-compose's broker by default (``deploy/mosquitto/tls``, which
the compose file mounts), so devices provisioned here trust it too.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from wastewatch.cli.options import Subparsers, add_action, command_group
from wastewatch.core import load_settings

COMPOSE_TLS_DIR = Path("deploy/mosquitto/tls")


def register(sub: Subparsers) -> None:
    actions = command_group(sub, "tls", "the local CA and MQTT server certificates")
    add_action(actions, "ca", ca, "create the CA if missing; print its certificate's path")
    srv = add_action(
        actions,
        "server-cert",
        server_cert,
        "issue a broker certificate (server.pem, server.key, ca.pem) from the local CA",
    )
    srv.add_argument(
        "--host",
        action="append",
        default=None,
        metavar="NAME",
        help="DNS name or IP address the broker is reached at; repeat for several "
        "(default: mosquitto, localhost, 127.0.0.1 -- docker-compose's broker)",
    )
    srv.add_argument(
        "--out",
        type=Path,
        default=COMPOSE_TLS_DIR,
        metavar="DIR",
        help=f"folder to write to (default: {COMPOSE_TLS_DIR}, mounted by docker-compose)",
    )


def ca(_: argparse.Namespace) -> int:
    from wastewatch.security import LocalCA

    authority = LocalCA.for_state_dir(load_settings().state_dir)
    created = authority.ensure()
    print(f"{'created' if created else 'CA'} {authority.ca_cert}")
    return 0


def server_cert(args: argparse.Namespace) -> int:
    from wastewatch.security import LocalCA

    authority = LocalCA.for_state_dir(load_settings().state_dir)
    hosts = args.host or ["mosquitto", "localhost", "127.0.0.1"]
    out: Path = args.out
    issued = authority.issue_server(hosts, out / "server.pem", out / "server.key")
    shutil.copyfile(authority.ca_cert, out / "ca.pem")
    print(f"wrote {issued.cert} and {issued.key} for {', '.join(issued.hosts)}")
    print(f"wrote {out / 'ca.pem'} (the CA devices and clients verify the broker with)")
    return 0
