"""Every Prometheus metric Lepton Stream exports, defined once.

Conventions (https://prometheus.io/docs/practices/naming/): a `lepton_`
prefix, the unit in the name (`_seconds`, `_bytes`, `_messages`, `_events`),
`_total` on counters (the client adds it). Labels have small, closed value
sets (topic, severity, DLQ reason code, call, component): never a card,
terminal or transaction id, so neither card tokens nor cardinality leak.

The Grafana dashboard and the alerting rules name these metrics; a unit test
checks every query there against `metric_names()`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

# Event time -> score: tens of ms when idle up to seconds behind a backlog.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)
CALL_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000)

# --- scoring job (each Python worker) and the consumer loop ------------------
EVENTS_IN = Counter("lepton_events_in", "Records the pipeline received, by source topic", ["topic"])
EVENTS_OUT = Counter("lepton_events_out", "Records the pipeline wrote, by destination topic", ["topic"])
SCORES = Counter("lepton_scores", "Transactions scored")
ALERTS = Counter("lepton_alerts", "Risk alerts written, by severity", ["severity"])
DLQ = Counter("lepton_dlq", "Events sent to the dead-letter topic, by reason code", ["reason"])
LABELS = Counter("lepton_labels", "Fraud labels applied or kept pending")
DUPLICATES = Counter("lepton_duplicates", "Exact repeats of an already scored transaction (same tx_id and content), "
                     "dropped")
EVENT_TO_SCORE = Histogram("lepton_event_to_score_latency_seconds",
                           "Event time to score time of each scored transaction", buckets=LATENCY_BUCKETS_S)
CALL_SECONDS = Histogram("lepton_call_seconds", "One call to a dependency, retries included (redis, triton)",
                         ["call"], buckets=CALL_BUCKETS_S)
STAGE_SECONDS = Histogram("lepton_stage_seconds", "Time of one pipeline stage on one batch", ["stage"],
                          buckets=CALL_BUCKETS_S)
BATCH_SIZE = Histogram("lepton_batch_size_events", "Records per batch the pipeline ran", buckets=BATCH_BUCKETS)
RETRIES = Counter("lepton_retries", "Failed calls that were retried, by dependency", ["call"])
CALL_FAILURES = Counter("lepton_call_failures", "Calls that failed after the last retry, by dependency", ["call"])
CONSUMER_LAG = Gauge("lepton_consumer_lag_messages", "End offset minus next offset to read",
                     ["topic", "partition"])
LAST_EVENT = Gauge("lepton_last_event_timestamp_seconds", "Wall time the pipeline last received a record")
FEATURE_STORE_PAUSED = Gauge("lepton_feature_store_paused_seconds", "How long this task has been paused because the "
                             "feature store lost its state (0: not paused; docs/oncall.md)")
FEATURE_STORE_LOSSES = Counter("lepton_feature_store_losses", "Times this task found the feature store lost")
RULE_HITS = Counter("lepton_rule_hits", "Transactions a live rule matched, by rule id (a few ids, chosen by "
                    "people: never card data)", ["rule"])
MODEL = Info("lepton_model", "Model version the pipeline last scored with", ["model"])
MODEL_VERSION = Gauge("lepton_model_version", "Model version the pipeline last scored with (number)", ["model"])
CHALLENGER_FAILURES = Counter("lepton_challenger_failures", "Scoring requests of the challenger model that failed "
                              "(its scores null for that chunk; the champion's stand)")

# --- the load generator (producers) ---------------------------------------------------
PRODUCER_SENT = Counter("lepton_producer_sent", "Events the load generator handed to Kafka", ["topic"])
PRODUCER_DELIVERED = Counter("lepton_producer_delivered", "Events the broker acknowledged")
PRODUCER_ERRORS = Counter("lepton_producer_errors", "Events the broker refused or that timed out")
PRODUCER_ACK_LATENCY = Histogram("lepton_producer_ack_latency_seconds", "Produce to broker acknowledgement",
                                 buckets=CALL_BUCKETS_S)
PRODUCER_TARGET_RATE = Gauge("lepton_producer_target_rate_events_per_second", "Rate the producer aims at")

# --- local stack manager's exporter (probes each part when scraped) --------------
COMPONENT_UP = Gauge("lepton_component_up", "1 if the part answers its health probe", ["component"])
COMPONENT_PROBE_SECONDS = Gauge("lepton_component_probe_seconds", "Time of the last health probe", ["component"])
REDIS_MEMORY = Gauge("lepton_redis_used_memory_bytes", "Redis INFO used_memory")
REDIS_KEYS = Gauge("lepton_redis_keys", "Keys in the feature store database")
# The scoring job, from its Flink REST API (the exporter's probe; NaN while no job answers).
JOB_UP = Gauge("lepton_job_up", "1 if the scoring job answers its REST API and is RUNNING")
JOB_CHECKPOINT_AGE = Gauge("lepton_job_checkpoint_age_seconds",
                           "Seconds since the scoring job last completed a checkpoint (since it started, if none "
                           "yet): its outputs become readable only then")
JOB_CHECKPOINT_INTERVAL = Gauge("lepton_job_checkpoint_interval_seconds", "The scoring job's checkpoint interval")
JOB_RESTARTS = Gauge("lepton_job_restarts_total", "Restarts of the running scoring job (Flink's numRestarts)")

# --- alert monitor -----------------------------------------------------------------
MONITOR_ALERTS = Counter("lepton_monitor_alerts_seen", "Alerts the monitor consumed, by severity", ["severity"])
MONITOR_METRICS_RECORDS = Counter("lepton_monitor_pipeline_metrics_records",
                                  "pipeline-metrics records the monitor consumed")
MONITOR_MALFORMED = Counter("lepton_monitor_malformed_records",
                            "Records the monitor skipped as malformed, by topic and reason "
                            "(lepton_stream/oncall/records.py REASONS)", ["topic", "reason"])
MONITOR_PAGES = Counter("lepton_monitor_pages", "Pages published to oncall-pages, by kind", ["kind"])
MONITOR_ALERT_RATE = Gauge("lepton_monitor_alert_rate_per_minute", "Alerts in the last complete minute")
MONITOR_BASELINE_RATE = Gauge("lepton_monitor_alert_baseline_per_minute", "Median alerts per minute, baseline")
MONITOR_SCORE_DRIFT = Gauge("lepton_monitor_score_drift_ratio",
                            "Total variation distance of the last minute's score histogram vs the baseline")
MONITOR_PIPELINE_P99 = Gauge("lepton_monitor_pipeline_latency_p99_seconds",
                             "Largest p99 latency among the last pipeline-metrics records")
# The champion and challenger fraud models compared by the alert monitor (lepton_stream/models/compare.py).
MODEL_ALERT_RATE = Gauge("lepton_model_alert_ratio", "Share of the comparison window's events the model alerts on",
                         ["role", "version"])
MODEL_AUC = Gauge("lepton_model_auc_roc_ratio", "AUC ROC over the labelled window", ["role", "version"])
MODEL_AP = Gauge("lepton_model_average_precision_ratio", "Average precision over the labelled window",
                 ["role", "version"])
MODEL_AGREEMENT = Gauge("lepton_model_agreement_ratio", "Share of the window's events where champion and challenger "
                        "both alert or neither does")
MODEL_LABELLED = Gauge("lepton_model_labelled_events", "Events in the labelled window of the comparison")

# --- every process --------------------------------------------------------------------
PROCESS = Info("lepton_process", "What this Lepton process is")


# Triton's own metrics (its :8002 endpoint) that rules and dashboards use.
TRITON_METRICS = frozenset({
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
    "nv_inference_pending_request_count",
    "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us", "nv_gpu_utilization", "nv_gpu_memory_used_bytes",
    "nv_cpu_utilization", "nv_cpu_memory_used_bytes",
})


def observe_many(hist: Histogram, values: Iterable[float] | np.ndarray, **labels: str) -> None:
    """Observe a whole batch at once. Calling `observe()` per event costs a lock
    and a bucket search each (~2-3 us): at tens of thousands of events a second
    that is a visible share of the job, so buckets are counted with numpy and
    each bucket is incremented once per batch."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        return
    child = hist.labels(**labels) if labels else hist
    uppers = np.asarray(child._upper_bounds)  # ends with +Inf
    counts = np.bincount(np.searchsorted(uppers, arr, side="left"), minlength=len(uppers))
    try:
        buckets, total = child._buckets, child._sum
    except AttributeError:  # a client whose internals moved: slow but correct
        for v in arr:
            child.observe(float(v))
        return
    for i in np.flatnonzero(counts):
        buckets[i].inc(float(counts[i]))
    total.inc(float(arr.sum()))


def metric_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """Every sample name the registry can expose (`_total`, `_bucket`, `_info`, ...)."""
    names: set[str] = set()
    for collector in list(registry._collector_to_names):  # noqa: SLF001 - the only public way is a scrape
        names.update(registry._collector_to_names[collector])
    return {n for n in names if n.startswith("lepton_")}
