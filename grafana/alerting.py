"""Grafana alert rules: the conditions the processors cannot report about themselves.

Why so few: every per-bin and per-device condition (fire, tipped over,
overflowing, low battery, sensor fault, offline, landfill capacity) is already
an alert of the processors, with event time, hysteresis, one open alert per
subject, a row in ``alerts`` (shown on the boards) and, for critical ones, a
webhook with retries (``webhook_outbox``).  Grafana rules over the same rows
would page twice, on the wall clock, without the hysteresis.

What Grafana adds is a watcher of the watchers: it notices when the pipeline
itself stops (no readings stored, processors behind, a mass outage that is a
network or broker fault rather than many broken devices, critical alerts whose
webhook is not getting through) and keeps paging while a fire alert is open.
It also watches what no processor sees: readings the MQTT broker denied (they
never reach Kafka: a device provisioned for the wrong city or id) and login
floods the broker refused (``broker_events``, the broker's guard plugins).
The rules go to Grafana's default notification policy; the contact point is
set up per deployment (see grafana/README.md).

The file is written in Grafana's file-provisioning format (``apiVersion: 1``,
``groups``), which grafanalib 0.7 does not produce (its ``AlertRulev9`` writes
the HTTP API's nested shape), hence plain dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from wastewatch.grafana.board import DATASOURCE, title

__all__ = ["RULES", "AlertRule", "provisioning"]

FOLDER: Final = "wastewatch"
"""The folder of the rules and of the boards, by title: the only way Grafana's alert
rule file provisioning names a folder (its rule group has ``folder``, a title path, and
no uid field: grafana/grafana#125079).  It creates a missing folder with a random uid,
and in Grafana 11.6 it runs before the dashboards, so the dashboards provider
(provisioning/dashboards/provider.yaml) names the same title and no ``folderUid``:
with a uid it would not find this folder and would make a second "wastewatch"."""


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule: a SQL value (one row, column ``value``) compared with a threshold."""

    uid: str
    title: str
    sql: str
    op: Literal["gt", "lt"]
    threshold: float
    pending: str
    summary: str
    no_data: Literal["OK", "NoData", "Alerting"] = "OK"
    severity: Literal["critical", "warning"] = "critical"

    def to_provisioning(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "condition": "C",
            "data": [
                {
                    "refId": "A",
                    "relativeTimeRange": {"from": 3600, "to": 0},
                    "datasourceUid": DATASOURCE["uid"],
                    "model": {
                        "refId": "A",
                        "datasource": DATASOURCE,
                        "editorMode": "code",
                        "format": "table",
                        "rawQuery": True,
                        "rawSql": self.sql,
                    },
                },
                {
                    "refId": "B",
                    "datasourceUid": "__expr__",
                    "model": {
                        "refId": "B",
                        "type": "reduce",
                        "expression": "A",
                        "reducer": "last",
                        "settings": {"mode": "dropNN"},
                    },
                },
                {
                    "refId": "C",
                    "datasourceUid": "__expr__",
                    "model": {
                        "refId": "C",
                        "type": "threshold",
                        "expression": "B",
                        "conditions": [
                            {"evaluator": {"type": self.op, "params": [self.threshold]}}
                        ],
                    },
                },
            ],
            "noDataState": self.no_data,
            "execErrState": "Error",
            "for": self.pending,
            "annotations": {"summary": self.summary},
            "labels": {"severity": self.severity, "service": "wastewatch"},
            "isPaused": False,
        }


def _on_any(
    uid: str,
    title: str,
    sql: str,
    summary: str,
    severity: Literal["critical", "warning"] = "critical",
) -> AlertRule:
    """A rule over a count of rows that should not exist: it fires on the first one, at once."""
    return AlertRule(
        uid=uid,
        title=title,
        sql=sql,
        op="gt",
        threshold=0,
        pending="0s",
        summary=summary,
        severity=severity,
    )


RULES: Final = (
    AlertRule(
        uid="ww-ingest-stalled",
        title=title("ไม่มีข้อมูลเข้าระบบ", "No readings stored"),
        sql="SELECT extract(epoch FROM now() - max(stored_at)) / 60 AS value\n"
        "FROM readings WHERE time > now() - interval '1 day'",
        op="gt",
        threshold=30,
        pending="5m",
        summary="No reading was stored for over 30 minutes: check Mosquitto, the "
        "ingest bridge, Kafka and the sink (wastewatch ingest health).",
        no_data="Alerting",
    ),
    AlertRule(
        uid="ww-processors-behind",
        title=title("ตัวประมวลผลล่าช้า", "Processors behind"),
        sql="SELECT extract(epoch FROM (SELECT max(stored_at) FROM readings\n"
        "  WHERE time > now() - interval '1 day')\n"
        "  - (SELECT max(state_updated_at) FROM bin_state)) / 60 AS value",
        op="gt",
        threshold=30,
        pending="10m",
        summary="Readings are arriving but bin_state has not been updated for 30 minutes: "
        "the processors are down or far behind, so fill, alerts and routes are stale.",
    ),
    AlertRule(
        uid="ww-fleet-offline",
        title=title("อุปกรณ์ออฟไลน์จำนวนมาก", "Many devices offline"),
        sql="SELECT avg((ds.state = 'offline')::int)::float8 AS value\n"
        "FROM bins b JOIN device_status ds ON ds.device_id = b.device_id\n"
        "WHERE b.active",
        op="gt",
        threshold=0.2,
        pending="15m",
        summary="More than 20 % of the sensors are offline at once: more likely the "
        "mobile network or the MQTT broker than the devices.",
    ),
    _on_any(
        uid="ww-webhook-backlog",
        title=title("ส่งการแจ้งเตือนวิกฤตไม่สำเร็จ", "Critical alerts not delivered"),
        sql="SELECT count(*)::float8 AS value FROM webhook_outbox\n"
        "WHERE created_at < now() - interval '10 minutes'",
        summary="Critical alerts (fire) have waited over 10 minutes for the webhook: "
        "phone the duty crew and check the webhook receiver.",
    ),
    _on_any(
        uid="ww-fire-open",
        title=title("ไฟไหม้ในถังขยะ", "Fire in a bin"),
        sql="SELECT count(*)::float8 AS value FROM alerts\nWHERE state = 'open' AND kind = 'fire'",
        summary="A bin is burning (open fire alert); see the Collection operations board. "
        "Repeats until the processors resolve the alert.",
    ),
    _on_any(
        uid="ww-broker-denied",
        title=title("โบรกเกอร์ปฏิเสธข้อมูลจากอุปกรณ์", "Publishes denied by the broker"),
        sql="SELECT coalesce(sum(count), 0)::float8 AS value FROM broker_events\n"
        "WHERE event = 'denied' AND access = 'publish'\n"
        "  AND time > now() - interval '15 minutes'",
        summary="The MQTT broker denied publishes in the last 15 min: a device provisioned "
        "for the wrong city or id loses every reading (MQTT 3.1.1 acknowledges and drops "
        "them). `wastewatch devices refused` or the Fleet health board's 'Refused by the "
        "broker' panel name it; compare the topic with `wastewatch devices list` and "
        "re-provision it with the right --city.",
        severity="warning",
    ),
    _on_any(
        uid="ww-broker-login-flood",
        title=title("มีการพยายามเข้าสู่ระบบถี่ผิดปกติ", "Login flood refused by the broker"),
        sql="SELECT count(*)::float8 AS value FROM broker_events\n"
        "WHERE event = 'login_refused' AND time > now() - interval '15 minutes'",
        summary="The MQTT broker refused logins from an address that tried too often in "
        "the last 15 min (a password-guessing flood or a misconfigured client). "
        "`wastewatch devices refused` names the address and user; block it in the host "
        "firewall if it persists (deploy/README.md).",
        severity="warning",
    ),
)


def provisioning() -> dict[str, Any]:
    """The alerting provisioning document (one rule group, evaluated every minute)."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "wastewatch-pipeline",
                "folder": FOLDER,
                "interval": "1m",
                "rules": [r.to_provisioning() for r in RULES],
            }
        ],
    }
