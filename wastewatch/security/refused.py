"""Who the MQTT broker refused, per client: one SQL for the board, the alert and the CLI.

The Fleet health board's panel and ``wastewatch devices refused`` list the same thing,
so they run the same query (``broker_events``, migration 0011), differing only in
where the period ends: the end of the board's time range, or now.  One row per
client: a denied client by its client id, a login flood by its address.

``refused`` says with what: ``publish``, ``subscribe`` (both, comma-separated, when a
client was denied both) or ``login``.  ``count`` is the denials for a denied client
(each report counts the denials it holds) and, for a login flood, the reports: windows
of ``window_s`` seconds in which the address was refused.  ``bin_id`` is the bin whose
device is the client's user name, so a row without one is no registered sensor.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REFUSED_COLUMNS", "refused_sql"]

REFUSED_COLUMNS: Final = (
    "client",
    "username",
    "refused",
    "last_topic",
    "count",
    "last_at",
    "address",
    "bin_id",
)


def refused_sql(until: str, hours: str) -> str:
    """The query over the ``hours`` before ``until`` (both SQL expressions: a literal or
    a bound parameter such as ``%(hours)s``, and a timestamptz), latest first."""
    return f"""SELECT r.client, r.username, r.refused, r.last_topic, r.count, r.last_at,
  r.address, b.bin_id
FROM (
  SELECT coalesce(e.client_id, e.address) AS client, e.username,
    CASE WHEN e.event = 'login_refused' THEN 'login'
      ELSE string_agg(DISTINCT e.access, ', ') END AS refused,
    (array_agg(e.topic ORDER BY e.time DESC) FILTER (WHERE e.topic IS NOT NULL))[1]
      AS last_topic,
    CASE WHEN e.event = 'login_refused' THEN count(*) ELSE sum(e.count) END::bigint AS count,
    max(e.time) AS last_at,
    (array_agg(e.address ORDER BY e.time DESC))[1] AS address
  FROM broker_events e
  WHERE e.time > {until} - interval '1 hour' * {hours} AND e.time <= {until}
  GROUP BY e.event, coalesce(e.client_id, e.address), e.username
) r
LEFT JOIN bins b ON b.device_id = r.username
ORDER BY r.last_at DESC, r.client
LIMIT 500"""
