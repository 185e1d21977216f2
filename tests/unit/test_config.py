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
