"""The one typed settings model for every wastewatch process.

Every value comes from the environment with the ``WW_`` prefix, one level of
nesting separated by a single underscore (``WW_MQTT_URL`` -> ``mqtt.url``,
``WW_KAFKA_LINGER_MS`` -> ``kafka.linger_ms``), or from the env file that
``wastewatch services up`` writes (``.wastewatch/env``), so that a developer's
shell needs no exports after bringing the local stack up.  Real environment
variables always win over the file, which is how docker-compose and the tests
point a process somewhere else.

Kafka options keep Kafka's own names and every duration carries its unit
(``_ms`` / ``_s``), so a value can be checked against the broker docs without
guessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from wastewatch.core.mqtt_url import MqttTarget, derived_client_id
from wastewatch.errors import WastewatchError

#: Where the local stack keeps its state and writes its env file.  Relative to
#: the working directory, like git's ``.git``: run commands from the checkout.
DEFAULT_STATE_DIR = Path(".wastewatch")

# The value contracts the settings share; each field adds its default and meaning.
Port = Annotated[int, Field(ge=1, le=65535)]
PortOrOff = Annotated[int, Field(ge=0, le=65535)]
"""A port to serve on, where 0 turns the server off."""
LocalPort = Annotated[int, Field(ge=1024, le=65535)]
"""An unprivileged port of the local stack."""
Seconds = Annotated[float, Field(gt=0)]
"""A positive duration or back-off, seconds."""
AtLeastOne = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]


class MqttSettings(BaseModel):
    """How to reach the MQTT broker the devices publish to."""

    url: str = Field(
        default="mqtt://127.0.0.1:18830",
        description="mqtt://[user:password@]host:port (mqtts:// for TLS): the account of "
        "publishers (simulator, fleet, tools); locally the ww-sim service account",
    )
    bridge_url: str | None = Field(
        default=None,
        description="the ingest bridge's own account (reads device topics, publishes none); "
        "unset: the bridge uses url",
    )
    ops_url: str | None = Field(
        default=None,
        description="operators' account (reads every topic, publishes device configs)",
    )
    admin_url: str | None = Field(
        default=None,
        description="the ww-admin account, which changes the broker's accounts live "
        "(`wastewatch devices`); unset: the local stack's",
    )
    ca_file: str | None = Field(
        default=None,
        description="CA certificate (PEM) that signed the broker's certificate, for mqtts://; "
        "unset: the system's CAs",
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id of the bridge (its persistent session). Unset: derived "
        "from the bridge account's password, so no other account can guess it",
    )
    keepalive_s: int = Field(default=30, ge=5, description="MQTT keepalive in seconds")

    def bridge_client_id(self) -> str:
        """The bridge's client id: ``client_id``, else one derived from its password."""
        if self.client_id:
            return self.client_id
        target = MqttTarget.from_url(self.bridge_url or self.url)
        return derived_client_id("ww-bridge", target.password or target.host)


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster, with Kafka's own option names."""

    bootstrap: str = Field(
        default="127.0.0.1:19092", description="bootstrap servers, comma separated"
    )
    enable_idempotence: bool = Field(
        default=True,
        description="idempotent producer (no duplicates or reordering from producer retries); "
        "off only for a Kafka-protocol broker without InitProducerId",
    )
    acks: Literal["all"] = Field(default="all", description="producer acks; only 'all' is safe")
    linger_ms: NonNegative = Field(default=5, description="producer batching delay in ms")
    max_batch_size: int = Field(default=262_144, ge=1024, description="producer batch bytes")
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    topic_prefix: str = Field(
        default="",
        description="prepended to every topic name; lets tests and tenants share one broker",
    )
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        le=7,
        description="replicas of each topic `create-topics` makes; unset: 3, or the number of "
        "brokers when the cluster has fewer",
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        le=7,
        description="topic min.insync.replicas: with acks=all a write needs this many replicas; "
        "unset: replication_factor - 1 (2 of 3), at least 1",
    )


class DbSettings(BaseModel):
    """PostgreSQL/TimescaleDB connection strings, one per privilege level."""

    dsn: str = Field(
        default="postgresql://ww_admin@127.0.0.1:15432/wastewatch",
        description="owner/migration role: used by `wastewatch db migrate` only",
    )
    writer_dsn: str | None = Field(
        default=None,
        description="operators' tools: city registry import, route plans (INSERT/UPDATE, no DDL)",
    )
    ingest_dsn: str | None = Field(
        default=None,
        description="the ingest sink: inserts readings, device status and weighbridge tickets "
        "only; unset: writer_dsn",
    )
    processor_dsn: str | None = Field(
        default=None,
        description="the processors: write their own tables, read the rest; unset: writer_dsn",
    )
    reader_dsn: str | None = Field(
        default=None, description="Grafana and the planners' API (SELECT only)"
    )
    connect_timeout_s: AtLeastOne = 10

    def for_ingest(self) -> str:
        """The sink's DSN: ingest_dsn, else writer_dsn, else (refused at start if superuser) dsn."""
        return self.ingest_dsn or self.writer_dsn or self.dsn

    def for_processors(self) -> str:
        """The processors' DSN: processor_dsn, else writer_dsn, else dsn (as for_ingest)."""
        return self.processor_dsn or self.writer_dsn or self.dsn


