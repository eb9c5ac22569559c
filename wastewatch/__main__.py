"""`python -m wastewatch` is the same as the `wastewatch` command."""

from wastewatch.cli import entry

entry()
