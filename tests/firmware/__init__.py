"""Firmware test helpers: the MicroPython interpreter, mypy with the stubs, MQTT capture."""