class IngestSettings(BaseModel):
    """The MQTT->Kafka bridge and the Kafka->TimescaleDB sink."""

    receive_maximum: int = Field(
        default=2000,
        ge=1,
        le=65535,
        description="MQTT v5 Receive Maximum: unacked QoS 1 messages the broker may have in "
        "flight to the bridge. This is the bridge's backpressure window: when Kafka stalls, "
        "acks stop, and Mosquitto queues the rest in the persistent session.",
    )
    handoff_max: int | None = Field(
        default=None,
        ge=16,
        le=1_000_000,
        description="most MQTT messages held between paho's network thread and the bridge's "
        "pump (bounds the bridge's memory); when full, the bridge stops reading the socket "
        "(TCP pushback). Unset: 4 x receive_maximum, at least 1024",
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="how long Mosquitto keeps the bridge's session (and queues for it) "
        "while the bridge is away",
    )
    share_group: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]*$",
        description="MQTT shared-subscription group; bridges with the same group split the "
        "devices' traffic ($share/<group>/...). Empty: a plain subscription.",
    )
    max_future_s: NonNegative = Field(
        default=3600,
        description="readings time-stamped further than this ahead of the bridge's clock "
        "go to the dead-letter topic",
    )
    dead_letter_log_per_device: NonNegative = Field(
        default=5,
        description="dead letters the bridge logs per device (or topic) per window; the "
        "rest are only counted (ww_bridge_dead_letters_total) and summarised",
    )
    dead_letter_log_per_window: NonNegative = Field(
        default=100,
        description="dead letters the bridge logs per window from all devices together",
    )
    dead_letter_log_window_s: Seconds = Field(
        default=60.0,
        description="window of the dead-letter log budget, s; the first dead letter after "
        "a window that held lines back logs 'suppressed K dead letters from D devices'",
    )
    bridge_metrics_port: PortOrOff = Field(
        default=9464, description="bridge /metrics and /healthz; 0 = off"
    )
    sink_metrics_port: PortOrOff = Field(
        default=9465, description="sink /metrics and /healthz; 0 = off"
    )
    metrics_host: str = Field(default="127.0.0.1", description="address of the metrics server")
    sink_group: str = Field(default="ww-sink", description="the sink's Kafka consumer group")
    sink_batch_max: AtLeastOne = Field(
        default=5000, description="most readings written in one transaction"
    )
    sink_batch_ms: AtLeastOne = Field(
        default=100, description="longest wait to fill a batch before writing it, ms"
    )
    sink_fetch_min_bytes: AtLeastOne = Field(
        default=65_536,
        description="the broker answers a fetch once this much is ready (or sink_batch_ms "
        "passed): fewer, larger fetches under load",
    )
    sink_session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        description="consumer group session timeout of a sink: how soon a dead sink's "
        "partitions move to another (heartbeats every sixth of it)",
    )
    sink_retry_max_s: Seconds = Field(
        default=10.0, description="longest back-off between database retries, s"
    )
    shutdown_timeout_s: Seconds = Field(
        default=20.0, description="how long a graceful stop may take to drain"
    )


class ProcessorSettings(BaseModel):
    """The stream processors (`wastewatch process`): collections, forecast, alerts, ..."""

    group_prefix: str = Field(
        default="ww-proc-",
        description="consumer group of processor NAME is <group_prefix>NAME; one group each",
    )
    batch_max: AtLeastOne = Field(default=2000, description="most records handled per batch")
    batch_ms: AtLeastOne = Field(
        default=100, description="longest wait to fill a batch before handling it, ms"
    )
    session_timeout_ms: int = Field(
        default=6000,
        ge=1000,
        description="consumer group session timeout: how soon a dead processor's partitions "
        "move to another (and how long a restarted one may wait to rejoin)",
    )
    heartbeat_interval_ms: int = Field(default=1000, ge=100, description="group heartbeats")
    metrics_port: PortOrOff = Field(
        default=9466, description="/metrics and /healthz of `process`; 0 = off"
    )
    metrics_host: str = Field(default="127.0.0.1", description="address of the metrics server")
    retry_max_s: Seconds = Field(
        default=10.0, description="longest back-off between database retries, s"
    )
    shutdown_timeout_s: Seconds = Field(
        default=20.0, description="how long a graceful stop may take to finish a batch"
    )
    registry_refresh_s: Seconds = Field(
        default=30.0, description="re-read the bin registry at most this often, s"
    )
    offline_after_s: int = Field(
        default=3600,
        ge=60,
        description="no reading for this long (event time) opens an offline alert",
    )
    watermark_lateness_s: NonNegative = Field(
        default=3600,
        description="how far behind the newest event time a reading may still arrive "
        "without the device counting as silent (covers replays' and buffers' disorder)",
    )
    landfill_window_days: int = Field(
        default=28, ge=7, description="days of deliveries the landfill trend averages"
    )
    landfill_alert_days: list[int] = Field(
        default=[365, 180, 90],
        description="alert when a landfill's projected days left fall under each value",
    )
    webhook_url: str | None = Field(
        default=None, description="POST critical alerts (fire) here as JSON; unset = off"
    )
    webhook_timeout_s: Seconds = Field(default=5.0, description="per webhook request, s")
    webhook_retries: NonNegative = Field(
        default=5, description="retries of a failed webhook delivery before giving up"
    )
    webhook_backoff_s: Seconds = Field(
        default=1.0, description="first retry delay, doubled each retry, s"
    )


