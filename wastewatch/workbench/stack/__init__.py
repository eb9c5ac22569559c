"""The local stack: Mosquitto, Apache Kafka (one node or a cluster) and TimescaleDB on 127.0.0.1.

One code path starts them for `make demo`, `make test` and
`wastewatch services up` (`wastewatch.workbench.stack.manager.Stack`); each service
installs what it lacks, keeps its state under the state dir (`.wastewatch/`),
and is stopped only by the pid it recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wastewatch.faces import lazy_face

if TYPE_CHECKING:
    from wastewatch.workbench.stack.errors import StackError
    from wastewatch.workbench.stack.kafka import KafkaNode, KafkaService
    from wastewatch.workbench.stack.manager import Stack
    from wastewatch.workbench.stack.postgres import ROLE_DSN_KEYS, with_database
    from wastewatch.workbench.stack.process import free_port, free_port_block, read_pid

__all__ = [
    "ROLE_DSN_KEYS",
    "KafkaNode",
    "KafkaService",
    "Stack",
    "StackError",
    "free_port",
    "free_port_block",
    "read_pid",
    "with_database",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_face(globals())
