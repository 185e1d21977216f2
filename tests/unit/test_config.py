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
