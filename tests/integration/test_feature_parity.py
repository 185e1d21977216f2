"""One definition, two paths: the online Redis store and the offline pandas
computation give the same fraud features for every event of a simulated stream."""

import pytest

from lepton_stream.feature_store.redis_windows import RedisWindowStore
from tests.integration.feature_cases import assert_fraud_features_match_offline, assert_replays_and_labels_count_once

pytestmark = pytest.mark.integration


def test_every_fraud_feature_of_every_event_matches_offline(stack):
    assert_fraud_features_match_offline(RedisWindowStore(stack.redis_url))


def test_replays_and_late_or_early_labels_count_once(stack):
    assert_replays_and_labels_count_once(RedisWindowStore(stack.redis_url))
