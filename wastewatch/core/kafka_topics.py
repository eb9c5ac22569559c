"""Create the project's Kafka topics from the catalog in `wastewatch.schema.topics`, and describe
them.

Used by `wastewatch services up` for the local cluster and by
`wastewatch kafka create-topics` (docker-compose's one-shot `kafka-topics`
service).  Existing topics are left alone, so this is safe to run on every
start; a topic that exists with fewer partitions than the catalog asks for is
reported, not silently accepted, because per-device ordering depends on the
partition count never changing under a running system.

Replication follows the cluster: 3 replicas with ``min.insync.replicas=2``
where there are three brokers or more (a write with acks=all then survives
losing any one broker), as many as there are brokers below that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from wastewatch.core.settings import KafkaSettings
from wastewatch.errors import WastewatchError
from wastewatch.schema import KAFKA_TOPICS


class TopicError(WastewatchError):
    """The broker could not be reached or refused to create a topic."""


@dataclass(frozen=True, slots=True)
class TopicReport:
    """What create_topics did for one topic."""

    name: str
    partitions: int
    created: bool


def replication_for(kafka: KafkaSettings, brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``brokers``."""
    factor = kafka.replication_factor or min(3, brokers)
    if factor > brokers:
        raise TopicError(
            f"replication factor {factor} needs {factor} brokers; the cluster at "
            f"{kafka.bootstrap} has {brokers} (set WW_KAFKA_REPLICATION_FACTOR={brokers})"
        )
    min_isr = kafka.min_insync_replicas or max(1, factor - 1)
    if min_isr > factor:
        raise TopicError(
            f"min.insync.replicas {min_isr} exceeds the replication factor {factor}; "
            "lower WW_KAFKA_MIN_INSYNC_REPLICAS"
        )
    return factor, min_isr


async def create_topics(kafka: KafkaSettings, *, timeout_s: float = 30.0) -> list[TopicReport]:
    """Create every catalog topic that does not exist yet, replicated as the cluster allows.

    An existing topic with fewer partitions than the catalog is an error: the bridge
    and the processors key by device on the catalog's count.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        factor, min_isr = await _replication(admin, kafka, timeout_s)
        existing = await _partition_counts(admin)
        wanted = {kafka.topic_prefix + t.name: t.partitions for t in KAFKA_TOPICS}
        short = [
            f"{name} has {existing[name]} partitions, the catalog {parts}"
            for name, parts in wanted.items()
            if name in existing and existing[name] < parts
        ]
        if short:
            raise TopicError(
                "topics exist with fewer partitions than the catalog: "
                + "; ".join(short)
                + " (per-device order needs the catalog's count: recreate them)"
            )
        missing = [
            NewTopic(
                name=name,
                num_partitions=parts,
                replication_factor=factor,
                topic_configs={"min.insync.replicas": str(min_isr)},
            )
            for name, parts in wanted.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        return [
            TopicReport(name=name, partitions=parts, created=name not in existing)
            for name, parts in wanted.items()
        ]
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicError(f"cannot create topics on {kafka.bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()


async def _replication(
    admin: AIOKafkaAdminClient, kafka: KafkaSettings, timeout_s: float
) -> tuple[int, int]:
    """Replication for the cluster; waits (bounded) for every broker a fixed factor needs.

    Right after a cluster starts, one broker's metadata may list fewer brokers than
    have registered: with an explicit replication factor, ask again until they show.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        brokers = len((await admin.describe_cluster())["brokers"])
        want = kafka.replication_factor or 1
        if want <= brokers or asyncio.get_running_loop().time() > deadline:
            return replication_for(kafka, brokers)
        await asyncio.sleep(0.5)


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    names = list(await admin.list_topics())
    if not names:
        return {}
    return {str(t["topic"]): len(t["partitions"]) for t in await admin.describe_topics(names)}


