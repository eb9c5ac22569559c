"""The one root error of the ``grafana`` package."""

from __future__ import annotations

from wastewatch.errors import WastewatchError


class DashboardError(WastewatchError):
    """Dashboards or their provisioning files are wrong or out of date."""


class StaleFilesError(DashboardError):
    """The committed JSON differs from what the Python generates (``build --check``)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        super().__init__(
            "generated Grafana files are out of date: "
            + ", ".join(paths)
            + "; run `wastewatch dashboards build` and commit the result"
        )


class MacroError(DashboardError):
    """A panel's SQL uses a Grafana macro or variable the expander does not know."""
