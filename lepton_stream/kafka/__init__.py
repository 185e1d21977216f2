"""Kafka I/O: admin (readiness, topics) and client configs shared by every process."""
