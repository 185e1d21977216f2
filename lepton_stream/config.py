"""The one configuration object, read from `LEPTON_*` environment variables.

Every process (CLI, job, workers, tests) builds its `Settings` with
`Settings.from_env()`; a child process gets the same view through `to_env()`.
The settings are grouped in sections (`s.endpoints`, `s.job`, ...); their variables
are not: `LEPTON_<NAME>` whatever the section.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints
from urllib.parse import quote

from lepton_stream.features.definitions import DAY_MS, TERMINAL_WINDOWS

REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A LEPTON_* value that cannot be used: its message names the variable, the value
    and what is allowed, in one line."""


PipelineKind = Literal["scoring", "passthrough"]
DeliveryGuarantee = Literal["exactly-once", "at-least-once", "none"]
WorkerMode = Literal["process", "loopback"]
TransactionNaming = Literal["incrementing", "pooling"]
JitMode = Literal["c1", "tiered"]
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
    credit_profiles: str = "credit-profiles"  # reference data, compacted: the latest profile per card
    rules: str = "rules"  # live fraud rules, compacted: the latest version per rule id

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


class _Section:
    """A group of settings, each set by `LEPTON_<NAME>`; a Literal field checks its value."""

    def __post_init__(self) -> None:
        for name, allowed in _choices(type(self)).items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(f"LEPTON_{name.upper()}={value!r}: must be one of {', '.join(allowed)}")


@dataclass(frozen=True)
class Endpoints(_Section):
    """Where each part of the stack is: the local stack's paths, hosts and ports, and the
    local Kafka broker's size."""

    home: Path = REPO_ROOT / ".lepton"
    # Jars fetched by `make setup` (Kafka broker, Flink connector); shared by every home.
    lib_dir: Path = REPO_ROOT / ".lepton" / "lib"
    model_repo: Path = REPO_ROOT / "model_repo"
    host: str = "127.0.0.1"
    # Where each service is. Empty = `host` (the one-machine stack). In compose and
    # Kubernetes every service has its own name and `host` stays this process's
    # own bind address (metrics, monitor), e.g. 0.0.0.0.
    kafka_host: str = ""
    redis_host: str = ""
    triton_host: str = ""
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    # Redis Cluster: the redis_host:redis_port node is a seed; the store finds every
    # master from it and routes each entity's keys (one hash tag, one slot) to its own.
    redis_cluster: bool = False
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    partitions: int = 2
    kafka_heap_mb: int = 512


@dataclass(frozen=True)
class Security(_Section):
    """Credentials and TLS of every client, and what our own clients create: docs/security.md."""

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
    # Replication of the topics our own clients create (the monitor's changelogs):
    # 1 on one broker; as the cluster's default.replication.factor elsewhere (prod: 3),
    # or min.insync.replicas would refuse their writes.
    kafka_replication_factor: int = 1
    # Triton's model-repository API (load, unload, index) answers only requests that
    # carry this key (lepton_stream/models/triton_key.py): `up` generates it, `model
    # publish` sends it. Empty = <home>/secrets/triton-api-key; compose and Kubernetes
    # mount it from a Secret.
    triton_api_key_file: str = ""