async def list_topics(kafka: KafkaSettings, *, timeout_s: float = 10.0) -> set[str]:
    """The topic names the broker knows; also the local stack's readiness probe."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        return set(await admin.list_topics())
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicError(f"cannot list topics on {kafka.bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()


async def delete_prefixed_topics(kafka: KafkaSettings, *, timeout_s: float = 30.0) -> list[str]:
    """Delete every topic whose name starts with ``kafka.topic_prefix`` (never all topics).

    For tests and benchmarks that made topics of their own, so their logs do not
    pile up on disk.
    """
    if not kafka.topic_prefix:
        raise TopicError("refusing to delete topics without a topic prefix")
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        doomed = sorted(t for t in await admin.list_topics() if t.startswith(kafka.topic_prefix))
        if doomed:
            await admin.delete_topics(doomed)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicError(f"cannot delete topics on {kafka.bootstrap}: {exc!r}") from exc
    else:
        return doomed
    finally:
        await admin.close()


@dataclass(frozen=True, slots=True)
class PartitionView:
    """One partition as the cluster's metadata shows it."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """Brokers, the active controller and each topic's partitions (leader, ISR)."""

    brokers: dict[int, str]
    controller_id: int
    topics: dict[str, tuple[PartitionView, ...]]

    def leaders(self, topic: str) -> set[int]:
        """The brokers that lead at least one partition of ``topic``."""
        return {p.leader for p in self.topics.get(topic, ())}

    def under_replicated(self) -> list[tuple[str, int]]:
        """(topic, partition) whose ISR is smaller than its replica set."""
        return [
            (name, p.partition)
            for name, parts in self.topics.items()
            for p in parts
            if len(p.isr) < len(p.replicas)
        ]


async def describe_cluster(
    kafka: KafkaSettings, *, topics: list[str] | None = None, timeout_s: float = 10.0
) -> ClusterView:
    """Brokers and partition leadership; ``topics`` defaults to the catalog's under the prefix."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    names = topics if topics is not None else [kafka.topic_prefix + t.name for t in KAFKA_TOPICS]
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster: dict[str, Any] = await admin.describe_cluster()
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([n for n in names if n in existing])
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicError(f"cannot describe the cluster at {kafka.bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    views: dict[str, tuple[PartitionView, ...]] = {}
    for topic in described:
        parts = sorted(
            (
                PartitionView(
                    partition=int(p["partition"]),
                    leader=int(p["leader"]),
                    replicas=tuple(int(r) for r in p["replicas"]),
                    isr=tuple(int(r) for r in p["isr"]),
                )
                for p in topic["partitions"]
            ),
            key=lambda v: v.partition,
        )
        views[str(topic["topic"])] = tuple(parts)
    return ClusterView(
        brokers={int(b["node_id"]): f"{b['host']}:{b['port']}" for b in cluster["brokers"]},
        controller_id=int(cluster.get("controller_id", -1)),
        topics=views,
    )


async def group_lag(
    kafka: KafkaSettings, groups: dict[str, list[str]], *, timeout_s: float = 10.0
) -> dict[str, int]:
    """Records each consumer group has not committed yet, over the topics given for it.

    ``groups`` maps a group id to topic names (without the prefix).  The lag is the
    partitions' true end offsets minus the group's committed offsets (a partition the
    group never committed counts from its start), so 0 means the group has
    processed, and committed, everything written so far.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    probe = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(probe.start(), timeout_s)
        return await _lags(admin, probe, kafka.topic_prefix, groups)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicError(
            f"cannot read consumer group offsets on {kafka.bootstrap}: {exc!r}"
        ) from exc
    finally:
        await probe.stop()
        await admin.close()


async def _lags(
    admin: AIOKafkaAdminClient,
    probe: AIOKafkaConsumer,
    prefix: str,
    groups: dict[str, list[str]],
) -> dict[str, int]:
    names = sorted({prefix + t for topics in groups.values() for t in topics})
    partitions = {
        str(t["topic"]): [
            TopicPartition(str(t["topic"]), int(p["partition"])) for p in t["partitions"]
        ]
        for t in await admin.describe_topics(names)
    }
    every = [tp for tps in partitions.values() for tp in tps]
    ends = await probe.end_offsets(every)
    starts = await probe.beginning_offsets(every)
    lags: dict[str, int] = {}
    for group, topics in groups.items():
        committed = await admin.list_consumer_group_offsets(group)
        lag = 0
        for topic in topics:
            for tp in partitions.get(prefix + topic, []):
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
                lag += max(0, ends[tp] - done)
        lags[group] = lag
    return lags
