"""Prometheus metrics of every long-running Lepton process.

`metrics` holds every metric definition, once; `exporter` starts the HTTP
endpoint Prometheus scrapes; `pipeline` turns a scored batch into metric updates.
"""
