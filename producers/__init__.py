"""Producers: event generators and load tools that publish to Kafka."""
