from pathlib import Path

import pytest

from lepton_stream.config import Settings


def test_env_overrides_and_round_trip():
    s = Settings.from_env({"LEPTON_KAFKA_PORT": "19092", "LEPTON_ALERT_THRESHOLD": "0.8",
                           "LEPTON_HOME": "/tmp/x", "LEPTON_TOPIC_SCORES": "s2"})
    assert (s.kafka_port, s.alert_threshold, s.home, s.topics.scores) == (19092, 0.8, Path("/tmp/x"), "s2")
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
