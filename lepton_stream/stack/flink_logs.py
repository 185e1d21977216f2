"""The local job's own Flink log: a folder per job process under the home, rolled.

PyFlink's gateway JVM (the MiniCluster of `lepton-stream run`) logs to
`<pyflink>/log/flink-<user>-python-<host>.log` by default: one file in the
virtual environment that every local job truncates as it starts, so two jobs
(a rescale, the tests) write over each other, and it grows without bound (a
Kafka producer's configuration, a hundred lines, for each checkpoint's
transaction). Each job process gets `<home>/run/flink-logs/<group>-<pid>/`
instead, whose file rolls at 10 MB (three kept), with Kafka's clients, the
checkpoint coordinator and the sources' coordinators (a line or more per
checkpoint) at WARN; the 20 newest folders are kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lepton_stream.config import Settings

KEEP = 20

LOG4J = """\
# Written by lepton_stream/stack/flink_logs.py for the local job's gateway JVM.
monitorInterval = 0
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = RollingFile
appender.file.name = RollingFile
appender.file.type = RollingFile
appender.file.append = true
appender.file.fileName = ${sys:log.file}
appender.file.filePattern = ${sys:log.file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.kafkashaded.name = org.apache.flink.kafka.shaded.org.apache.kafka
logger.kafkashaded.level = WARN
logger.sourcecoordinator.name = org.apache.flink.runtime.source.coordinator
logger.sourcecoordinator.level = WARN
logger.checkpoint.name = org.apache.flink.runtime.checkpoint
logger.checkpoint.level = WARN
logger.source.name = org.apache.flink.connector.base.source.reader
logger.source.level = WARN
"""


def prepare(s: Settings) -> Path:
    """Point the gateway JVM this process is about to start at its own log folder
    (FLINK_LOG_DIR, LOG4J_PROPERTIES, which PyFlink's launcher reads) unless the
    environment already names one; returns the folder."""
    root = s.run_dir / "flink-logs"
    folder = Path(os.environ.get("FLINK_LOG_DIR") or root / f"{s.job.consumer_group}-{os.getpid()}")
    for made in (root, folder):
        made.mkdir(parents=True, exist_ok=True)
    os.environ["FLINK_LOG_DIR"] = str(folder)
    if "LOG4J_PROPERTIES" not in os.environ:
        props = root / "log4j-job.properties"
        if not props.exists() or props.read_text() != LOG4J:
            tmp = props.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(LOG4J)
            tmp.replace(props)  # jobs starting together never read a half-written file
        os.environ["LOG4J_PROPERTIES"] = str(props)
    _prune(root, folder)
    return folder


def _prune(root: Path, keep: Path) -> None:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and p != keep), key=_mtime, reverse=True)
    for old in folders[KEEP - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _mtime(folder: Path) -> float:
    """When the folder's job last wrote its log (a folder's own time is its start)."""
    try:
        return max([f.stat().st_mtime for f in folder.iterdir()] + [folder.stat().st_mtime])
    except OSError:  # pruned by another job meanwhile
        return 0.0
