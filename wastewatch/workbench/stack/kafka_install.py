"""Install Apache Kafka's broker jars from Maven Central, once per machine.

There is no Debian package of Apache Kafka and no Docker engine here, so the
local stack resolves ``org.apache.kafka:kafka_2.13`` and its dependencies with
the machine's Maven from the project's own POM (``deploy/kafka/pom.xml``) and
copies them into ``<cache>/kafka-<version>/libs``.  The broker then runs as
``java -cp 'libs/*' kafka.Kafka server.properties``: the same engine and
version as docker-compose's ``apache/kafka`` image, without its scripts.

Java and Maven come from Debian (``openjdk-17-jre-headless``, ``maven``) when
they are missing and we are root; otherwise the error says what to install.
A later run finds the stamp file and does nothing.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from wastewatch.workbench.stack.apt import ensure_packages
from wastewatch.workbench.stack.errors import StackError
from wastewatch.workbench.stack.paths import cache_dir
from wastewatch.workbench.stack.process import run

DEPLOY_DIR = Path(__file__).resolve().parents[3] / "deploy" / "kafka"
POM = DEPLOY_DIR / "pom.xml"
LOG4J = DEPLOY_DIR / "log4j.properties"
JAVA_PACKAGES = ["openjdk-17-jre-headless"]
MAVEN_PACKAGES = ["maven"]
STAMP = ".complete"


def kafka_version(pom: Path = POM) -> str:
    """The one Kafka version of the project, from the POM's ``kafka.version``."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if match is None:
        raise StackError("read the Kafka version", f"{pom} has no <kafka.version>")
    return match.group(1).strip()


@dataclass(frozen=True, slots=True)
class KafkaDistribution:
    """Where the broker's jars are, and the java that runs them."""

    version: str
    libs: Path
    java: str

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")


def distribution_dir(version: str) -> Path:
    return cache_dir() / f"kafka-{version}"


def _ensure_tool(command: str, packages: list[str], *, log: Path, what: str) -> str:
    """The path of ``command``, installing its Debian packages first when it is missing.

    Fails in one line that names the missing tool and the command that installs it.
    """
    found = shutil.which(command)
    if found is not None:
        return found
    install = f"apt-get install -y {' '.join(packages)}"
    try:
        ensure_packages(packages, log=log)
    except StackError as exc:
        raise StackError(
            f"install {what}",
            f"`{command}` is missing and could not be installed; install it: {install}",
        ) from exc
    found = shutil.which(command)
    if found is None:
        raise StackError(
            f"install {what}",
            f"`{command}` is still not on PATH after `{install}`; put it on PATH",
        )
    return found


def ensure_kafka(*, log: Path, pom: Path = POM) -> KafkaDistribution:
    """The broker's jars, resolved with Maven the first time; Java installed if missing."""
    version = kafka_version(pom)
    target = distribution_dir(version)
    libs = target / "libs"
    java = _ensure_tool("java", JAVA_PACKAGES, log=log, what="Java (OpenJDK 17)")
    if (libs / STAMP).exists():
        return KafkaDistribution(version, libs, java)
    mvn = _ensure_tool("mvn", MAVEN_PACKAGES, log=log, what="Maven")
    staging = target / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    step = f"resolve Apache Kafka {version}"
    try:
        run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            step=step,
            log=log,
            timeout_s=900,
        )
    except StackError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise StackError(
            step,
            f"Maven could not fetch org.apache.kafka:kafka_2.13:{version} and its dependencies "
            f"from Maven Central (unreachable, or the version is not served; details in {log})",
        ) from exc
    if not any(staging.glob(f"kafka_2.13-{version}.jar")):
        raise StackError(
            step, f"Maven finished but {staging} holds no kafka_2.13-{version}.jar", log=log
        )
    (staging / STAMP).write_text(f"kafka {version}\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return KafkaDistribution(version, libs, java)
