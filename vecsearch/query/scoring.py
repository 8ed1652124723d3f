"""Exact scoring of example-based queries and MMR re-ranking, in Qdrant's formulas.

Qdrant scores recommendations by best or summed scores, discovery and context queries on
the *raw* similarities of its vector storage, not on the returned scores: the cosine
similarity of unit vectors, the dot product, the negated squared distance for Euclid,
MaxSim for multi-vectors and the dot product (IDF-weighted under the modifier, 0 when no
term is shared) for sparse vectors. :func:`raw_similarities` computes them for a set of
labels; :func:`example_scores` combines them (see :class:`vecsearch.query.model.Examples`);
:func:`mmr_order` re-ranks nearest candidates by maximal marginal relevance.

These queries have no index support here: they scan the allowed points exactly, in chunks
(Qdrant walks its HNSW graph with the same scorer; the scan finds the true best points).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vecsearch.query.model import Examples
from vecsearch.space import VectorSpace
from vecsearch.sparse_space import SparseSpace
from vecsearch.store import Store

#: Labels scored per chunk of an exact scan.
CHUNK = 32_768
#: Rust's ``f32::EPSILON``, which Qdrant's context score subtracts.
EPSILON = np.float32(1.1920929e-7)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Qdrant's fast sigmoid ``x / (1 + |x|)`` (float32)."""
    x = x.astype(np.float32)
    return x / (np.float32(1.0) + np.abs(x))


def _scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    """``0.5 (sigmoid(x) + 1)``, in (0, 1)."""
    return np.float32(0.5) * (_sigmoid(x) + np.float32(1.0))


def raw_similarities(
    space: VectorSpace | SparseSpace,
    vectors: Sequence[Any],
    labels: np.ndarray,
    store: Store,
    *,
    weighted: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels found, sims)``: ``sims[i, j]`` is the raw similarity (higher is closer) of
    ``vectors[i]`` (checked queries of the space) to the point ``labels found[j]``; points
    without a vector in the space are left out. ``weighted=False``: sparse vectors without
    the IDF weighting (MMR compares stored vectors with each other)."""
    if isinstance(space, SparseSpace):
        return _sparse_sims(space, vectors, labels, weighted)
    if space.multi:
        from indexes.muvera import maxsim_scores  # lazily: only multi-vector spaces

        found, tokens, offsets = space.sets_of(labels, store)
        sims = np.empty((len(vectors), found.size), dtype=np.float32)
        for i, q in enumerate(vectors):
            qq = (np.ascontiguousarray(q, np.float32), np.array([0, q.shape[0]], np.int64))
            sims[i] = maxsim_scores(qq, (tokens, offsets))[0]
        return found, sims
    found, rows = space.vectors_of(labels, store)
    ex = np.stack([np.asarray(v, np.float32) for v in vectors]) if vectors else None
    if ex is None or found.size == 0:
        return found, np.zeros((len(vectors), found.size), dtype=np.float32)
    if space.config.metric == "l2":  # directly, so near-ties compare as Qdrant's do
        return found, np.stack([-np.square(rows - e).sum(axis=1) for e in ex]).astype(np.float32)
    return found, (ex @ rows.T).astype(np.float32)


def _sparse_sims(
    space: SparseSpace, vectors: Sequence[Any], labels: np.ndarray, weighted: bool
) -> tuple[np.ndarray, np.ndarray]:
    labels = labels[labels < len(space.present)]
    labels = labels[space.present[labels]]
    sims = np.zeros((len(vectors), labels.size), dtype=np.float32)
    if labels.size == 0:
        return labels, sims
    rows = space.index.get_vectors(labels)
    sizes = np.fromiter((r[0].shape[0] for r in rows), dtype=np.int64, count=len(rows))
    row_of = np.repeat(np.arange(len(rows)), sizes)
    idx = np.concatenate([r[0] for r in rows]) if len(rows) else np.zeros(0, np.int64)
    val = np.concatenate([r[1] for r in rows]).astype(np.float64) if len(rows) else np.zeros(0)
    for i, q in enumerate(vectors):
        qi, qv = space.weighted(q) if weighted else q
        if qi.shape[0] == 0 or idx.size == 0:
            continue
        pos = np.minimum(np.searchsorted(qi, idx), qi.shape[0] - 1)
        hit = qi[pos] == idx
        contrib = np.where(hit, val * qv[pos].astype(np.float64), 0.0)
        sims[i] = np.bincount(row_of, weights=contrib, minlength=labels.size)
    return labels, sims


def example_scores(
    space: VectorSpace | SparseSpace, target: Examples, labels: np.ndarray, store: Store
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels found, scores)`` of an example-based query (unsorted, float32)."""
    if target.kind in ("best_score", "sum_scores"):
        vectors = [*target.positive, *target.negative]
    elif target.kind == "discover":
        vectors = [target.target, *(v for pair in target.pairs for v in pair)]
    else:
        vectors = [v for pair in target.pairs for v in pair]
    found, sims = raw_similarities(space, vectors, labels, store)
    n = found.size
    if target.kind in ("best_score", "sum_scores"):
        npos = len(target.positive)
        pos, neg = sims[:npos], sims[npos:]
        if target.kind == "sum_scores":
            return found, (pos.sum(axis=0) - neg.sum(axis=0)).astype(np.float32)
        best_pos = pos.max(axis=0) if npos else np.full(n, -np.inf, np.float32)
        best_neg = neg.max(axis=0) if len(neg) else np.full(n, -np.inf, np.float32)
        with np.errstate(invalid="ignore"):
            out = np.where(
                best_pos > best_neg, _scaled_sigmoid(best_pos), -_scaled_sigmoid(best_neg)
            )
        return found, out.astype(np.float32)
    start = 1 if target.kind == "discover" else 0
    pairs = sims[start:].reshape(len(target.pairs), 2, n)
    if target.kind == "discover":
        rank = np.sign(pairs[:, 0] - pairs[:, 1]).sum(axis=0).astype(np.float32)
        return found, rank + _scaled_sigmoid(sims[0])
    diff = np.minimum(pairs[:, 0] - pairs[:, 1] - EPSILON, 0.0)
    return found, _sigmoid(diff).sum(axis=0).astype(np.float32)


