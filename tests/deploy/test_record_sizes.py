"""The record size limit is one figure: the code's, the compose broker's and the Kafka CR's."""

import yaml

from lepton_stream.config import REPO_ROOT
from lepton_stream.kafka.limits import MAX_RECORD_BYTES
from lepton_stream.schemas.outputs import DLQ_ORIGINAL_MAX_BYTES


def test_compose_and_k8s_brokers_take_the_records_our_clients_send():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    env = compose["services"]["kafka"]["environment"]
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) == int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) == MAX_RECORD_BYTES
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "k8s/base/kafka.yaml").read_text()) if d]
    config = next(d for d in docs if d["kind"] == "Kafka")["spec"]["kafka"]["config"]
    assert int(config["message.max.bytes"]) == int(config["replica.fetch.max.bytes"]) == MAX_RECORD_BYTES


def test_a_dlq_record_leaves_room_below_the_limit():
    # 6 bytes of JSON escaping per kept byte, plus a base64 copy (4/3), plus the fields
    assert DLQ_ORIGINAL_MAX_BYTES * (6 + 4 / 3) + 4096 < MAX_RECORD_BYTES