@dataclass(frozen=True)
class Job(_Section):
    """The scoring job: its Flink run, batching, delivery and retries."""

    parallelism: int = 1
    # The local job's Flink REST API (its MiniCluster), on `host`: where
    # `lepton-stream run --rescale` finds the running job to stop it with a savepoint.
    flink_rest_port: int = 8081
    # Bigger batches amortise the Python and Triton round trips, smaller bundle time
    # bounds the latency a record waits in a batch.
    arrow_batch_size: int = 2000
    bundle_time_ms: int = 50
    bundle_size: int = 5000
    # How long a record may wait in a network buffer between Flink tasks before the
    # buffer is sent part full: the sources and the batch step are separate tasks, so
    # every event crosses one. Flink's 100 ms default added its own wait to every alert
    # (the bench's alert_knobs); 0 sends each record on its own.
    buffer_timeout_ms: int = 5
    triton_batch: int = 4096
    python_worker_mode: WorkerMode = "process"  # or "loopback": workers inside the local driver process
    # "scoring", or "passthrough": parse and emit a bare score per event, no Redis, no
    # Triton; the benchmark's floor of what the data plane alone costs on a machine.
    pipeline: PipelineKind = "scoring"
    # How often outputs commit, so how soon a read_committed reader sees them: chosen by
    # the bench's alert_latency (benchmarks/results/pipeline.json, docs/performance.md).
    checkpoint_interval_ms: int = 200
    delivery_guarantee: DeliveryGuarantee = "exactly-once"
    # Kafka transactional ids of the exactly-once sink: a new one per checkpoint
    # ("incrementing"), or a small pool reused ("pooling": no new producer id per checkpoint).
    transaction_naming: TransactionNaming = "incrementing"
    # An open transaction of a killed job blocks read_committed readers until it is
    # aborted (the restarted job does) or times out: keep it short, above checkpoint time.
    transaction_timeout_ms: int = 60_000
    metrics_interval_s: float = 5.0  # how often each task writes to `pipeline-metrics`
    consumer_group: str = "lepton-scoring"
    jvm_heap_mb: int = 768
    # The JVM that `lepton-stream` starts for the job (MiniCluster, local cluster): "c1"
    # compiles with the quick compiler only, so a started or restarted job reaches its
    # speed in seconds instead of spending most of a core for minutes compiling with C2
    # (docs/performance.md); "tiered", the JVM's default, suits a job that runs long on
    # cores of its own.
    jvm_jit: JitMode = "c1"
    # That JVM maps the classes it loads from an archive recorded once, at set-up
    # (lepton_stream/stack/flink_cds.py), so a job starts sooner (docs/performance.md,
    # "Starting a job"). The archive is kept beside the installed jars.
    jvm_class_archive: bool = True
    # How long a card's applied transactions are remembered, so that a replay after a
    # failure (from the last checkpoint) counts nothing twice: longer than any outage.
    replay_horizon_s: int = 7 * 86_400
    # What the store keeps per transaction (its claim, for one to two replay horizons, and
    # its card's and terminal's `seen` entries, per day and week) is fields of this many
    # hashes per period, each packed up to 128 fields: docs/deploy.md, "Sizing".
    hash_shards: int = 1024
    retry_attempts: int = 8
    retry_base_s: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.replay_horizon_s >= 60:
            raise SettingsError(f"LEPTON_REPLAY_HORIZON_S={self.replay_horizon_s}: must be at least 60 "
                                "(longer than any outage the job may be restarted after)")
        if not 1 <= self.hash_shards <= 2**26:
            raise SettingsError(f"LEPTON_HASH_SHARDS={self.hash_shards}: must be in 1..{2**26}")
        if not 0 <= self.buffer_timeout_ms <= 60_000:
            raise SettingsError(f"LEPTON_BUFFER_TIMEOUT_MS={self.buffer_timeout_ms}: must be in 0..60000")


@dataclass(frozen=True)
class InputLimits(_Section):
    """Plausibility of what feeds state (lepton_stream/schemas/transaction.py `Limits`):
    beyond these an event goes to the DLQ with its reason."""

    max_amount: float = 1_000_000.0
    max_abs_coordinate: float = 1_000.0
    max_future_ms: int = 300_000  # ahead of the job's clock
    # Ahead of the median of the latest events of its partition. At most a day: the store
    # keeps buckets a day past the widest window for late events, so an event this
    # far ahead of the others cannot make their windows lose buckets.
    max_ahead_of_stream_ms: int = DAY_MS

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.max_ahead_of_stream_ms <= DAY_MS:
            raise SettingsError(f"LEPTON_MAX_AHEAD_OF_STREAM_MS={self.max_ahead_of_stream_ms}: must be in 1..{DAY_MS} "
                                "(the store's one-day slack for late events)")
        for name in ("max_amount", "max_abs_coordinate", "max_future_ms"):
            if not getattr(self, name) > 0:
                raise SettingsError(f"LEPTON_{name.upper()}={getattr(self, name)}: must be positive")