class ApiSettings(BaseModel):
    """The planners' read-only HTTP API (`wastewatch api`); it reads through db.reader_dsn only."""

    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: Port = Field(default=18080, description="port to listen on")
    token: SecretStr | None = Field(
        default=None,
        description="when set, every /v1 request needs `Authorization: Bearer <token>`",
    )
    pool_max_size: int = Field(default=4, ge=1, le=100, description="database connections")
    statement_timeout_ms: int = Field(
        default=10_000, ge=100, description="longest a query may run before it is cancelled, ms"
    )


class StackSettings(BaseModel):
    """The local development/test stack that `wastewatch services` manages."""

    mqtt_port: LocalPort = 18830
    mqtt_tls_port: LocalPort = Field(
        default=18883, description="Mosquitto's TLS listener (local CA)"
    )
    mqtt_login_max_attempts: AtLeastOne = Field(
        default=20,
        description="logins one address may try per mqtt_login_window_s before Mosquitto "
        "refuses the rest unchecked (the guard plugin)",
    )
    mqtt_login_window_s: AtLeastOne = Field(default=10, description="the login guard's window, s")
    mqtt_login_exempt: list[str] = Field(
        default=["127.0.0.1"],
        description="addresses the login guard never limits (the local stack's own tools "
        "connect from 127.0.0.1)",
    )
    kafka_port: LocalPort = Field(
        default=19092,
        description="client port of Kafka broker 1; broker N listens on kafka_port + N - 1",
    )
    kafka_controller_port: LocalPort = Field(
        default=19192,
        description="KRaft controller port of node 1; node N uses kafka_controller_port + N - 1",
    )
    kafka_brokers: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="Kafka nodes (broker and controller each) of the local cluster; unset: as "
        "many as the cluster was formatted with, 1 for a new one",
    )
    kafka_heap_mb: int = Field(
        default=512, ge=128, le=16_384, description="Java heap of each local Kafka broker, MB"
    )
    pg_port: LocalPort = 15432
    wait_s: Seconds = Field(default=60.0, description="how long `up` waits for each service")


class Settings(BaseSettings):
    """Settings of every wastewatch process; see the module docstring for sources."""

    model_config = SettingsConfigDict(
        env_prefix="WW_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=DEFAULT_STATE_DIR / "env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    city: str = Field(default="kalasin", pattern=r"^[a-z0-9-]{2,32}$")
    state_dir: Path = DEFAULT_STATE_DIR
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    mqtt: MqttSettings = MqttSettings()
    kafka: KafkaSettings = KafkaSettings()
    db: DbSettings = DbSettings()
    ingest: IngestSettings = IngestSettings()
    processors: ProcessorSettings = ProcessorSettings()
    stack: StackSettings = StackSettings()
    api: ApiSettings = ApiSettings()


class SettingsError(WastewatchError):
    """A setting (a ``WW_`` variable, the env file, an override) has a value that
    does not fit; the message names the variable and what is wrong with it."""

    hint = "fix the variable in the environment or the env file; see README, Configuration"


def load_settings(**overrides: object) -> Settings:
    """Read settings now (not at import time), so tests can set the environment first.

    A value that does not validate is a :class:`SettingsError` naming the ``WW_``
    variable, so the CLI prints it in one line instead of pydantic's traceback.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise SettingsError(f"bad setting: {problems}") from None


def _describe(error: Any) -> str:
    """``WW_API_PORT: Input should be a valid integer (got 'abc')``."""
    path = [str(part) for part in error.get("loc", ())]
    name = "WW_" + "_".join(path).upper() if path else "settings"
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
    return f"{name}: {error.get('msg', 'invalid')}{shown}"
