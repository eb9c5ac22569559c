"""Collection route planning with PyVRP: which bins, in what order, by which truck.

Pure planning (``problem``, ``planner``, ``check``, ``export``) is kept apart
from the edges (``store`` for the database and Kafka, ``distances`` for an
optional routing service); see README.md in this folder.
"""
