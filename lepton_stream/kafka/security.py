"""Kafka authentication and TLS for every client, from the one `Settings` block.

The same settings become three dialects:
- librdkafka (confluent-kafka: producers, the CLI, the demo, admin, lag probe),
- the Java client inside Flink's Kafka connector (the scoring job's SQL tables),
- aiokafka through Faust (the alert monitor).
Pure functions (no client library imported at module level) so the mapping is
unit tested without a broker. docs/security.md tells how to deploy with it.
"""

from __future__ import annotations

from typing import Any

from lepton_stream.config import Settings, secret_value

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_JAAS_MODULES = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class KafkaSecurityError(ValueError):
    """The security settings are incomplete or inconsistent (raised before any connection)."""


def _checked(s: Settings) -> tuple[str, str | None, str | None]:
    """(protocol, username, password) after validating the combination."""
    proto = s.security.kafka_security_protocol.upper()
    if proto not in PROTOCOLS:
        raise KafkaSecurityError(
            f"LEPTON_KAFKA_SECURITY_PROTOCOL={s.security.kafka_security_protocol!r}: one of {PROTOCOLS}")
    if not proto.startswith("SASL_"):
        return proto, None, None
    if s.security.kafka_sasl_mechanism.upper() not in SASL_MECHANISMS:
        raise KafkaSecurityError(
            f"LEPTON_KAFKA_SASL_MECHANISM={s.security.kafka_sasl_mechanism!r}: one of {SASL_MECHANISMS}")
    password = secret_value(s.security.kafka_password, s.security.kafka_password_file, "LEPTON_KAFKA_PASSWORD_FILE")
    if not s.security.kafka_username or not password:
        raise KafkaSecurityError(
            f"{proto} needs LEPTON_KAFKA_USERNAME and LEPTON_KAFKA_PASSWORD_FILE (or LEPTON_KAFKA_PASSWORD)")
    return proto, s.security.kafka_username, password


def _tls(proto: str) -> bool:
    return proto in ("SSL", "SASL_SSL")


def librdkafka_config(s: Settings) -> dict[str, str]:
    """confluent-kafka properties to merge into every producer/consumer/admin config."""
    proto, user, password = _checked(s)
    if proto == "PLAINTEXT":
        return {}
    conf = {"security.protocol": proto}
    if user is not None and password is not None:
        conf |= {"sasl.mechanism": s.security.kafka_sasl_mechanism.upper(), "sasl.username": user,
                 "sasl.password": password}
    if _tls(proto):
        # Hostname verification stays on (librdkafka's default `https`).
        conf["ssl.endpoint.identification.algorithm"] = "https"
        if s.security.kafka_ca_file:
            conf["ssl.ca.location"] = s.security.kafka_ca_file
    return conf


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# flink-sql-connector-kafka shades the Kafka client: its JAAS login modules live
# under this package prefix, and the unshaded class name is not found
# ("No LoginModule found", caught by tests/integration/test_security_e2e.py).
FLINK_SHADED_PREFIX = "org.apache.flink.kafka.shaded."


def java_client_properties(s: Settings, shaded_prefix: str = "") -> dict[str, str]:
    """Kafka Java client properties (Flink's connector prefixes each with `properties.`);
    `shaded_prefix` for a client that relocates the Kafka classes."""
    proto, user, password = _checked(s)
    if proto == "PLAINTEXT":
        return {}
    props = {"security.protocol": proto}
    if user is not None and password is not None:
        mech = s.security.kafka_sasl_mechanism.upper()
        props["sasl.mechanism"] = mech
        props["sasl.jaas.config"] = (f"{shaded_prefix}{_JAAS_MODULES[mech]} required username={_jaas_quote(user)} "
                                     f"password={_jaas_quote(password)};")
    if _tls(proto) and s.security.kafka_ca_file:
        # PEM trust stores need no keytool step (Kafka clients >= 2.7).
        props |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": s.security.kafka_ca_file}
    return props


def _sql_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def flink_kafka_options(s: Settings) -> str:
    """The `WITH (...)` options of a Flink SQL Kafka table for bootstrap + security."""
    props = {"bootstrap.servers": s.kafka_bootstrap, **java_client_properties(s, FLINK_SHADED_PREFIX)}
    return ", ".join(f"{_sql_quote('properties.' + k)} = {_sql_quote(v)}" for k, v in props.items())


def faust_credentials(s: Settings) -> Any:
    """`broker_credentials=` for `faust.App` (None for PLAINTEXT)."""
    proto, user, password = _checked(s)
    if proto == "PLAINTEXT":
        return None
    import ssl

    import faust

    context = ssl.create_default_context(cafile=s.security.kafka_ca_file or None) if _tls(proto) else None
    if user is None:
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(username=user, password=password, mechanism=s.security.kafka_sasl_mechanism.upper(),
                                 ssl_context=context)
