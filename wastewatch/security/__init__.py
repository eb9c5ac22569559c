"""Who may talk to the broker and the database, and how it is proven.

* `passwords`: Mosquitto password-file hashes (PBKDF2-SHA512, the ``$7$`` format).
* `accounts`: the broker's service accounts (bridge, simulator, operators,
  weighbridges), their passwords under the state dir and their ACLs.
* `devices`: one credential and ACL entry per bin sensor (provision, revoke,
  list) and the firmware configuration file written for it.
* `tls`: the local certificate authority and the broker's server certificates.

Secrets live under the git-ignored state dir (``.wastewatch/secrets``, mode
600) or, for docker-compose, in the environment; never in the repository.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.security.accounts import (
        ADMIN,
        BRIDGE,
        OPS,
        SIM,
        load_or_create_passwords,
        mqtt_url,
        passwords_from_environment,
    )
    from wastewatch.security.devices import (
        BrokerAddress,
        Device,
        DeviceRegistry,
        Mounting,
        firmware_config,
        write_firmware_config,
    )
    from wastewatch.security.dynsec import (
        BrokerUnreachableError,
        DynsecControl,
        config_document,
        plugin_path,
        provision_commands,
        revoke_commands,
    )
    from wastewatch.security.errors import BadInputError, SecurityError
    from wastewatch.security.refused import REFUSED_COLUMNS, refused_sql
    from wastewatch.security.tls import LocalCA

__all__ = [
    "ADMIN",
    "BRIDGE",
    "OPS",
    "REFUSED_COLUMNS",
    "SIM",
    "BadInputError",
    "BrokerAddress",
    "BrokerUnreachableError",
    "Device",
    "DeviceRegistry",
    "DynsecControl",
    "LocalCA",
    "Mounting",
    "SecurityError",
    "config_document",
    "firmware_config",
    "load_or_create_passwords",
    "mqtt_url",
    "passwords_from_environment",
    "plugin_path",
    "provision_commands",
    "refused_sql",
    "revoke_commands",
    "write_firmware_config",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
