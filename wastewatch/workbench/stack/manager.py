"""The stack as a whole: bring up, report, write the env file, bring down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wastewatch.core import Settings
from wastewatch.security import ADMIN, BRIDGE, OPS, SIM
from wastewatch.workbench.stack.kafka import KafkaService
from wastewatch.workbench.stack.mosquitto import MosquittoService
from wastewatch.workbench.stack.postgres import PostgresService


class Service(Protocol):
    """What the manager needs of each service."""

    name: str

    def install(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> bool: ...
    def running(self) -> bool: ...
    def answers(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    running: bool
    answers: bool
    address: str

    @property
    def up(self) -> bool:
        return self.running and self.answers


class Stack:
    """Mosquitto, the Apache Kafka cluster and TimescaleDB, managed together."""

    def __init__(self, settings: Settings, *, kafka_brokers: int | None = None) -> None:
        self.settings = settings
        self.mosquitto = MosquittoService(settings)
        self.kafka = KafkaService(settings, nodes=kafka_brokers)
        self.postgres = PostgresService(settings)
        self.services: list[Service] = [self.mosquitto, self.kafka, self.postgres]

    @property
    def env_file(self) -> Path:
        return self.settings.state_dir.resolve() / "env"

    def env(self) -> dict[str, str]:
        """The connection settings other processes need, as WW_ variables."""
        mqtt = self.mosquitto
        return {
            "WW_MQTT_URL": mqtt.url(SIM),
            "WW_MQTT_BRIDGE_URL": mqtt.url(BRIDGE),
            "WW_MQTT_OPS_URL": mqtt.url(OPS),
            "WW_MQTT_ADMIN_URL": mqtt.url(ADMIN),
            "WW_MQTT_CA_FILE": str(mqtt.ca.ca_cert),
            "WW_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            **self.postgres.dsns(),
        }

    def install(self) -> None:
        """Install what is missing (apt packages, the TimescaleDB build); starts nothing."""
        for service in self.services:
            service.install()

    def up(self) -> dict[str, str]:
        """Install, start and wait for every service; write and return the env."""
        self.install()
        for service in self.services:
            service.start()
        env = self.env()
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        self.env_file.touch(mode=0o600)
        self.env_file.chmod(0o600)
        self.env_file.write_text(
            "# Written by `wastewatch services up`: the local stack's addresses and the\n"
            "# service accounts' passwords (mode 600; never commit it).\n"
            + "".join(f"{k}={v}\n" for k, v in env.items())
        )
        return env

    def down(self, only: set[str] | None = None) -> list[str]:
        """Stop, by pid, what `up` started (or just the services named in ``only``).

        Returns the names actually stopped.
        """
        return [
            s.name for s in reversed(self.services) if (only is None or s.name in only) and s.stop()
        ]

    def running(self) -> set[str]:
        """Names of the services whose recorded process is alive."""
        return {s.name for s in self.services if s.running()}

    def status(self) -> list[ServiceStatus]:
        """One row per service, and one per Kafka node (``kafka-N``) after the cluster's."""
        out = []
        for service, address in zip(
            self.services,
            [self.mosquitto.address, self.kafka.bootstrap, f"127.0.0.1:{self.postgres.port}"],
            strict=True,
        ):
            running = service.running()
            try:
                answers = running and service.answers()
            except Exception:
                answers = False
            out.append(ServiceStatus(service.name, running, answers, address))
            if service is self.kafka and len(self.kafka.nodes) > 1:
                out.extend(self._kafka_nodes())
        return out

    def _kafka_nodes(self) -> list[ServiceStatus]:
        try:
            registered = set(self.kafka.describe(topics=[]).brokers)
        except Exception:
            registered = set()
        return [
            ServiceStatus(
                f"kafka-{node.node_id}",
                node.running(),
                node.node_id in registered,
                node.address,
            )
            for node in self.kafka.nodes
        ]
