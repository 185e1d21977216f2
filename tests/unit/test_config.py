import logging
from pathlib import Path

import pytest

from lepton_stream.config import Settings, SettingsError


def test_env_overrides_and_round_trip():
    s = Settings.from_env({"LEPTON_KAFKA_PORT": "19092", "LEPTON_ALERT_THRESHOLD": "0.8",
                           "LEPTON_HOME": "/tmp/x", "LEPTON_TOPIC_SCORES": "s2"})
    assert (s.endpoints.kafka_port, s.models.alert_threshold, s.endpoints.home, s.topics.scores) == (
        19092, 0.8, Path("/tmp/x"), "s2")
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert Settings.from_env(s.to_env()) == s


def test_bad_number_names_the_variable():
    with pytest.raises(ValueError, match="LEPTON_REDIS_PORT"):
        Settings.from_env({"LEPTON_REDIS_PORT": "six"})


def test_kafka_cluster_ids_never_start_with_a_dash():
    from lepton_stream.stack.kafka_broker import _cluster_id

    ids = [_cluster_id() for _ in range(3000)]  # ~1 in 64 raw ids starts with '-'
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


@pytest.mark.parametrize(("name", "value"), [
    ("LEPTON_PIPELINE", "fast"), ("LEPTON_DELIVERY_GUARANTEE", "exactly_once"),
    ("LEPTON_PYTHON_WORKER_MODE", "threads"), ("LEPTON_KAFKA_SECURITY_PROTOCOL", "TLS"),
    ("LEPTON_MODEL_CONFIG_VARIANT", "tpu"), ("LEPTON_KAFKA_PORT", "ninety"),
])
def test_a_bad_value_stops_every_command_with_one_line(name, value):
    import os
    import subprocess
    import sys

    for argv in (["status"], ["train", "--help"], ["dlq", "show"]):
        res = subprocess.run([sys.executable, "-m", "lepton_stream.cli", *argv], capture_output=True, text=True,
                             env={**os.environ, name: value}, timeout=60)
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and repr(value) in lines[0], res.stderr


def test_choices_are_typed_and_listed():
    from lepton_stream.config import SettingsError

    with pytest.raises(SettingsError, match="scoring, passthrough"):
        Settings.from_env({"LEPTON_PIPELINE": "fast"})


def test_every_setting_has_one_variable_of_its_own_and_round_trips():
    from dataclasses import fields

    from lepton_stream.config import env_name, sections, setting_names

    names = [(section, f.name) for section, kind in sections().items() for f in fields(kind)]
    variables = [env_name(section, name) for section, name in names]
    assert len(set(variables)) == len(variables) == len(names)
    assert all(v.startswith("LEPTON_") for v in variables)
    assert set(Settings().to_env()) == set(variables)
    # A setting's keyword (from_env, replace) is its variable less LEPTON_: one name, one section.
    assert {f"LEPTON_{n.upper()}" for n in setting_names()} == {v for v in variables if "_TOPIC_" not in v}
    # Every setting changed from its default, through the environment and back.
    changed = {v: ("7" if raw.isdigit() else "0.75" if raw.replace(".", "", 1).isdigit() else raw)
               for v, raw in Settings().to_env().items()}
    changed |= {"LEPTON_HOST": "10.0.0.1", "LEPTON_REDIS_TLS": "True", "LEPTON_PIPELINE": "passthrough",
                "LEPTON_TOPIC_DLQ": "dlq-2", "LEPTON_MAX_AHEAD_OF_STREAM_MS": "1000",
                "LEPTON_REPLAY_HORIZON_S": "3600"}
    s = Settings.from_env(changed)
    assert s.to_env() == changed and Settings.from_env(s.to_env()) == s
    assert (s.endpoints.host, s.security.redis_tls, s.job.pipeline, s.topics.dlq) == ("10.0.0.1", True, "passthrough",
                                                                                       "dlq-2")


def test_replace_and_overrides_take_each_setting_by_its_own_name():
    from lepton_stream.config import Topics

    s = Settings.from_env({"LEPTON_PARALLELISM": "3"}, redis_port=7000, topics=Topics(scores="s2"))
    assert (s.job.parallelism, s.endpoints.redis_port, s.topics.scores) == (3, 7000, "s2")
    t = s.replace(parallelism=2, consumer_group="g", max_amount=5.0)
    assert (t.job.parallelism, t.job.consumer_group, t.limits.max_amount, t.endpoints.redis_port) == (2, "g", 5.0, 7000)
    with pytest.raises(TypeError, match="'paralelism'"):
        s.replace(paralelism=2)
    # Each section checks its own values, however it is built.
    with pytest.raises(SettingsError, match="LEPTON_PIPELINE='fast'"):
        s.replace(pipeline="fast")


def test_the_store_settings_refuse_what_the_store_cannot_work_with():
    for bad in ({"LEPTON_HASH_SHARDS": "0"}, {"LEPTON_HASH_SHARDS": str(2**26 + 1)},
                {"LEPTON_REPLAY_HORIZON_S": "59"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env(bad)
    assert Settings.from_env({"LEPTON_HASH_SHARDS": "65536"}).job.hash_shards == 65536
    # The variable's old name is refused, not ignored (the default would take its place).
    with pytest.raises(SettingsError, match="LEPTON_CLAIM_SHARDS was renamed LEPTON_HASH_SHARDS"):
        Settings.from_env({"LEPTON_CLAIM_SHARDS": "65536"})


def test_the_network_buffer_timeout_reaches_the_job_and_refuses_what_flink_would():
    from stream_jobs.scoring_job import tuning_options

    s = Settings.from_env({"LEPTON_BUFFER_TIMEOUT_MS": "7"})
    assert tuning_options(s)["execution.buffer-timeout.interval"] == "7 ms"
    assert tuning_options(Settings())["execution.buffer-timeout.interval"] == f"{Settings().job.buffer_timeout_ms} ms"
    for bad in ("-1", "60001"):
        with pytest.raises(SettingsError, match="LEPTON_BUFFER_TIMEOUT_MS"):
            Settings.from_env({"LEPTON_BUFFER_TIMEOUT_MS": bad})


def test_a_lepton_variable_that_is_no_setting_is_named_with_the_nearest_settings(caplog):
    from lepton_stream import config

    config._warned.discard("LEPTON_PARALELLISM")
    with caplog.at_level(logging.WARNING, logger="lepton.config"):
        s = Settings.from_env({"LEPTON_PARALELLISM": "4", "LEPTON_LOG_FILE": "job.log"})
        Settings.from_env({"LEPTON_PARALELLISM": "4"})  # said once per process
    assert s.job.parallelism == Settings().job.parallelism  # ignored, as it says
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1, said
    assert "LEPTON_PARALELLISM is not a setting" in said[0] and "did you mean LEPTON_PARALLELISM" in said[0]
