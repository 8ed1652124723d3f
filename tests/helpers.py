"""Helpers shared by the test modules of every layer (one copy of each)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def recall(found: Iterable[Iterable[int]], truth: Iterable[Iterable[int]]) -> float:
    """Mean over queries of the fraction of the true ids found: ``|found ∩ truth| / |truth|``.

    Rows are id lists (arrays, lists or sets, one per query, in the same order). Negative ids
    are padding (``-1`` where fewer than k hits exist) and are ignored on both sides; a query
    with no true ids is left out of the mean. Order within a row does not matter.
    """
    per_query = []
    for f, t in zip(found, truth, strict=True):
        true_ids = {int(i) for i in t if i >= 0}
        if true_ids:
            found_ids = {int(i) for i in f if i >= 0}
            per_query.append(len(found_ids & true_ids) / len(true_ids))
    if not per_query:
        raise ValueError("recall: no query has any true neighbour")
    return float(np.mean(per_query))
