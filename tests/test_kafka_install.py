"""Installing Apache Kafka for the local stack: one-line errors when Java or Maven Central
is missing, and one Kafka version for the local stack and docker-compose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wastewatch.workbench.stack import kafka_install
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.kafka import new_cluster_id


def test_the_pom_names_the_broker_and_a_log4j_binding() -> None:
    text = kafka_install.POM.read_text()
    assert "<artifactId>kafka_2.13</artifactId>" in text
    assert "slf4j-reload4j" in text
    assert kafka_install.kafka_version().startswith("3.9.")


def test_missing_java_that_cannot_be_installed_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(packages: list[str], *, log: Path) -> list[str]:
        raise StackError("apt install", "packages missing and not running as root")

    monkeypatch.setattr(kafka_install.shutil, "which", lambda _: None)
    monkeypatch.setattr(kafka_install, "ensure_packages", refuse)
    with pytest.raises(StackError) as err:
        kafka_install.ensure_kafka(log=tmp_path / "install.log")
    text = str(err.value)
    assert "\n" not in text
    assert "`java` is missing" in text
    assert "apt-get install -y openjdk-17-jre-headless" in text


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_maven_central_out_of_reach_is_one_line(tmp_path: Path) -> None:
    """A POM whose repository is a closed loopback port: Maven cannot fetch the broker."""
    if shutil.which("mvn") is None:
        pytest.skip("Maven is installed by `wastewatch services install`")
    version = "0.0.0-unreachable-test"
    pom = tmp_path / "pom.xml"
    pom.write_text(
        kafka_install.POM.read_text()
        .replace(
            f"<kafka.version>{kafka_install.kafka_version()}</kafka.version>",
            f"<kafka.version>{version}</kafka.version>",
        )
        .replace(
            "<dependencies>",
            "<repositories><repository><id>central</id><url>http://127.0.0.1:9/</url>"
            "</repository></repositories><dependencies>",
            1,
        )
    )
    try:
        with pytest.raises(StackError) as err:
            kafka_install.ensure_kafka(log=tmp_path / "install.log", pom=pom)
    finally:
        shutil.rmtree(kafka_install.distribution_dir(version), ignore_errors=True)
    text = str(err.value)
    assert "\n" not in text
    assert "Maven Central" in text
    assert f"kafka_2.13:{version}" in text
    assert not kafka_install.distribution_dir(version).exists()


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22
        assert not cid.startswith("-")
        assert set(cid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
