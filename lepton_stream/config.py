"""The one configuration object, read from `LEPTON_*` environment variables.

Every process (CLI, job, workers, tests) builds its `Settings` with
`Settings.from_env()`; a child process gets the same view through `to_env()`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints
from urllib.parse import quote

from lepton_stream.features.definitions import DAY_MS

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A LEPTON_* value that cannot be used: its message names the variable, the value
    and what is allowed, in one line."""


PipelineKind = Literal["scoring", "passthrough"]
DeliveryGuarantee = Literal["exactly-once", "at-least-once", "none"]
WorkerMode = Literal["process", "loopback"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
ModelConfigVariant = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class Topics:
    """Topic names of docs/design.md; each one overridable (LEPTON_TOPIC_<NAME>)."""

    transactions: str = "transactions"
    fraud_labels: str = "fraud-labels"
    scores: str = "scores"
    risk_alerts: str = "risk-alerts"
    pipeline_metrics: str = "pipeline-metrics"
    dlq: str = "transactions-dlq"
    oncall_pages: str = "oncall-pages"  # the alert monitor's pages

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True)
class Settings:
    home: Path = REPO_ROOT / ".lepton"
    # Jars fetched by `make setup` (Kafka broker, Flink connector); shared by every home.
    lib_dir: Path = REPO_ROOT / ".lepton" / "lib"
    model_repo: Path = REPO_ROOT / "model_repo"
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    partitions: int = 2
    kafka_heap_mb: int = 512
    # Scoring job knobs: bigger batches amortise the Python and Triton round
    # trips, smaller bundle time bounds the latency a record waits in a batch.
    parallelism: int = 1
    # The local job's Flink REST API (its MiniCluster), on `host`: where
    # `lepton-stream run --rescale` finds the running job to stop it with a savepoint.
    flink_rest_port: int = 8081
    arrow_batch_size: int = 2000
    bundle_time_ms: int = 50
    bundle_size: int = 5000
    triton_batch: int = 4096
    python_worker_mode: WorkerMode = "process"  # or "loopback": workers inside the local driver process
    # "scoring", or "passthrough": parse and emit a bare score per event, no Redis, no
    # Triton; the benchmark's floor of what the data plane alone costs on a machine.
    pipeline: PipelineKind = "scoring"
    checkpoint_interval_ms: int = 2000
    delivery_guarantee: DeliveryGuarantee = "exactly-once"
    # An open transaction of a killed job blocks read_committed readers until it is
    # aborted (the restarted job does) or times out: keep it short, above checkpoint time.
    transaction_timeout_ms: int = 60_000
    metrics_interval_s: float = 5.0  # how often each task writes to `pipeline-metrics`
    consumer_group: str = "lepton-scoring"
    jvm_heap_mb: int = 768
    # How long a card's applied transactions are remembered, so that a replay after a
    # failure (from the last checkpoint) counts nothing twice: longer than any outage.
    replay_horizon_s: int = 7 * 86_400
    retry_attempts: int = 8
    retry_base_s: float = 0.2
    # `lepton-stream model publish` refuses a candidate that does worse than the version
    # serving now on a held-out simulated world (lepton_stream/models/gate.py): fraud
    # average precision lower by more than this (absolute), fraud alert rate at
    # alert_threshold off by more than this share of the serving one, credit AUC lower
    # by more than this (absolute). `--force` publishes anyway.
    publish_max_ap_drop: float = 0.02
    publish_max_alert_rate_change: float = 0.5
    publish_max_auc_drop: float = 0.02
    model_config_variant: ModelConfigVariant = "cpu"  # gpu: each model's config.pbtxt (TensorRT)
    alert_threshold: float = 0.5
    # Plausibility of what feeds state (lepton_stream/schemas/transaction.py `Limits`):
    # beyond these an event goes to the DLQ with its reason.
    max_amount: float = 1_000_000.0
    max_abs_coordinate: float = 1_000.0
    max_future_ms: int = 300_000  # ahead of the job's clock
    # Ahead of the median of the stream's latest events. At most a day: the store
    # keeps buckets a day past the widest window for late events, so an event this
    # far ahead of the others cannot make their windows lose buckets.
    max_ahead_of_stream_ms: int = DAY_MS
    # --- On call: Prometheus exporters and the alert monitor. ---
    # Several Python workers of one job each try job_metrics_port, +1, ... up
    # to metrics_port_span ports (see observability/metrics_http.py).
    job_metrics_port: int = 9250
    producer_metrics_port: int = 9251
    stack_metrics_port: int = 9252
    metrics_port_span: int = 8
    monitor_port: int = 6066  # Faust alert monitor: /health, /metrics, /tables, /ui
    monitor_app_id: str = "lepton-alert-monitor"
    prometheus_port: int = 9090
    latency_slo_ms: float = 1000.0  # event time -> score, p99
    spike_factor: float = 3.0  # alert rate / baseline rate that pages
    spike_min_alerts: int = 20  # ...with at least this many alerts in the minute
    drift_threshold: float = 0.25  # total variation distance of score histograms that pages
    baseline_minutes: int = 15
    # --- Deployment and security: docs/security.md -------------------
    # Where each service is. Empty = `host` (the one-machine stack). In compose and
    # Kubernetes every service has its own name and `host` stays this process's
    # own bind address (metrics, monitor), e.g. 0.0.0.0.
    kafka_host: str = ""
    redis_host: str = ""
    triton_host: str = ""
    # Kafka: PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL, mapped for every client by
    # lepton_stream/kafka/security.py. Secrets come from files (mounted Secrets)
    # or the environment (secretKeyRef), never from the repository.
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: str = ""
    kafka_password_file: str = ""  # wins over kafka_password when set
    kafka_ca_file: str = ""  # PEM bundle of the CA that signed the brokers' certificates
    # Redis ACL user and TLS (rediss://).
    redis_username: str = ""
    redis_password: str = ""
    redis_password_file: str = ""  # wins over redis_password when set
    redis_tls: bool = False
    redis_ca_file: str = ""
    # Redis Cluster: the redis_host:redis_port node is a seed; the store finds every
    # master from it and routes each entity's keys (one hash tag, one slot) to its own.
    redis_cluster: bool = False
    # Replication of the topics our own clients create (the monitor's changelogs):
    # 1 on one broker; as the cluster's default.replication.factor elsewhere (prod: 3),
    # or min.insync.replicas would refuse their writes.
    kafka_replication_factor: int = 1
    # Triton's model-repository API (load, unload, index) answers only requests that
    # carry this key (lepton_stream/models/triton_key.py): `up` generates it, `model
    # publish` sends it. Empty = <home>/secrets/triton-api-key; compose and Kubernetes
    # mount it from a Secret.
    triton_api_key_file: str = ""
    # --- end of deployment and security ---------------------------------------
    topics: Topics = field(default_factory=Topics)

    def __post_init__(self) -> None:
        for name, allowed in _choices().items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(f"LEPTON_{name.upper()}={value!r}: must be one of {', '.join(allowed)}")
        if not 0 < self.max_ahead_of_stream_ms <= DAY_MS:
            raise SettingsError(f"LEPTON_MAX_AHEAD_OF_STREAM_MS={self.max_ahead_of_stream_ms}: must be in 1..{DAY_MS} "
                             "(the store's one-day slack for late events)")
        for name in ("max_amount", "max_abs_coordinate", "max_future_ms"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"LEPTON_{name.upper()}={getattr(self, name)}: must be positive")
        _check_publish_margins(self)

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host or self.host}:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        """The redis-py URL, credentials included: pass it to clients, never print it
        (print `redis_url_redacted`)."""
        return _redis_url(self, redact=False)

    @property
    def redis_url_redacted(self) -> str:
        return _redis_url(self, redact=True)

    @property
    def triton_grpc(self) -> str:
        return f"{self.triton_host or self.host}:{self.triton_grpc_port}"

    @property
    def triton_http(self) -> str:
        return f"http://{self.triton_host or self.host}:{self.triton_http_port}"

    @property
    def triton_api_key_path(self) -> Path:
        return Path(self.triton_api_key_file) if self.triton_api_key_file else self.home / "secrets" / "triton-api-key"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "topics":
                continue
            raw = env.get(f"LEPTON_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(cls.__dataclass_fields__[f.name].default, raw, f.name)
                # A choice in another case (`ssl`) is taken in its own spelling.
                allowed = _choices().get(f.name, ())
                spelled = [a for a in allowed if a.lower() == raw.lower()]
                if raw not in allowed and spelled:
                    values[f.name] = spelled[0]
        topic_values = {
            t.name: env[f"LEPTON_TOPIC_{t.name.upper()}"]
            for t in fields(Topics)
            if f"LEPTON_TOPIC_{t.name.upper()}" in env
        }
        values["topics"] = Topics(**topic_values)
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        out = {
            f"LEPTON_{f.name.upper()}": str(getattr(self, f.name))
            for f in fields(self)
            if f.name != "topics"
        }
        out.update({f"LEPTON_TOPIC_{t.name.upper()}": getattr(self.topics, t.name) for t in fields(Topics)})
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def secret_value(value: str, path: str, what: str) -> str:
    """A secret from its file (a mounted Kubernetes Secret, a compose secret) when
    `path` is set, else the value itself. Trailing newlines are not part of it."""
    if not path:
        return value
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{what}: cannot read secret file {path}: {exc.strerror}") from None


def _check_publish_margins(s: Settings) -> None:
    for name, high in (("publish_max_ap_drop", 1.0), ("publish_max_auc_drop", 1.0),
                       ("publish_max_alert_rate_change", float("inf"))):
        value = getattr(s, name)
        # NaN compares false with everything: `not` catches it with the range.
        if not 0.0 <= value < float("inf") or value > high:
            bound = f"from 0 to {high:g}" if high < float("inf") else "0 or more"
            raise SettingsError(f"LEPTON_{name.upper()}={value}: must be a number {bound}")


def _redis_url(s: Settings, redact: bool) -> str:
    scheme = "rediss" if s.redis_tls else "redis"
    password = secret_value(s.redis_password, s.redis_password_file, "LEPTON_REDIS_PASSWORD_FILE")
    auth = ""
    if s.redis_username or password:
        shown = "***" if redact and password else quote(password, safe="")
        auth = f"{quote(s.redis_username, safe='')}:{shown}@" if password else f"{quote(s.redis_username, safe='')}@"
    query = ""
    if s.redis_tls:
        # redis-py reads these from the URL; certificates are always verified.
        query = "?ssl_cert_reqs=required" + (f"&ssl_ca_certs={quote(s.redis_ca_file)}" if s.redis_ca_file else "")
    return f"{scheme}://{auth}{s.redis_host or s.host}:{s.redis_port}/0{query}"


def _coerce(default: Any, raw: str, name: str) -> Any:
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"LEPTON_{name.upper()}={raw!r}: {exc}") from None
    return raw


@lru_cache(maxsize=1)
def _choices() -> dict[str, tuple[str, ...]]:
    """The fields whose type is a Literal, with their allowed values."""
    return {name: get_args(hint) for name, hint in get_type_hints(Settings).items()
            if getattr(hint, "__origin__", None) is Literal}
