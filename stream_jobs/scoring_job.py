"""The scoring job: Kafka `transactions` (+ `fraud-labels`, `credit-profiles`, `rules`) -> `scores`, `risk-alerts`,
`transactions-dlq`.

Reads top to bottom as the data flows. Flink moves bytes between Kafka and
one vectorised (pandas) Python function; all per-event work happens in that
function a batch at a time (parse, Redis features, one Triton request),
because per-record PyFlink Python state runs at only 500-4,000 events/s here
when measured on two cores. The function returns, per input record, the output
records it produced as three lists (topics, keys, values: bytes pass through
untouched); SQL unnests them into one Kafka sink that writes to the topic named
in each row.

Run: `python -m stream_jobs.scoring_job [--startup group|earliest|latest|timestamp:<ms>] [--bounded]
[--from-savepoint PATH]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import ScalarFunction, udf

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.stack.flink_jvm import minicluster_jvm_args

# The tick source's rows have a negative `partition`, which no Kafka record has: each
# subtask gets one about every second, so that what is due while no records come is written.

# What the batch step returns per input record: its output records, as parallel lists.
OUTPUTS = DataTypes.ROW([DataTypes.FIELD("t", DataTypes.ARRAY(DataTypes.STRING())),
                         DataTypes.FIELD("k", DataTypes.ARRAY(DataTypes.BYTES())),
                         DataTypes.FIELD("v", DataTypes.ARRAY(DataTypes.BYTES()))])


class ProcessBatch(ScalarFunction):
    """Runs the scoring pipeline on each Arrow batch the Python worker receives.

    Flink gives each source its own copy of this function (the union is planned
    below it), the copies of one slot sharing one Python process and, through
    `share_metrics`, one metrics window: the tick source's copy closes it when
    it is due and no records come (the last window of a burst)."""

    def open(self, function_context) -> None:
        from lepton_stream.pipeline import build_pipeline

        logs.configure()
        self.pipeline = build_pipeline(Settings.from_env(), share_metrics=True)

    def eval(self, topics: pd.Series, keys: pd.Series, values: pd.Series, partitions: pd.Series,
             offsets: pd.Series) -> pd.DataFrame:
        from lepton_stream.pipeline import RawRecord

        t, k, v, p, o = topics.tolist(), keys.tolist(), values.tolist(), partitions.tolist(), offsets.tolist()
        n = len(t)
        ticks = [i for i in range(n) if p[i] < 0] if n and min(p) < 0 else []
        rows = [i for i in range(n) if p[i] >= 0] if ticks else range(n)
        # Each output goes on the row of the input that made it; a tick's on the first tick's.
        placed = []
        if rows:
            records = [RawRecord(k[i], v[i], t[i], int(p[i]), int(o[i])) for i in rows]
            placed = [(rows[out.origin], out) for out in self.pipeline.process(records)]
        if ticks:
            placed += [(ticks[0], out) for out in self.pipeline.tick()]
        out_topics: list[list[str]] = [[] for _ in range(n)]
        out_keys: list[list[bytes]] = [[] for _ in range(n)]
        out_values: list[list[bytes]] = [[] for _ in range(n)]
        for row, out in placed:
            out_topics[row].append(out.topic)
            out_keys[row].append(out.key)
            out_values[row].append(out.value)
        return pd.DataFrame({"t": out_topics, "k": out_keys, "v": out_values})


def kafka_options(s: Settings) -> str:
    # Bootstrap servers plus SASL/TLS client properties when configured (docs/security.md).
    from lepton_stream.kafka.security import flink_kafka_options

    return f"'connector' = 'kafka', {flink_kafka_options(s)}"


def startup_options(startup: str) -> str:
    if startup.startswith("timestamp:"):
        return f"'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '{int(startup[10:])}'"
    modes = {"group": "group-offsets", "earliest": "earliest-offset", "latest": "latest-offset"}
    if startup not in modes:
        raise SystemExit(f"--startup must be group, earliest, latest or timestamp:<ms>, not {startup!r}")
    return f"'scan.startup.mode' = '{modes[startup]}', 'properties.auto.offset.reset' = 'earliest'"


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under `root` (`<job id>/chk-<n>/_metadata`, which
    Flink writes last), or None."""
    done = [m.parent for m in root.glob("*/chk-*/_metadata")]
    return max(done, key=lambda p: p.stat().st_mtime) if done else None


