"""Deployment and security settings -> client configurations (pure, no servers)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from lepton_stream.config import Settings
from lepton_stream.kafka import security
from lepton_stream.kafka.security import KafkaSecurityError

SASL = {
    "LEPTON_KAFKA_HOST": "lepton-kafka-bootstrap",
    "LEPTON_KAFKA_PORT": "9093",
    "LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "LEPTON_KAFKA_USERNAME": "lepton-scoring-job",
    "LEPTON_KAFKA_CA_FILE": "/etc/lepton/kafka-ca/ca.crt",
}


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    p = tmp_path / "password"
    p.write_text('s3"cr\'et\\x\n')  # quotes and a backslash: every dialect must escape them
    return p


def sasl(password_file: Path, **more: str) -> Settings:
    return Settings.from_env({**SASL, "LEPTON_KAFKA_PASSWORD_FILE": str(password_file), **more})


def test_defaults_are_the_local_plaintext_stack() -> None:
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.triton_grpc == "127.0.0.1:8001"
    assert security.librdkafka_config(s) == {}
    assert security.java_client_properties(s) == {}
    assert security.faust_credentials(s) is None


def test_service_hosts_override_the_bind_host() -> None:
    s = Settings.from_env({"LEPTON_HOST": "0.0.0.0", "LEPTON_KAFKA_HOST": "kafka", "LEPTON_REDIS_HOST": "redis",
                           "LEPTON_TRITON_HOST": "triton"})
    assert (s.kafka_bootstrap, s.triton_grpc, s.triton_http) == ("kafka:9092", "triton:8001", "http://triton:8000")
    assert s.redis_url == "redis://redis:6379/0"
    assert s.endpoints.host == "0.0.0.0"  # still what this process binds its own servers to


def test_librdkafka_sasl_ssl_scram(password_file: Path) -> None:
    conf = security.librdkafka_config(sasl(password_file))
    assert conf == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "lepton-scoring-job",
        "sasl.password": 's3"cr\'et\\x',  # the file's trailing newline is not part of it
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": "/etc/lepton/kafka-ca/ca.crt",
    }


def test_password_file_wins_over_env_value(password_file: Path) -> None:
    conf = security.librdkafka_config(sasl(password_file, LEPTON_KAFKA_PASSWORD="from-env"))
    assert conf["sasl.password"] == 's3"cr\'et\\x'
    env_only = Settings.from_env({**SASL, "LEPTON_KAFKA_PASSWORD": "from-env"})
    assert security.librdkafka_config(env_only)["sasl.password"] == "from-env"


def test_java_properties_escape_jaas_and_sql(password_file: Path) -> None:
    s = sasl(password_file)
    props = security.java_client_properties(s)
    assert props["sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="lepton-scoring-job" password="s3\\"cr\'et\\\\x";')
    assert props["ssl.truststore.type"] == "PEM"
    assert props["ssl.truststore.location"] == "/etc/lepton/kafka-ca/ca.crt"
    options = security.flink_kafka_options(s)
    assert options.startswith("'properties.bootstrap.servers' = 'lepton-kafka-bootstrap:9093', ")
    assert "'properties.security.protocol' = 'SASL_SSL'" in options
    assert "cr''et" in options  # SQL doubles the single quote; the DDL still parses
    # The connector's Kafka client is shaded: so must the login module be.
    assert "'org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule required " \
        in options


def test_ssl_without_sasl_needs_no_credentials() -> None:
    s = Settings.from_env({"LEPTON_KAFKA_SECURITY_PROTOCOL": "ssl", "LEPTON_KAFKA_CA_FILE": "/ca.pem"})
    assert security.librdkafka_config(s) == {"security.protocol": "SSL", "ssl.ca.location": "/ca.pem",
                                             "ssl.endpoint.identification.algorithm": "https"}
    assert "sasl.jaas.config" not in security.java_client_properties(s)


@pytest.mark.parametrize("env, message", [
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "LEPTON_KAFKA_USERNAME"),
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEPTON_KAFKA_USERNAME": "u"}, "PASSWORD"),
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "TLS"}, "one of"),
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEPTON_KAFKA_USERNAME": "u", "LEPTON_KAFKA_PASSWORD": "p",
      "LEPTON_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM"),
    ({"LEPTON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEPTON_KAFKA_USERNAME": "u",
      "LEPTON_KAFKA_PASSWORD_FILE": "/nonexistent/secret"}, "cannot read secret file"),
])
def test_incomplete_security_fails_before_connecting(env: dict[str, str], message: str) -> None:
    # A protocol that is not one of the choices is refused when settings load (SettingsError).
    expected = ValueError if "FILE" in str(env) or "TLS" in str(env) else KafkaSecurityError
    with pytest.raises(expected, match=message):
        security.librdkafka_config(Settings.from_env(env))


def test_clients_take_security_from_the_environment(monkeypatch: pytest.MonkeyPatch, password_file: Path) -> None:
    from lepton_stream.kafka import clients

    for k, v in {**SASL, "LEPTON_KAFKA_PASSWORD_FILE": str(password_file)}.items():
        monkeypatch.setenv(k, v)
    assert clients.client_security()["sasl.username"] == "lepton-scoring-job"
    monkeypatch.setenv("LEPTON_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    assert clients.client_security() == {}


def test_faust_credentials(monkeypatch: pytest.MonkeyPatch, password_file: Path) -> None:
    # A stand-in for faust's credential classes: the mapping, not aiokafka, is under test.
    fake = types.SimpleNamespace(SASLCredentials=lambda **kw: ("sasl", kw), SSLCredentials=lambda ctx: ("ssl", ctx))
    monkeypatch.setitem(sys.modules, "faust", fake)
    kind, kw = security.faust_credentials(sasl(password_file, LEPTON_KAFKA_CA_FILE=""))
    assert kind == "sasl"
    assert (kw["username"], kw["password"], kw["mechanism"]) == ("lepton-scoring-job", 's3"cr\'et\\x', "SCRAM-SHA-512")
    assert kw["ssl_context"] is not None  # SASL_SSL: TLS on, verifying with the system CAs


def test_redis_acl_user_password_and_tls(password_file: Path) -> None:
    s = Settings.from_env({"LEPTON_REDIS_HOST": "redis", "LEPTON_REDIS_USERNAME": "lepton",
                           "LEPTON_REDIS_PASSWORD_FILE": str(password_file), "LEPTON_REDIS_TLS": "true",
                           "LEPTON_REDIS_CA_FILE": "/etc/lepton/redis-ca/ca.crt"})
    assert s.redis_url.startswith("rediss://lepton:s3%22cr%27et%5Cx@redis:6379/0?")
    assert "ssl_cert_reqs=required" in s.redis_url
    assert "ssl_ca_certs=/etc/lepton/redis-ca/ca.crt" in s.redis_url
    assert s.redis_url_redacted.startswith("rediss://lepton:***@redis:6379/0")
    assert "s3" not in s.redis_url_redacted


def test_redis_url_is_understood_by_redis_py(password_file: Path) -> None:
    import redis

    s = Settings.from_env({"LEPTON_REDIS_HOST": "redis", "LEPTON_REDIS_USERNAME": "lepton",
                           "LEPTON_REDIS_PASSWORD_FILE": str(password_file), "LEPTON_REDIS_TLS": "1"})
    pool = redis.Redis.from_url(s.redis_url).connection_pool
    kw = pool.connection_kwargs
    assert (kw["username"], kw["password"], kw["host"]) == ("lepton", 's3"cr\'et\\x', "redis")
    assert pool.connection_class is redis.SSLConnection
