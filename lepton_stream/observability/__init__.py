"""Prometheus metrics of every long-running Lepton process (issue 6).

`metrics` holds every metric definition, once; `exporter` starts the HTTP
endpoint Prometheus scrapes; `pipeline` turns a scored batch into metric updates.
"""
