"""Distance matrices (Qdrant's ``POST /points/search/matrix/pairs`` and ``.../offsets``):
sample points, and score each against the other sampled points.

``sample`` points (default 10) are drawn at random among those passing ``filter`` that
have a vector in space ``using`` (a fresh random draw per request, as on Qdrant; ``seed``
makes it repeatable). They are ordered by id (integers first, then UUIDs), and for each
the ``limit`` (default 3) best others of the sample come back with their exact score in
that space (Qdrant's score: similarity, or distance for Euclid, best first).
Fewer than two sampled points give an empty matrix. When ``sample`` is at least the number
of eligible points, every one of them is taken and the answer is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.filters import parse_filter
from vecsearch.ids import PointId, key_to_id
from vecsearch.sparse_space import SparseSpace
from vecsearch.sparse_space import decode as decode_sparse
from vecsearch.validate import check_int


@dataclass(frozen=True)
class DistanceMatrix:
    """The sampled ids (in order) and, per sampled point, ``(index into ids, score)`` of
    its nearest others, best first."""

    ids: list[PointId]
    rows: list[list[tuple[int, float]]]

    def pairs(self) -> dict[str, Any]:
        """Qdrant's ``SearchMatrixPairsResponse``."""
        return {
            "pairs": [
                {"a": self.ids[i], "b": self.ids[j], "score": s}
                for i, row in enumerate(self.rows)
                for j, s in row
            ]
        }

    def offsets(self) -> dict[str, Any]:
        """Qdrant's ``SearchMatrixOffsetsResponse``."""
        return {
            "offsets_row": [i for i, row in enumerate(self.rows) for _ in row],
            "offsets_col": [j for row in self.rows for j, _ in row],
            "scores": [s for row in self.rows for _, s in row],
            "ids": list(self.ids),
        }


def distance_matrix(
    coll: Any,
    sample: Any = None,
    limit: Any = None,
    filter: Any = None,
    using: Any = None,
    seed: int | None = None,
) -> DistanceMatrix:
    """The matrix of ``coll`` for a request (see module docstring)."""
    sample = 10 if sample is None else check_int(sample, "sample", minimum=1)
    limit = 3 if limit is None else check_int(limit, "limit", minimum=1)
    flt = parse_filter(filter, "filter")
    space = coll.space(using, "using")
    with coll.reading():
        store = coll.store
        mask = coll.filter_mask(flt)
        present = space.present
        n = min(mask.shape[0], present.shape[0])
        labels = np.flatnonzero(mask[:n] & present[:n]).astype(np.int64)
        if labels.size > sample:
            rng = np.random.default_rng(seed)
            labels = rng.choice(labels, size=sample, replace=False)
        if labels.size < 2:
            return DistanceMatrix([], [])
        keys = store.pids(labels.tolist())
        labels = np.asarray(sorted(keys, key=lambda lab: keys[lab]), dtype=np.int64)
        position = {int(lab): i for i, lab in enumerate(labels.tolist())}
        blobs = store.vectors(space.config.id, labels.tolist())
        rows = []
        for lab in labels.tolist():
            blob = blobs[lab]
            q = decode_sparse(blob) if isinstance(space, SparseSpace) else space.decode(blob)
            others = labels[labels != lab]
            found, scores = space.exact_scores(q, others, store)
            rows.append(
                [
                    (position[int(b)], float(s))
                    for b, s in zip(found[:limit], scores[:limit], strict=True)
                ]
            )
    return DistanceMatrix([key_to_id(keys[int(lab)]) for lab in labels], rows)
