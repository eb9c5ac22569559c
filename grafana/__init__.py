"""Grafana boards as code: grafanalib dashboards, their provisioning files, and the
expander that lets their SQL be tested without a Grafana server (see README.md)."""
