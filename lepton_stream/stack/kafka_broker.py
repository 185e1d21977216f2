"""A single-node KRaft Apache Kafka broker from the Maven jars in .lepton/lib/kafka."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.stack.processes import StackError

_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def _cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64. Never with a leading '-'
    (the storage tool would read it as an option; Kafka's own generator skips those too)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker:
    name = "kafka"
    ready_timeout_s = 90.0

    def ports(self, s: Settings) -> list[int]:
        return [s.endpoints.kafka_port, s.endpoints.kafka_controller_port]

    def _dir(self, s: Settings) -> Path:
        return s.endpoints.home / "data" / "kafka"

    def _classpath(self, s: Settings) -> str:
        return str(s.endpoints.lib_dir / "kafka" / "*")

    def _properties(self, s: Settings) -> Path:
        data = self._dir(s)
        path = s.run_dir / "kafka-server.properties"
        path.write_text(f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{s.endpoints.host}:{s.endpoints.kafka_controller_port}
listeners=PLAINTEXT://{s.endpoints.host}:{s.endpoints.kafka_port},CONTROLLER://{s.endpoints.host}:{s.endpoints.kafka_controller_port}
advertised.listeners=PLAINTEXT://{s.endpoints.host}:{s.endpoints.kafka_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data / "logs"}
num.partitions={s.endpoints.partitions}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
transaction.max.timeout.ms=900000
log.retention.hours=24
message.max.bytes={MAX_RECORD_BYTES}
replica.fetch.max.bytes={MAX_RECORD_BYTES}
""")
        (s.run_dir / "kafka-log4j2.properties").write_text(_LOG4J)
        return path

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise StackError(self.name, "java not found on PATH (Java 17+ is required)")
        return java

    def prepare(self, s: Settings) -> None:
        java = self._java()
        if not list((s.endpoints.lib_dir / "kafka").glob("kafka_2.13-*.jar")):
            raise StackError(self.name, f"broker jars missing in {s.endpoints.lib_dir / 'kafka'}: run `make setup`")
        props = self._properties(s)
        data = self._dir(s)
        if (data / "logs" / "meta.properties").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        cluster_id = _cluster_id()
        res = subprocess.run(
            [java, "-cp", self._classpath(s), f"-Dlog4j2.configurationFile={s.run_dir / 'kafka-log4j2.properties'}",
             "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            capture_output=True, text=True, timeout=120,
        )
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(self.name, f"formatting storage failed: {tail[0]}")

    def command(self, s: Settings) -> list[str]:
        return [self._java(), f"-Xmx{s.endpoints.kafka_heap_mb}m", f"-Xms{s.endpoints.kafka_heap_mb // 2}m",
                f"-Dlog4j2.configurationFile={s.run_dir / 'kafka-log4j2.properties'}",
                "-cp", self._classpath(s), "kafka.Kafka", str(s.run_dir / "kafka-server.properties")]

    def env(self, s: Settings) -> dict[str, str] | None:
        return None

    def ready(self, s: Settings) -> bool:
        from lepton_stream.kafka.admin import broker_ready

        return broker_ready(s.kafka_bootstrap, timeout_s=2.0)

    def health(self, s: Settings) -> str:
        from lepton_stream.kafka.admin import describe

        return describe(s.kafka_bootstrap, s.topics.all())