@dataclass(frozen=True)
class Models(_Section):
    """The models served: what a score must reach to alert, which Triton configs, and the
    gate of `lepton-stream model publish`."""

    alert_threshold: float = 0.5
    model_config_variant: ModelConfigVariant = "cpu"  # gpu: each model's config.pbtxt (TensorRT)
    # `lepton-stream model publish` refuses a candidate that does worse than the version
    # serving now on a held-out simulated world (lepton_stream/models/gate.py): fraud
    # average precision lower by more than this (absolute), fraud alert rate at
    # alert_threshold off by more than this share of the serving one, credit AUC lower
    # by more than this (absolute). `--force` publishes anyway.
    publish_max_ap_drop: float = 0.02
    publish_max_alert_rate_change: float = 0.5
    publish_max_auc_drop: float = 0.02
    # The champion/challenger comparison (lepton_stream/models/compare.py): alert rates and
    # agreement over this much event time up to the newest event; AUC and AP over this much
    # before the maturity point (the newest event less label_maturity_hours).
    compare_window_hours: float = 24.0
    # A transaction with no fraud label this long after it counts as genuine: the delay
    # the terminal features already assume for labels.
    label_maturity_hours: float = TERMINAL_WINDOWS.delay_days * 24.0
    compare_max_events: int = 500_000  # events the comparison keeps in memory at most (the oldest go first)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, high in (("publish_max_ap_drop", 1.0), ("publish_max_auc_drop", 1.0),
                           ("publish_max_alert_rate_change", float("inf"))):
            value = getattr(self, name)
            # NaN compares false with everything: `not` catches it with the range.
            if not 0.0 <= value < float("inf") or value > high:
                bound = f"from 0 to {high:g}" if high < float("inf") else "0 or more"
                raise SettingsError(f"LEPTON_{name.upper()}={value}: must be a number {bound}")
        for name in ("compare_window_hours", "compare_max_events", "label_maturity_hours"):
            value = getattr(self, name)
            if not 0 <= value < float("inf") or (value == 0 and name != "label_maturity_hours"):
                raise SettingsError(f"LEPTON_{name.upper()}={value}: must be a positive number"
                                    + (" or 0" if name == "label_maturity_hours" else ""))


@dataclass(frozen=True)
class Oncall(_Section):
    """On call: the Prometheus exporters, the alert monitor and what pages (docs/oncall.md)."""

    # Several Python workers of one job each try job_metrics_port, +1, ... up
    # to metrics_port_span ports (see observability/metrics_http.py).
    job_metrics_port: int = 9250
    producer_metrics_port: int = 9251
    stack_metrics_port: int = 9252
    metrics_port_span: int = 8
    monitor_port: int = 6066  # Faust alert monitor: /health, /metrics, /tables, /ui
    monitor_app_id: str = "lepton-alert-monitor"
    prometheus_port: int = 9090
    # The scoring job's Flink REST API (host:port), which `status` and the stack exporter
    # read: its state, restarts and checkpoints. Empty: this host's flink_rest_port,
    # where a local job (`lepton-stream run`) serves it.
    job_rest_address: str = ""
    latency_slo_ms: float = 1000.0  # event time -> score, p99
    spike_factor: float = 3.0  # alert rate / baseline rate that pages
    spike_min_alerts: int = 20  # ...with at least this many alerts in the minute
    drift_threshold: float = 0.25  # total variation distance of score histograms that pages
    baseline_minutes: int = 15
    # When a live rule pages (rule_hits_spike). LeptonRuleHitsSpike in
    # monitoring/prometheus/rules/lepton.rules.yml uses the same numbers
    # (tests/unit/test_monitoring_config.py checks that they agree).
    rule_spike_window_min: int = 5  # A rule's hits over the last this many minutes (the short window)...
    rule_baseline_min: int = 60  # ...are compared with its rate over this many minutes before them...
    rule_spike_factor: float = 5.0  # ...and page when over this many times that rate...
    rule_spike_min_hits: int = 50  # ...and at least this many: a rule going from 0 to 2 hits is not news
    rule_grace_min: int = 60  # a rule first seen less than this long ago never pages (no baseline yet)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.job_rest_address:
            host, _, port = self.job_rest_address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in self.job_rest_address:
                raise SettingsError(f"LEPTON_JOB_REST_ADDRESS={self.job_rest_address!r}: must be host:port "
                                    "(the Flink REST API, no scheme or path), or empty for the local job")
        for name in ("rule_spike_window_min", "rule_baseline_min", "rule_spike_factor", "rule_spike_min_hits"):
            if not getattr(self, name) > 0:  # NaN too
                raise SettingsError(f"LEPTON_{name.upper()}={getattr(self, name)}: must be positive")
        if self.rule_grace_min < 0:
            raise SettingsError(f"LEPTON_RULE_GRACE_MIN={self.rule_grace_min}: must be 0 or more")


