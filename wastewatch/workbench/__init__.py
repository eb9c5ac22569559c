"""The workbench: what builds, runs and measures wastewatch, beside the product.

- ``stack``: the local services (Mosquitto, Apache Kafka, TimescaleDB), installed
  and started by `wastewatch services`;
- ``simulators`` (the top-level ``simulators/`` folder): the simulated city, its
  sensors and trucks;
- ``demo``: `make demo`, the whole pipeline on the local stack;
- ``bench`` (the top-level ``bench/`` folder): benchmarks and closed-loop evaluations;
- ``commands``: their CLI commands, found by the product CLI through entry points.

The product (``wastewatch.schema``, ``core``, ``ingest``, ``processors``, ``city``
and the apps) never imports anything here; tests/test_architecture.py checks it.
"""
