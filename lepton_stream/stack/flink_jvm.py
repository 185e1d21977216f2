"""The options of the JVMs that `lepton-stream` starts for the job: the local
MiniCluster (the driver's gateway JVM) and the local cluster's JobManager and
TaskManager."""

from __future__ import annotations

from lepton_stream.config import Settings


def jit_options(s: Settings) -> list[str]:
    # C2 compiles Flink's, the Kafka client's and Beam's hot paths for minutes after a
    # start, on the cores the job needs to catch up (docs/performance.md, "The JVM's compiler").
    return ["-XX:TieredStopAtLevel=1"] if s.job.jvm_jit == "c1" else []


def minicluster_jvm_args(s: Settings) -> str:
    """JVM_ARGS of the gateway JVM, which runs the local job's MiniCluster."""
    return " ".join([f"-Xmx{s.job.jvm_heap_mb}m", *jit_options(s)])
