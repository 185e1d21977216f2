"""The security settings against real servers: a Kafka broker with a SASL_SSL
(SCRAM-SHA-512) listener and a Redis with TLS and an ACL user, certificates made
by openssl for 127.0.0.1. Proves the handshakes of every client dialect:
librdkafka (producer, consumer, admin), Flink's Java Kafka client (the job's SQL
options) and redis-py (the feature store). Servers started and stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from lepton_stream.config import Settings
from lepton_stream.feature_store.redis_windows import RedisWindowStore, TxFacts
from lepton_stream.kafka import admin
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.kafka.security import librdkafka_config
from lepton_stream.stack import processes
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
USER, PASSWORD = "lepton-test", "s3cret-" + uuid.uuid4().hex[:8]


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=lepton-test-ca",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(d / "server.key"))
    openssl("req", "-new", "-key", str(d / "server.key"), "-subj", "/CN=127.0.0.1", "-out", str(d / "server.csr"))
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(d / "san.ext"), "-out", str(d / "server.crt"))
    # Kafka's PEM key store: the (PKCS#8, unencrypted) key and the certificate in one file.
    (d / "server.pem").write_text((d / "server.key").read_text() + (d / "server.crt").read_text())
    (d / "password").write_text(PASSWORD + "\n")
    return d


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory, certs: Path) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("secure-kafka")
    port, internal, controller = processes.free_ports(3)
    lib = Settings().endpoints.lib_dir / "kafka"
    props = home / "server.properties"
    props.write_text(textwrap.dedent(f"""\
        process.roles=broker,controller
        node.id=1
        controller.quorum.voters=1@127.0.0.1:{controller}
        listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}
        advertised.listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}
        controller.listener.names=CONTROLLER
        listener.security.protocol.map=SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
        inter.broker.listener.name=INTERNAL
        sasl.enabled.mechanisms=SCRAM-SHA-512
        listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={SCRAM_MODULE} required;
        ssl.keystore.type=PEM
        ssl.keystore.location={certs / "server.pem"}
        log.dirs={home / "logs"}
        num.partitions=1
        offsets.topic.replication.factor=1
        offsets.topic.num.partitions=1
        transaction.state.log.replication.factor=1
        transaction.state.log.min.isr=1
        transaction.state.log.num.partitions=1
        group.initial.rebalance.delay.ms=0
        """))
    java = ["java", "-Xmx384m", f"-Dlog4j2.configurationFile={home / 'log4j2.properties'}", "-cp", str(lib / "*")]
    (home / "log4j2.properties").write_text("status = warn\nappender.out.type = Console\nappender.out.name = OUT\n"
                                            "rootLogger.level = WARN\nrootLogger.appenderRef.out.ref = OUT\n")
    subprocess.run([*java, "kafka.tools.StorageTool", "format", "-t", "c2VjdXJlLWxlcHRvbi10ZQ", "-c", str(props),
                    "--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"],
                   check=True, capture_output=True, timeout=120)
    proc = processes.start("secure-kafka", [*java, "kafka.Kafka", str(props)], home / "kafka.log")
    s = Settings.from_env({
        "LEPTON_KAFKA_HOST": "127.0.0.1", "LEPTON_KAFKA_PORT": str(port),
        "LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEPTON_KAFKA_USERNAME": USER,
        "LEPTON_KAFKA_PASSWORD_FILE": str(certs / "password"), "LEPTON_KAFKA_CA_FILE": str(certs / "ca.crt"),
    }, home=home)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                AdminClient({"bootstrap.servers": s.kafka_bootstrap, "log_level": 0,
                             **librdkafka_config(s)}).list_topics(timeout=3)
                break
            except KafkaException:
                assert proc.poll() is None, (home / "kafka.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "secure broker not ready in 90 s"
        yield s
    finally:
        processes.stop(proc.pid)


def test_librdkafka_clients_authenticate_over_tls(secure_kafka: Settings, monkeypatch) -> None:
    s = secure_kafka
    # Every client takes its security from the process environment, as in a pod.
    for k, v in s.to_env().items():
        if k.startswith("LEPTON_KAFKA_"):
            monkeypatch.setenv(k, v)
    topic = f"secure-{uuid.uuid4().hex[:6]}"
    admin.create_topics(s.kafka_bootstrap, [topic], 1)
    admin.wait_topics_ready(s.kafka_bootstrap, [topic])
    p = producer(s.kafka_bootstrap)
    for i in range(10):
        p.produce(topic, key=b"card", value=f"tx-{i}".encode())
    assert p.flush(30) == 0
    assert sorted(m.value() for m in read_topic(s.kafka_bootstrap, topic)) == [f"tx-{i}".encode() for i in range(10)]


@pytest.mark.parametrize("change, expected", [
    ({"LEPTON_KAFKA_PASSWORD": "wrong", "LEPTON_KAFKA_PASSWORD_FILE": ""}, {KafkaError._AUTHENTICATION}),
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}),
    # a CA that did not sign the broker's certificate
    ({"LEPTON_KAFKA_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"}, {KafkaError._SSL, KafkaError._TRANSPORT,
                                                                      KafkaError._ALL_BROKERS_DOWN}),
])
def test_wrong_credentials_or_trust_are_refused(secure_kafka: Settings, change: dict[str, str],
                                                expected: set[int]) -> None:
    env = {k: v for k, v in secure_kafka.to_env().items() if k.startswith("LEPTON_KAFKA_")} | change
    bad = Settings.from_env(env)
    errors: list[KafkaError] = []
    client = AdminClient({"bootstrap.servers": bad.kafka_bootstrap, "log_level": 0, "error_cb": errors.append,
                          **librdkafka_config(bad)})
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        client.poll(0.1)
    assert errors, "the broker accepted a client it should refuse"
    assert errors[0].code() in expected, errors[0]


FLINK_READ = """
import sys
from pyflink.table import EnvironmentSettings, TableEnvironment
from lepton_stream.config import Settings
from stream_jobs.scoring_job import kafka_options
s = Settings.from_env()
jars = sorted((s.endpoints.lib_dir / "flink").glob("flink-sql-connector-kafka-*.jar"))
t = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
t.get_config().set("pipeline.jars", ";".join(j.as_uri() for j in jars))
t.execute_sql(f\"\"\"CREATE TABLE src (v BYTES) WITH ({kafka_options(s)}, 'topic' = '{sys.argv[1]}',
    'properties.group.id' = 'secure-flink', 'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset', 'value.format' = 'raw')\"\"\")