def control_options(s: Settings, target: str, from_savepoint: str | None, startup: str = "group") -> dict[str, str]:
    """Job control (docs/deploy.md "Rescaling"): the local job's REST API on a known
    port, so that `lepton-stream run --rescale` can find it; the savepoint to start from.

    A local job also keeps its latest checkpoint on disk, and a job that resumes
    (`--startup group`) starts from it: the Kafka offsets Flink commits to the group
    after a checkpoint are only a hint (a crash between the sink's commit and the
    offsets' would replay committed records), the checkpoint is exact."""
    out: dict[str, str] = {}
    if target == "local":
        root = s.endpoints.home / "checkpoints" / s.job.consumer_group
        out |= {"execution.checkpointing.dir": root.resolve().as_uri(),
                "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
                "execution.checkpointing.num-retained": "2"}
        latest = latest_checkpoint(root) if startup == "group" and not from_savepoint else None
        if latest is not None:
            out["execution.state-recovery.path"] = str(latest)
            logs.get("lepton.job").info("resuming from the latest checkpoint", extra={"checkpoint": str(latest)})
            for old in root.iterdir():  # earlier jobs' checkpoints: superseded by this one
                if old.is_dir() and old != latest.parent:
                    shutil.rmtree(old, ignore_errors=True)
    if target == "local":  # a cluster's client (`flink run`) reaches the cluster's own REST API
        from lepton_stream.stack.processes import port_free

        if not port_free(s.endpoints.host, s.job.flink_rest_port):
            raise SystemExit(f"the job's REST port {s.job.flink_rest_port} on {s.endpoints.host} is taken (another job "
                             "running?): set LEPTON_FLINK_REST_PORT")
        out |= {"rest.port": str(s.job.flink_rest_port), "rest.bind-address": s.endpoints.host}
    if from_savepoint:
        # (Flink 2's name for execution.savepoint.path.) Without ignore-unclaimed-state
        # (allowNonRestoredState): state that no operator takes fails the start
        # instead of being dropped.
        out["execution.state-recovery.path"] = from_savepoint
    return out


def tuning_options(s: Settings) -> dict[str, str]:
    """The job's Flink options that `Settings.job` sets: batching, buffering, checkpoints."""
    return {
        "pipeline.name": "lepton-scoring",
        "parallelism.default": str(s.job.parallelism),
        "python.executable": sys.executable,
        "python.fn-execution.arrow.batch.size": str(s.job.arrow_batch_size),
        "python.fn-execution.bundle.time": str(s.job.bundle_time_ms),
        "python.fn-execution.bundle.size": str(s.job.bundle_size),
        "execution.buffer-timeout.interval": f"{s.job.buffer_timeout_ms} ms",
        "execution.checkpointing.interval": f"{s.job.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
    }


