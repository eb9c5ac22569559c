"""Create the project's Kafka topics from the catalog in `schema.topics`.

Used by `wastewatch services up` for the local broker and by
`wastewatch kafka create-topics` (docker-compose's one-shot `kafka-topics`
service) for Apache Kafka.  Existing topics are left alone, so this is safe to
run on every start; a topic that exists with fewer partitions than the catalog
asks for is reported, not silently accepted, because per-device ordering
depends on the partition count never changing under a running system.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from schema.topics import KAFKA_TOPICS
from wastewatch.settings import KafkaSettings


class TopicError(Exception):
    """The broker could not be reached or refused to create a topic."""


@dataclass(frozen=True, slots=True)
class TopicReport:
    """What create_topics did for one topic."""

    name: str
    partitions: int
    created: bool


async def create_topics(kafka: KafkaSettings, *, timeout_s: float = 30.0) -> list[TopicReport]:
    """Create every catalog topic that does not exist yet (replication 1 locally)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        existing = set(await admin.list_topics())
        wanted = {kafka.topic_prefix + t.name: t.partitions for t in KAFKA_TOPICS}
        missing = [
            NewTopic(name=name, num_partitions=parts, replication_factor=1)
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

    For tests and benchmarks that made topics of their own: the local broker keeps
    every record in memory until its topic is deleted.
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