def best_examples(
    space: VectorSpace | SparseSpace,
    target: Examples,
    allowed: np.ndarray,
    k: int,
    store: Store,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(labels, scores)`` of ``allowed`` labels (descending score, ties by
    label), scanning in chunks."""
    if target.exclude:
        allowed = allowed[~np.isin(allowed, np.asarray(target.exclude, np.int64))]
    out_l, out_s = [], []
    for s in range(0, allowed.size, CHUNK):
        lab, sc = example_scores(space, target, allowed[s : s + CHUNK], store)
        out_l.append(lab)
        out_s.append(sc)
    if not out_l:
        return np.zeros(0, np.int64), np.zeros(0)
    labels, scores = np.concatenate(out_l), np.concatenate(out_s).astype(np.float64)
    order = np.lexsort((labels, -scores))[:k]
    return labels[order], scores[order]


def _last_argmax(values: np.ndarray) -> int:
    """Index of the last maximum (Rust's ``max_by_key``, which Qdrant's MMR uses)."""
    return int(values.shape[0] - 1 - np.argmax(values[::-1]))


def _swap_remove(items: np.ndarray, i: int) -> tuple[int, np.ndarray]:
    """Remove ``items[i]`` by moving the last item into its place (Rust's ``swap_remove``:
    it decides which candidate wins an exact tie in Qdrant's MMR)."""
    out = int(items[i])
    items[i] = items[-1]
    return out, items[:-1]


def mmr_order(
    space: VectorSpace | SparseSpace,
    query: Any,
    labels: np.ndarray,
    diversity: float,
    limit: int,
    store: Store,
) -> np.ndarray:
    """Positions into ``labels`` (nearest candidates, best first) in MMR order, at most
    ``limit``: first the most similar candidate, then repeatedly the one maximising
    ``(1 - diversity) * sim(query, c) - diversity * max sim(c, chosen)``. Similarities to
    a chosen point are computed when it is chosen (``limit`` x candidates, not a full
    candidates x candidates matrix)."""
    if labels.size == 0 or limit <= 0:
        return np.zeros(0, np.int64)
    # the candidates come from a search in this space: every one has a vector here
    vecs = _vectors(space, labels, store)
    raw = not isinstance(space, SparseSpace)  # Qdrant's MMR compares sparse vectors unweighted
    relevance = raw_similarities(space, [query], labels, store, weighted=raw)[1][0]
    relevance = relevance.astype(np.float64)
    lam = 1.0 - diversity
    pending = np.arange(labels.size)
    first, pending = _swap_remove(pending, _last_argmax(relevance[pending]))
    chosen = [first]
    best_sim = np.full(labels.size, -np.inf)
    while len(chosen) < limit and pending.size:
        sims = raw_similarities(space, [vecs[chosen[-1]]], labels, store, weighted=raw)[1][0]
        best_sim = np.maximum(best_sim, sims.astype(np.float64))
        scores = lam * relevance[pending] - (1.0 - lam) * best_sim[pending]
        if np.all(np.isneginf(scores)):
            break
        pick, pending = _swap_remove(pending, _last_argmax(scores))
        chosen.append(pick)
    return np.asarray(chosen, dtype=np.int64)


def _vectors(space: VectorSpace | SparseSpace, labels: np.ndarray, store: Store) -> list[Any]:
    """The stored vectors of ``labels`` as query values of the space."""
    if isinstance(space, SparseSpace):
        # raw stored weights: raw_similarities applies the IDF weighting of the "query" side
        return [(np.asarray(i), np.asarray(v)) for i, v in space.index.get_vectors(labels)]
    if space.multi:
        found, tokens, offsets = space.sets_of(labels, store)
        return [tokens[offsets[i] : offsets[i + 1]] for i in range(found.size)]
    return list(space.vectors_of(labels, store)[1])