@dataclass(frozen=True)
class Settings:
    """Every setting, in sections: `s.endpoints.redis_port`, `s.job.parallelism`.

    A setting's variable is `LEPTON_` and its name (a topic's `LEPTON_TOPIC_` and its
    name), whatever its section: sections group the code, not the environment. For the
    same reason `from_env(**overrides)` and `replace(**changes)` take each setting by its
    own name (`replace(parallelism=2, redis_port=7000)`), and a whole section by the
    section's (`replace(topics=Topics(...))`)."""

    endpoints: Endpoints = field(default_factory=Endpoints)
    security: Security = field(default_factory=Security)
    job: Job = field(default_factory=Job)
    limits: InputLimits = field(default_factory=InputLimits)
    models: Models = field(default_factory=Models)
    oncall: Oncall = field(default_factory=Oncall)
    topics: Topics = field(default_factory=Topics)

    @property
    def kafka_bootstrap(self) -> str:
        e = self.endpoints
        return f"{e.kafka_host or e.host}:{e.kafka_port}"

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
        e = self.endpoints
        return f"{e.triton_host or e.host}:{e.triton_grpc_port}"

    @property
    def triton_http(self) -> str:
        e = self.endpoints
        return f"http://{e.triton_host or e.host}:{e.triton_http_port}"

    @property
    def triton_api_key_path(self) -> Path:
        key_file = self.security.triton_api_key_file
        return Path(key_file) if key_file else self.endpoints.home / "secrets" / "triton-api-key"

    @property
    def run_dir(self) -> Path:
        return self.endpoints.home / "run"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of `env` (the process's environment when None); `overrides` win,
        named as in `replace`."""
        env = dict(os.environ if env is None else env)
        for old, new in _RENAMED.items():
            if old in env:  # silently ignored, it would leave the default in its place
                raise SettingsError(f"{old} was renamed {new}: set {new}={env[old]} instead")
        _warn_unknown(env)
        whole, parts = _changes(overrides)
        built: dict[str, Any] = {}
        for section, kind in sections().items():
            if section in whole:
                built[section] = dataclasses.replace(whole[section], **parts.get(section, {}))
                continue
            values = {f.name: _parsed(kind, f.name, env[env_name(section, f.name)])
                      for f in fields(kind) if env_name(section, f.name) in env}
            built[section] = kind(**{**values, **parts.get(section, {})})
        return cls(**built)

    def to_env(self) -> dict[str, str]:
        return {env_name(section, f.name): str(getattr(getattr(self, section), f.name))
                for section, kind in sections().items() for f in fields(kind)}

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`: each a setting by its own name (`parallelism=2`) or a
        whole section by the section's (`topics=Topics(...)`)."""
        whole, parts = _changes(changes)
        new = {section: dataclasses.replace(whole.get(section, getattr(self, section)), **parts.get(section, {}))
               for section in sections()}
        return Settings(**new)


@lru_cache(maxsize=1)
def sections() -> dict[str, type]:
    """Settings' sections: attribute name -> its dataclass, in order."""
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


# Variables that were settings once, and what replaced them.
_RENAMED = {"LEPTON_CLAIM_SHARDS": "LEPTON_HASH_SHARDS"}
# Ours, but not settings: read where they are used.
_NOT_SETTINGS = frozenset({"LEPTON_LOG_FILE"})
_warned: set[str] = set()


def _warn_unknown(env: dict[str, str]) -> None:
    """A LEPTON_ variable that is no setting (a typo, a name from another version) would
    leave the default in place without a word: say so, once per process and name, with
    the nearest settings' names. A warning, not a refusal: other tools may share the prefix."""
    import difflib
    import logging

    known = {env_name(section, f.name) for section, kind in sections().items() for f in fields(kind)}
    for name in sorted(env):
        if (name.startswith("LEPTON_") and name not in known and name not in _NOT_SETTINGS
                and name not in _RENAMED and name not in _warned):
            _warned.add(name)
            near = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
            logging.getLogger("lepton.config").warning(
                "%s is not a setting and is ignored%s (docs/configuration.md)", name,
                f"; did you mean {' or '.join(near)}?" if near else "")


def env_name(section: str, name: str) -> str:
    """The variable that sets `name` of `section`."""
    return f"LEPTON_TOPIC_{name.upper()}" if section == "topics" else f"LEPTON_{name.upper()}"


@lru_cache(maxsize=1)
def setting_names() -> dict[str, str]:
    """Each setting's own name (its variable less `LEPTON_`, lower case) -> its section.
    Topics are not here: a change sets them all, as one `Topics`."""
    return {f.name: section for section, kind in sections().items() if section != "topics" for f in fields(kind)}


def _changes(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`changes` split into whole sections and, per section, its settings by name."""
    whole: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if name in sections():
            whole[name] = value
        elif name in setting_names():
            parts.setdefault(setting_names()[name], {})[name] = value
        else:
            raise TypeError(f"Settings has no setting or section named {name!r}")
    return whole, parts


def secret_value(value: str, path: str, what: str) -> str:
    """A secret from its file (a mounted Kubernetes Secret, a compose secret) when
    `path` is set, else the value itself. Trailing newlines are not part of it."""
    if not path:
        return value
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{what}: cannot read secret file {path}: {exc.strerror}") from None


def _redis_url(s: Settings, redact: bool) -> str:
    sec, where = s.security, s.endpoints
    scheme = "rediss" if sec.redis_tls else "redis"
    password = secret_value(sec.redis_password, sec.redis_password_file, "LEPTON_REDIS_PASSWORD_FILE")
    user = quote(sec.redis_username, safe="")
    auth = ""
    if sec.redis_username or password:
        shown = "***" if redact and password else quote(password, safe="")
        auth = f"{user}:{shown}@" if password else f"{user}@"
    query = ""
    if sec.redis_tls:
        # redis-py reads these from the URL; certificates are always verified.
        query = "?ssl_cert_reqs=required" + (f"&ssl_ca_certs={quote(sec.redis_ca_file)}" if sec.redis_ca_file else "")
    return f"{scheme}://{auth}{where.redis_host or where.host}:{where.redis_port}/0{query}"


def _parsed(kind: type, name: str, raw: str) -> Any:
    """`raw` as the type of `kind`'s field `name`; a choice in another case (`ssl`) in its own spelling."""
    default = next(f.default for f in fields(kind) if f.name == name)
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
    spelled = [a for a in _choices(kind).get(name, ()) if a.lower() == raw.lower()]
    return spelled[0] if spelled and raw not in spelled else raw


_CHOICES: dict[type, dict[str, tuple[str, ...]]] = {}


def _choices(kind: type) -> dict[str, tuple[str, ...]]:
    """The fields of `kind` whose type is a Literal, with their allowed values."""
    if kind not in _CHOICES:
        _CHOICES[kind] = {name: get_args(hint) for name, hint in get_type_hints(kind).items()
                          if getattr(hint, "__origin__", None) is Literal}
    return _CHOICES[kind]
