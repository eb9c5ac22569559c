"""Planners' questions as queries: shared by `wastewatch history`, the HTTP API and reports.

Pure code only: parameters are parsed and checked here (``params``), turned into
SQL whose values are always bound parameters and whose identifiers come from
allow-lists (``history``, ``queries``), and results are formatted here
(``formats``).  The callers own the connections, always the read-only role.
"""
