"""The local stack: Mosquitto, Apache Kafka (one node or a cluster) and TimescaleDB on 127.0.0.1.

One code path starts them for `make demo`, `make test` and
`wastewatch services up` (`wastewatch.workbench.stack.manager.Stack`); each service
installs what it lacks, keeps its state under the state dir (`.wastewatch/`),
and is stopped only by the pid it recorded.
"""