with t.execute_sql("SELECT COUNT(*) FROM src").collect() as rows:
    print("COUNT", list(rows)[0][0])
"""


def test_the_flink_job_kafka_options_authenticate_over_tls(secure_kafka: Settings) -> None:
    s = secure_kafka
    topic = f"secure-flink-{uuid.uuid4().hex[:6]}"
    admin_conf = {"bootstrap.servers": s.kafka_bootstrap, **librdkafka_config(s)}
    from confluent_kafka.admin import NewTopic

    client = AdminClient(admin_conf)  # kept referenced until the result is in
    client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    p = producer(s.kafka_bootstrap, security=librdkafka_config(s))
    for i in range(7):
        p.produce(topic, value=f"v{i}".encode())
    assert p.flush(30) == 0
    env = {**os.environ, **s.to_env(), "JVM_ARGS": "-Xmx512m"}
    run = subprocess.run([sys.executable, "-c", FLINK_READ, topic], capture_output=True, text=True, timeout=240,
                         env=env, cwd=Path(__file__).resolve().parents[2])
    assert "COUNT 7" in run.stdout, run.stdout[-2000:] + run.stderr[-4000:]


@pytest.fixture(scope="module")
def secure_redis(tmp_path_factory, certs: Path) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("secure-redis")
    (port,) = processes.free_ports(1)
    conf = home / "redis.conf"
    conf.write_text(textwrap.dedent(f"""\
        port 0
        tls-port {port}
        bind 127.0.0.1
        tls-cert-file {certs / "server.crt"}
        tls-key-file {certs / "server.key"}
        tls-ca-cert-file {certs / "ca.crt"}
        tls-auth-clients no
        save ""
        appendonly no
        dir {home}
        user default off
        user {USER} on >{PASSWORD} ~lepton:* &* +@all -@dangerous +info
        """))
    proc = processes.start("secure-redis", ["redis-server", str(conf)], home / "redis.log")
    s = Settings.from_env({
        "LEPTON_REDIS_HOST": "127.0.0.1", "LEPTON_REDIS_PORT": str(port), "LEPTON_REDIS_USERNAME": USER,
        "LEPTON_REDIS_PASSWORD_FILE": str(certs / "password"), "LEPTON_REDIS_TLS": "true",
        "LEPTON_REDIS_CA_FILE": str(certs / "ca.crt")})
    try:
        deadline = time.monotonic() + 20
        while processes.port_free("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, (home / "redis.log").read_text()
            time.sleep(0.1)
        yield s
    finally:
        processes.stop(proc.pid)


def test_feature_store_over_tls_with_acl_user(secure_redis: Settings) -> None:
    store = RedisWindowStore(secure_redis.redis_url)
    assert store.ping()
    facts = [TxFacts(f"sec-{i}", "card-sec", "term-sec", 1_700_000_000_000 + i * 1000, 1250, 1.0, 2.0)
             for i in range(3)]
    agg = store.apply_transactions(facts)
    assert agg.card_count[-1][0] == 3  # the scripts ran under the ACL user


@pytest.mark.parametrize("change", [
    {"LEPTON_REDIS_PASSWORD": "wrong", "LEPTON_REDIS_PASSWORD_FILE": ""},
    {"LEPTON_REDIS_USERNAME": ""},  # the default user is off
    {"LEPTON_REDIS_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"},
])
def test_redis_refuses_wrong_credentials_or_trust(secure_redis: Settings, change: dict[str, str]) -> None:
    env = {k: v for k, v in secure_redis.to_env().items() if k.startswith("LEPTON_REDIS_")} | change
    client = redis.Redis.from_url(Settings.from_env(env).redis_url, socket_timeout=5)
    with pytest.raises((redis.AuthenticationError, redis.ConnectionError, redis.ResponseError)):
        client.ping()


def test_faust_credentials_authenticate_over_tls(secure_kafka: Settings) -> None:
    """The alert monitor's dialect: faust_credentials -> Faust's own mapping to aiokafka."""
    import asyncio

    from aiokafka import AIOKafkaProducer
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from lepton_stream.kafka.security import faust_credentials

    s = secure_kafka
    topic = f"secure-faust-{uuid.uuid4().hex[:6]}"
    client = AdminClient({"bootstrap.servers": s.kafka_bootstrap, **librdkafka_config(s)})
    from confluent_kafka.admin import NewTopic

    client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    auth = credentials_to_aiokafka_auth(faust_credentials(s))
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"

    async def send() -> None:
        p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, **auth)
        await p.start()
        try:
            await p.send_and_wait(topic, b"page")
        finally:
            await p.stop()

    asyncio.run(asyncio.wait_for(send(), 60))
    c = consumer(s.kafka_bootstrap, f"check-{uuid.uuid4().hex[:6]}", security=librdkafka_config(s))
    c.assign([TopicPartition(topic, 0, 0)])
    msgs = [m for m in c.consume(10, timeout=10) if m.error() is None]
    c.close()
    assert [m.value() for m in msgs] == [b"page"]
