"""The alert monitor (faust-streaming): `risk-alerts` + `pipeline-metrics` -> tables -> `oncall-pages`.

Run: `python -m stream_jobs.alert_monitor` (settings from LEPTON_* as everywhere).

- Reads both topics read_committed: Faust does that only with its
  exactly-once guarantee, which also makes the table updates, the consumed
  offsets and the pages one Kafka transaction per partition (a restart
  neither double counts nor pages twice).
- Tables are one-minute tumbling windows kept as explicit
  "<epoch minute>|<key>|<source partition>" entries (alerts by severity,
  terminal, merchant; a fraud score histogram per minute), expired after
  `RETENTION_MIN` minutes. The source partition in the key keeps every key's
  changelog on one partition (the stream is keyed by card, the tables by
  minute: without it, recovery could restore another partition's count). Explicit keys let the HTTP
  views and the detection read any past minute directly; every table is
  changelogged, so a restarted monitor recovers them from Kafka before serving.
- Detection (lepton_stream/oncall/detection.py, pure) runs on each alert
  against the previous `baseline_minutes`; each page is sent once per kind and
  minute, with its evidence, to `oncall-pages`.
- Live rules: each pipeline-metrics record lists every live rule's hits in its
  window; they are counted per minute and rule (and what was last heard of
  each rule kept per partition), and a rule far above its own baseline pages
  `rule_hits_spike`, once per rule and short window
  (lepton_stream/oncall/rule_hits.py, pure).
- One instance: alerts are a few per cent of the traffic, and detection needs
  every partition's count of a minute in one place (two workers would each
  see part of a spike). Kubernetes: one replica; a restart recovers the tables.
- HTTP on `monitor_port` (6066): /health, /metrics (Prometheus), /tables (JSON),
  /ui (HTML), /models (champion and challenger compared, JSON:
  lepton_stream/oncall/model_comparison.py); Faust's own /table/<name>/ views
  too. Every response carries a strict Content-Security-Policy
  (lepton_stream/oncall/web.py).
- Input is untrusted: a record that lepton_stream/oncall/records.py rejects is
  skipped, counted (lepton_monitor_malformed_records_total{topic,reason}) and
  logged (an excerpt, never the record), and the next record is read as usual.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, StreamT, TableT
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.jsonout import dumps, finite
from lepton_stream.kafka.security import faust_credentials
from lepton_stream.observability import metrics as m
from lepton_stream.observability.metrics_http import write_target
from lepton_stream.oncall.detection import (
    SCORE_BINS,
    Page,
    baseline_minutes,
    detect,
    is_fresh,
    latency_breach,
    minute_of,
    per_minute,
    pooled_histogram,
    score_bin,
    store_lost,
    total_variation,
)
from lepton_stream.oncall.model_comparison import add_model_comparison
from lepton_stream.oncall.records import Malformed, TaskSummary, excerpt, parse_alert, parse_metrics
from lepton_stream.oncall.rule_hits import first_minute, merge_seen, paged_lately, rule_rows, rule_spike, seen
from lepton_stream.oncall.snapshot import build_snapshot, by_minute, render_html, split_key
from lepton_stream.oncall.web import security_headers

RETENTION_MIN = 120
MALFORMED_LOG_EVERY_S = 1.0  # per topic and reason: a flood of bad records is counted, not logged line by line
log = logs.get("lepton.monitor")


async def _changelog_ends(self: faust_aiokafka.AIOKafkaConsumerThread, partitions: list[TP]) -> dict[TP, int]:
    """Where table recovery must read to: the broker's end offsets, at the consumer's isolation
    level (read_committed: the last stable offset). Faust 0.15 takes the last stable offset from
    the consumer's last fetch instead, which is None for a partition not fetched yet: a monitor
    restarted before its first fetch came back with every changelog read as empty and its
    tables lost (seen in tests/integration/test_alert_monitor.py)."""
    return cast(dict[TP, int], await self._ensure_consumer().end_offsets(partitions))


def create_app(s: Settings) -> faust.App:
    faust_aiokafka.AIOKafkaConsumerThread._highwaters = _changelog_ends  # type: ignore[method-assign]
    app = faust.App(
        s.oncall.monitor_app_id,
        broker=f"kafka://{s.kafka_bootstrap}",
        broker_credentials=faust_credentials(s),  # SASL/TLS from LEPTON_KAFKA_* (docs/security.md)
        store="memory://",
        processing_guarantee="exactly_once",
        topic_partitions=s.endpoints.partitions,
        topic_replication_factor=s.security.kafka_replication_factor,
        web_host=s.endpoints.host,
        web_port=s.oncall.monitor_port,
        web_bind=s.endpoints.host,
        datadir=str(s.endpoints.home / "monitor"),
        autodiscover=False,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        web_application_options={"middlewares": [security_headers]},
    )
    alerts_topic = app.topic(s.topics.risk_alerts, key_serializer="raw", value_serializer="raw")
    metrics_topic = app.topic(s.topics.pipeline_metrics, key_serializer="raw", value_serializer="raw")
    pages_topic = app.topic(s.topics.oncall_pages, key_serializer="raw", value_serializer="raw")

    def table(name: str, default: Any = int) -> TableT:
        return app.Table(name, default=default, partitions=s.endpoints.partitions, key_type=str, value_type=None)

    severity_t = table("alerts-minute-severity")
    terminal_t = table("alerts-minute-terminal")
    merchant_t = table("alerts-minute-merchant")
    hist_t = table("scores-minute-histogram", default=None)  # "<minute>|<partition>" -> counts per score bin
    tasks_t = table("pipeline-tasks", default=None)  # task_id (the topic's key) -> its last record, summarised
    pages_t = table("pages-sent", default=None)  # Page.key -> page
    rule_hits_t = table("rule-hits-minute")  # "<minute>|<rule id>|<partition>" -> transactions matched
    rules_t = table("rules-seen", default=None)  # "<rule id>|<partition>" -> RuleSeen, as a dict
    last_pruned: dict[tuple[str, int], int] = {}  # (agent, partition) -> minute
    last_logged: dict[tuple[str, str], tuple[float, int]] = {}  # (topic, reason) -> (when, skipped since)
    parts = range(s.endpoints.partitions)

    def hist_of(minute: int) -> list[int] | None:
        found = [hist_t.get(f"{minute}|{p}") for p in parts]
        found = [h for h in found if h]
        return [sum(col) for col in zip(*found, strict=True)] if found else None

    def rate_and_hists(minute: int, first: int | None = None) -> tuple[dict[int, int], dict[int, list[int]]]:
        minutes = range(minute - s.oncall.baseline_minutes if first is None else first, minute + 1)
        hists = {k: h for k in minutes if (h := hist_of(k)) is not None}
        return {k: sum(h) for k, h in hists.items()}, hists

    async def send_page(page: Page) -> None:
        if pages_t.get(page.key) is not None or not is_fresh(page.minute, time.time_ns() // 1_000_000):
            return
        pages_t[page.key] = page.to_dict()
        await pages_topic.send(key=page.kind.encode(), value=dumps(page.to_dict()).encode())
        m.MONITOR_PAGES.labels(page.kind).inc()
        log.warning("page sent", extra={"kind": page.kind, "minute": page.minute, "summary": page.summary})

    def skip(topic: str, exc: Malformed, event: EventT) -> None:
        m.MONITOR_MALFORMED.labels(topic, exc.reason).inc()
        when, since = last_logged.get((topic, exc.reason), (0.0, 0))
        now = time.monotonic()
        if now - when < MALFORMED_LOG_EVERY_S:
            last_logged[(topic, exc.reason)] = (when, since + 1)
            return
        last_logged[(topic, exc.reason)] = (now, 0)
        value = event.value
        log.warning("malformed record skipped", extra={
            "topic": topic, "partition": event.message.partition, "offset": event.message.offset,
            "reason": exc.reason, "field": exc.field, "error": str(exc),
            "bytes": len(value) if isinstance(value, bytes | str) else None, "excerpt": excerpt(value),
            "skipped_unlogged": since})

    def prune(minute: int, part: int, agent: str, tables: tuple[TableT, ...]) -> bool:
        """Drop this partition's minutes older than the retention (tombstones in its changelog),
        once a minute per agent and partition; whether it did."""
        if last_pruned.get((agent, part)) == minute:
            return False
        last_pruned[(agent, part)] = minute
        for t in tables:
            old = [k for k in list(t.keys())
                   if k.endswith(f"|{part}") and split_key(k)[0] < minute - RETENTION_MIN]
            for key in old:
                del t[key]
        return True

    def rule_hits_of(rule_id: str, first: int, last: int) -> dict[int, int]:
        """A rule's hits per minute from `first` to `last`, every partition's added up."""
        return {k: n for k in range(first, last + 1)
                if (n := sum(rule_hits_t.get(f"{k}|{rule_id}|{p}", 0) for p in parts))}

    async def count_rules(task: TaskSummary, part: int) -> None:
        """A record's rule hits into the tables; then each of its rules against its baseline."""
        now_ms = time.time_ns() // 1_000_000
        minute = minute_of(task.window_end or now_ms)  # a record without a window end is about now
        for count in task.rule_hits:
            if count.hits:
                rule_hits_t[f"{minute}|{count.id}|{part}"] += count.hits
            key = f"{count.id}|{part}"
            before = rules_t.get(key)
            after = seen(before, count, minute).to_dict()
            if after != before:  # most records change nothing: no changelog write for those
                rules_t[key] = after
        for count in task.rule_hits:
            rule = merge_seen(rules_t.get(f"{count.id}|{p}") for p in parts)
            if rule is None or any(pages_t.get(k) is not None for k in paged_lately(rule.id, minute, s.oncall)):
                continue
            page = rule_spike(minute, rule, rule_hits_of(rule.id, first_minute(minute, s.oncall), minute), s.oncall)
            if page is not None:
                await send_page(page)
        if prune(minute, part, "rules", (rule_hits_t,)):  # and the rules no task has listed for as long
            for key, entry in list(rules_t.items()):
                rule = merge_seen([entry])
                if key.endswith(f"|{part}") and (rule is None or rule.last < minute - RETENTION_MIN):
                    del rules_t[key]

    @app.agent(alerts_topic)
    async def count_alerts(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                alert = parse_alert(event.value)
            except Malformed as exc:
                skip(s.topics.risk_alerts, exc, event)
                continue
            part = event.message.partition
            minute = minute_of(alert.alert_ts)
            sev = alert.severity
            severity_t[f"{minute}|{sev}|{part}"] += 1
            terminal_t[f"{minute}|{alert.terminal_id}|{part}"] += 1
            merchant_t[f"{minute}|{alert.merchant_id}|{part}"] += 1
            hist = list(hist_t.get(f"{minute}|{part}") or [0] * SCORE_BINS)
            hist[score_bin(alert.fraud_score)] += 1
            hist_t[f"{minute}|{part}"] = hist
            m.MONITOR_ALERTS.labels(sev).inc()
            rate, hists = rate_and_hists(minute)
            base = baseline_minutes(minute, s.oncall.baseline_minutes)
            m.MONITOR_ALERT_RATE.set(rate.get(minute - 1, 0))
            m.MONITOR_BASELINE_RATE.set(statistics.median(per_minute(rate, base)))
            m.MONITOR_SCORE_DRIFT.set(total_variation(hists.get(minute, [0] * SCORE_BINS),
                                                      pooled_histogram(hists, base)))
            for page in detect(minute, rate, hists, baseline_n=s.oncall.baseline_minutes, factor=s.oncall.spike_factor,
                               min_alerts=s.oncall.spike_min_alerts, drift_threshold=s.oncall.drift_threshold):
                await send_page(page)
            prune(minute, part, "alerts", (severity_t, terminal_t, merchant_t, hist_t))

    @app.agent(metrics_topic)
    async def watch_pipeline(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                task = parse_metrics(event.value)
            except Malformed as exc:
                skip(s.topics.pipeline_metrics, exc, event)
                continue
            tasks_t[task.task_id] = task.to_dict()
            m.MONITOR_METRICS_RECORDS.inc()
            if task.p99_ms is not None:
                m.MONITOR_PIPELINE_P99.set(task.p99_ms / 1000.0)
            minute = minute_of(task.window_end or 0)
            for page in (latency_breach(minute, task.p99_ms, s.oncall.latency_slo_ms, task.task_id),
                         store_lost(minute, task.feature_store, task.feature_store_reason, task.task_id)):
                if page is not None:
                    await send_page(page)
            await count_rules(task, event.message.partition)

    def snapshot() -> dict[str, Any]:
        latest = max([split_key(k)[0] for k in hist_t.keys()] + [0])
        now = max(minute_of(time.time_ns() // 1_000_000), latest)
        _, hists = rate_and_hists(now, first=now - max(15, s.oncall.baseline_minutes))
        per_rule: dict[str, dict[int, int]] = {}
        for k, counts in by_minute(rule_hits_t.items()).items():
            for rule_id, n in counts.items():
                per_rule.setdefault(rule_id, {})[k] = n
        seen_by_id: dict[str, list] = {}
        for key, entry in rules_t.items():
            seen_by_id.setdefault(key.rpartition("|")[0], []).append(entry)
        rules = {rule_id: r for rule_id, entries in seen_by_id.items() if (r := merge_seen(entries)) is not None}
        return build_snapshot(now, severity_t.items(), terminal_t.items(), merchant_t.items(), hists,
                              dict(tasks_t.items()), [v for _, v in pages_t.items()],
                              rules=rule_rows(now, rules, per_rule, s.oncall))

    add_model_comparison(app, s)  # champion and challenger: gauges and /models

    @app.page("/health")
    async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # Faust serves HTTP before its tables are recovered: until then the tables would
        # read empty, so health says 503 and readiness probes (tests, k8s) wait.
        # Recovery also "completes" on an empty assignment (a rebalance still in
        # progress): ready only once this instance owns the alerts topic too.
        assigned = {tp.topic for tp in app.consumer.assignment()}
        recovered = (cast(Any, app.tables).recovery.completed.is_set() and not app.rebalancing and not app.in_recovery
                     and s.topics.risk_alerts in assigned)
        body = {"status": "ok" if recovered else "recovering", "app": s.oncall.monitor_app_id,
                "tables_recovered": recovered, "alert_minutes": len(hist_t), "pages": len(pages_t)}
        return web.json(body, status=200 if recovered else 503)

    @app.page("/metrics")
    async def prom(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/tables")
    async def tables(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.json(finite(snapshot()))

    @app.page("/ui")
    async def ui(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.html(render_html(snapshot()))

    return app


def main() -> int:
    logs.configure()
    s = Settings.from_env()
    app = create_app(s)
    m.PROCESS.info({"role": "monitor", "pid": str(os.getpid())})
    write_target(s, "monitor", s.oncall.monitor_port)  # the local Prometheus finds /metrics on the web port
    log.info("alert monitor starting", extra={"port": s.oncall.monitor_port, "broker": s.kafka_bootstrap})
    # Faust (mode) replaces the logging setup when its worker starts: give it ours,
    # so the monitor logs JSON lines like every other Lepton process.
    json_logs = {"version": 1, "disable_existing_loggers": False,
                 "formatters": {"json": {"()": "lepton_stream.logs.JsonFormatter"}},
                 "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json",
                                          "stream": "ext://sys.stderr"}},
                 "root": {"level": "INFO", "handlers": ["default"]}}
    worker = faust.Worker(app, loglevel="info", quiet=True, logging_config=json_logs)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