def build(s: Settings, startup: str, bounded: bool, from_savepoint: str | None = None) -> TableEnvironment:
    connector = s.endpoints.lib_dir / "flink"
    jars = sorted(connector.glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise SystemExit(f"Flink Kafka connector jar missing in {connector}: run `make setup`")
    os.environ.setdefault("JVM_ARGS", minicluster_jvm_args(s))
    # Locally PyFlink runs every Python worker inside this driver process ("loopback"),
    # so parallel subtasks share one interpreter lock; "process" gives each its own
    # worker process, as a cluster does.
    os.environ.setdefault("_python_worker_execution_mode", s.job.python_worker_mode)
    # --- Network (docs/security.md): the local MiniCluster's servers bind `host` only,
    # the Beam servers of its Python workers loopback, and its REST API takes no jar
    # uploads. Before PyFlink's first use: the gateway JVM and worker pool start then.
    from pyflink.common import Configuration

    from lepton_stream.stack.flink_network import prepare_local_job

    network = prepare_local_job(s)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode()
    if network is not None:  # not a cluster's client
        local = Configuration()
        for k, v in network.items():
            local.set_string(k, v)
        env_settings = env_settings.with_configuration(local)
    t_env = TableEnvironment.create(env_settings.build())
    # --- end of network ---
    conf = t_env.get_config()
    for k, v in {
        "pipeline.jars": ";".join(j.as_uri() for j in jars),
        **tuning_options(s),
        **control_options(s, conf.get("execution.target", ""), from_savepoint, startup),
    }.items():
        conf.set(k, v)

    # 1. Sources: the raw bytes of each input topic, with where each record came from.
    # One source per topic: restored at another parallelism (a rescale, docs/deploy.md), a
    # source gives each new subtask an equal, contiguous share of its saved partition list;
    # with both topics in one list, one subtask's share could be all of `transactions`.
    # `rules` too: each of its records reaches one subtask, which sends an invalid one to
    # the DLQ exactly once; every worker reads the whole topic itself (rules/live.py).
    sources = (("transactions_in", s.topics.transactions), ("labels_in", s.topics.fraud_labels),
               ("profiles_in", s.topics.credit_profiles), ("rules_in", s.topics.rules))
    for table, topic in sources:
        t_env.execute_sql(f"""
            CREATE TABLE {table} (
                k BYTES, v BYTES,
                `topic` STRING METADATA VIRTUAL,
                `partition` INT METADATA VIRTUAL,
                `offset` BIGINT METADATA VIRTUAL
            ) WITH ({kafka_options(s)},
                'topic' = '{topic}',
                'properties.group.id' = '{s.job.consumer_group}',
                'properties.isolation.level' = 'read_committed',
                {startup_options(startup)},
                {"'scan.bounded.mode' = 'latest-offset'," if bounded else ""}
                'key.format' = 'raw', 'key.fields' = 'k',
                'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY')""")
    columns = "k, v, `topic`, `partition`, `offset`"
    # Ticks: one row a second for each subtask (the rate is shared among them), in the
    # sources' columns (constants instead would leave the Python function's Arrow input
    # without a column, which Flink cannot write). A bounded job gets one each and ends
    # with its input, but has the source too: the plan's shape gives the operators their
    # ids, which a checkpoint of one must find in the other.
    t_env.execute_sql(f"""
        CREATE TABLE ticks_in (k BYTES, v BYTES, `topic` STRING, `partition` INT, `offset` BIGINT)
        WITH ('connector' = 'datagen', 'rows-per-second' = '{s.job.parallelism}',
              {f"'number-of-rows' = '{s.job.parallelism}'," if bounded else ""}
              'fields.k.length' = '1', 'fields.v.length' = '1', 'fields.topic.length' = '1',
              'fields.partition.min' = '-2', 'fields.partition.max' = '-1',
              'fields.offset.min' = '0', 'fields.offset.max' = '1')""")
    t_env.execute_sql("CREATE TEMPORARY VIEW inputs AS "
                      + " UNION ALL ".join(f"SELECT {columns} FROM {table}" for table in (*dict(sources), "ticks_in")))

    # 2. Sink: one table over every output topic; each row names its topic.
    outputs = [s.topics.scores, s.topics.risk_alerts, s.topics.dlq, s.topics.pipeline_metrics]
    eo = s.job.delivery_guarantee == "exactly-once"
    t_env.execute_sql(f"""
        CREATE TABLE outputs (
            `topic` STRING METADATA, k BYTES, v BYTES
        ) WITH ({kafka_options(s)},
            'topic' = '{";".join(outputs)}',
            'sink.delivery-guarantee' = '{s.job.delivery_guarantee}',
            {f"'sink.transactional-id-prefix' = '{s.job.consumer_group}-tx'," if eo else ""}
            {f"'sink.transaction-naming-strategy' = '{s.job.transaction_naming.upper()}'," if eo else ""}
            'properties.transaction.timeout.ms' = '{s.job.transaction_timeout_ms}',
            'properties.linger.ms' = '5',
            'properties.max.request.size' = '{MAX_RECORD_BYTES}',
            'key.format' = 'raw', 'key.fields' = 'k',
            'value.format' = 'raw', 'value.fields-include' = 'EXCEPT_KEY')""")

    # 3. The batch step: labels and features in Redis, parse, score on Triton, route.
    process = udf(ProcessBatch(), result_type=OUTPUTS, func_type="pandas")
    t_env.create_temporary_function("process_batch", process)

    return t_env


def claim_new_store(s: Settings) -> None:
    # Before the first checkpoint commits the group's offsets (lepton_stream/pipeline/store_guard.py).
    from lepton_stream.feature_store.redis_windows import RedisWindowStore
    from lepton_stream.kafka.clients import group_has_consumed
    from lepton_stream.pipeline.retry import with_retry
    from lepton_stream.pipeline.store_guard import claim_store_for_new_group

    store = RedisWindowStore.from_settings(s)
    try:  # a broker just started answers "not coordinator" a while; Redis may be restarting
        with_retry(lambda: claim_store_for_new_group(store, lambda: not group_has_consumed(s, s.topics.transactions)),
                   what="store claim", attempts=s.job.retry_attempts, base_s=s.job.retry_base_s)
    finally:
        store.close()


# Each output record of the batch step becomes a row of the sink (arrays index from 1).
INSERT = """
    INSERT INTO outputs
    SELECT r.t, s.o.k[r.i], s.o.v[r.i]
    FROM (SELECT process_batch(`topic`, k, v, `partition`, `offset`) AS o FROM inputs) AS s
    CROSS JOIN UNNEST(s.o.t) WITH ORDINALITY AS r(t, i)"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scoring_job", description=__doc__.splitlines()[0])
    ap.add_argument("--startup", default="group", help="group | earliest | latest | timestamp:<ms>")
    ap.add_argument("--bounded", action="store_true", help="stop at the end offsets present at start")
    ap.add_argument("--from-savepoint", metavar="PATH", help="start from this savepoint (a rescale: docs/deploy.md)")
    args = ap.parse_args(argv)
    logs.configure()
    s = Settings.from_env()
    t_env = build(s, args.startup, args.bounded, args.from_savepoint)
    if s.job.pipeline == "scoring":
        claim_new_store(s)
    logs.get("lepton.job").info("job starting", extra={"startup": args.startup, "bounded": args.bounded,
                                                     "from_savepoint": args.from_savepoint,
                                                     "parallelism": s.job.parallelism,
                                                     "group": s.job.consumer_group,
                                                     "guarantee": s.job.delivery_guarantee,
                                                     "flink_log": os.environ.get("FLINK_LOG_DIR")})
    try:
        t_env.execute_sql(INSERT).wait()
    except Exception as exc:  # the job failed for good (restarts gave up, or it could not start)
        from lepton_stream.stack.processes import root_cause

        logs.get("lepton.job").error("job failed", extra={"cause": root_cause(str(exc)),
                                                           "flink_log": os.environ.get("FLINK_LOG_DIR")})
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
