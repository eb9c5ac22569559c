"""Reads for the NGSI-LD API: the bins as WasteContainers, their container models.

Entities come in a stable order (the id), so ``limit``/``offset`` pages neither
skip nor repeat; each list query has its count for ``count=true``.  Values are
bound parameters, as everywhere in :mod:`wastewatch.queries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from wastewatch.queries.queries import Filters, Page, Query, bins_query

__all__ = [
    "MODEL_COLUMNS",
    "container_models_count_query",
    "container_models_query",
    "waste_containers_count_query",
    "waste_containers_query",
]

MODEL_COLUMNS: Final = ("container_model", "min_volume_l", "max_volume_l", "bins")
#: Bins whose ``container_model`` names a model (the registry's default is 'unknown').
_HAS_MODEL: Final = (
    "container_model is not null and lower(btrim(container_model)) not in ('unknown', '')"
)


def waste_containers_query(bin_ids: Sequence[str], page: Page) -> Query:
    """One page of bins (all, or those of ``bin_ids``) by id, with their state; one
    row more than the page is fetched."""
    return bins_query(Filters(bins=tuple(bin_ids)), page)


def waste_containers_count_query(bin_ids: Sequence[str]) -> Query:
    if bin_ids:
        return Query(
            "select count(*) from bins where bin_id = any(%(bins)s)", {"bins": list(bin_ids)}
        )
    return Query("select count(*) from bins", {})


def _models_where(models: Sequence[str]) -> tuple[str, dict[str, object]]:
    if models:
        return f"where {_HAS_MODEL} and container_model = any(%(models)s)", {"models": list(models)}
    return f"where {_HAS_MODEL}", {}


def container_models_query(models: Sequence[str], page: Page) -> Query:
    """The container models the registry names (all, or ``models``), by name, with the
    volumes their bins have; one row more than the page is fetched."""
    where, params = _models_where(models)
    return Query(
        "select container_model, min(volume_l)::float8, max(volume_l)::float8, count(*) "
        f"from bins {where} group by container_model order by container_model "
        "limit %(limit)s offset %(offset)s",
        {**params, "limit": page.limit + 1, "offset": page.offset},
        MODEL_COLUMNS,
    )


def container_models_count_query(models: Sequence[str]) -> Query:
    where, params = _models_where(models)
    return Query(f"select count(distinct container_model) from bins {where}", params)
