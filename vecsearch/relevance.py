"""Calibrated relevance: a query-dependent monotone map from raw cosine to relevance in [0, 1].

After "Relevance Filtering for Embedding-based Retrieval" (Rossi et al., CIKM 2024, the
*Cosine Adapter*): raw cosine scores mean different things for different queries, so one raw
threshold filters badly. A small model reads the query and outputs the parameters of a
monotone map; one global threshold on the mapped score then filters every query alike.

The model here (fitted in numpy, no other dependency)::

    z(q)      = standardised query features: cheap statistics of the query's top-``depth``
                raw scores (top score, scores at ranks 5/10/20/50/depth, mean, std, gaps) and
                the query embedding projected on the ``n_components`` principal directions of
                the training queries (the paper feeds the query embedding to its adapter)
    t(s)      = (s - mean_q) / std_q        mean/std of the query's top-``depth`` scores
    slope(q)  = softplus(u0 + u . z(q))      > 0, so the map is increasing in s
    offset(q) = v0 + v . z(q)
    rel(s)    = sigmoid(slope(q) * t(s) + offset(q))

which is a logistic map of the raw cosine score ``sigmoid(a_q * s + b_q)`` with
``a_q = slope / std_q > 0`` and ``b_q = offset - a_q * mean_q``. Ranking within a query never
changes. The paper predicts the parameters with a neural network and tries several monotone
function families (linear, square root, power); with about a hundred labelled queries per
collection here a ridge-regularised linear predictor of (slope, offset) is what the data can
support, and the score standardisation inside the query gives the logistic family the
per-query scale that the other families provide in the paper.

Fitting: binary cross-entropy (the paper's loss) over each training query's top-``depth``
candidates (judged relevant = 1, anything else = 0; graded judgements are binarised by the
caller or by ``min_gain``), plus an L2 penalty on ``u`` and ``v``; minimised by BFGS in numpy
from a fixed start, so a fit is deterministic (the seed only shuffles the cross-validation
folds). The ridge strength is chosen by inner cross-validation (held-out log loss) unless
given. :func:`fit` also reports held-out quality from a k-fold cross-validation over queries.

Serialisation: :meth:`RelevanceModel.to_dict` is plain JSON with ``format`` and ``version``;
:meth:`RelevanceModel.from_dict` rejects other formats or newer versions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "vecsearch-relevance"
VERSION = 1
#: Candidates per query whose scores make the features (and the training pairs).
DEFAULT_DEPTH = 100
#: Principal directions of the training queries' embeddings used as features.
DEFAULT_COMPONENTS = 8
#: Ridge strengths tried by the inner cross-validation when none is given.
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0)
_STD_FLOOR = 1e-3
#: Ranks (1-based) whose scores are features; clipped to the list length.
_RANKS = (1, 5, 10, 20, 50)
SCORE_FEATURES = (
    *(f"score@{r}" for r in _RANKS),
    "score@depth",
    "mean",
    "std",
    "gap@1-10",
    "gap@10-50",
)


class RelevanceFitError(ValueError):
    """The labelled data cannot support a fit (too few queries, no relevant candidate...)."""


# ----------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------


def _rows(top_scores: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(top_scores, np.ndarray) and top_scores.ndim == 2:
        return [np.asarray(r, dtype=np.float64) for r in top_scores]
    return [np.asarray(r, dtype=np.float64).ravel() for r in top_scores]


def list_stats(top_scores: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (floored) standard deviation of each query's top scores."""
    rows = _rows(top_scores)
    mean = np.array([r.mean() if r.size else 0.0 for r in rows])
    std = np.array([max(float(r.std()), _STD_FLOOR) if r.size else 1.0 for r in rows])
    return mean, std


def score_features(top_scores: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """``(n, len(SCORE_FEATURES))`` statistics of each query's descending top scores.

    Rows may have different lengths (a collection smaller than the depth); ranks past the end
    take the last score.
    """
    out = np.zeros((len(_rows(top_scores)), len(SCORE_FEATURES)))
    for i, r in enumerate(_rows(top_scores)):
        if r.size == 0:
            continue
        at = [r[min(k, r.size) - 1] for k in _RANKS]
        out[i] = [*at, r[-1], r.mean(), r.std(), at[0] - at[2], at[2] - at[4]]
    return out


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


@dataclass
class RelevanceModel:
    """A fitted map ``rel = sigmoid(a_q * cosine + b_q)`` with ``a_q > 0`` (see module doc)."""

    depth: int
    dim: int
    components: np.ndarray  # (p, dim) principal directions of the training queries
    emb_mean: np.ndarray  # (dim,)
    feat_mean: np.ndarray  # (F,)
    feat_scale: np.ndarray  # (F,)
    u: np.ndarray  # (F + 1,) slope coefficients, intercept first
    v: np.ndarray  # (F + 1,) offset coefficients, intercept first
    ridge: float
    report: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: Whether the score-list statistics are features (False: embedding components only).
    score_stats: bool = True

    @property
    def feature_names(self) -> list[str]:
        """Names of the features, score statistics first."""
        stats = list(SCORE_FEATURES) if self.score_stats else []
        return [*stats, *(f"pc{i + 1}" for i in range(len(self.components)))]

    def _z(self, queries: np.ndarray, top_scores: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        q = np.asarray(queries, dtype=np.float64).reshape(-1, self.dim)
        return (
            _features(q, top_scores, self.score_stats, self.emb_mean, self.components)
            - self.feat_mean
        ) / self.feat_scale

    def params(
        self, queries: np.ndarray, top_scores: Sequence[np.ndarray] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per query ``(a, b)`` of ``rel = sigmoid(a * cosine + b)``; ``a > 0`` always.

        ``top_scores``: each query's descending raw cosine scores at depth ``self.depth`` (the
        same search that produced the training candidates).
        """
        z = self._z(queries, top_scores)
        zb = np.concatenate([np.ones((len(z), 1)), z], axis=1)
        slope = _softplus(zb @ self.u)
        offset = zb @ self.v
        mean, std = list_stats(top_scores)
        a = np.maximum(slope / std, 1e-12)
        return a, offset - a * mean

    def relevance(
        self,
        queries: np.ndarray,
        top_scores: Sequence[np.ndarray] | np.ndarray,
        scores: Sequence[np.ndarray] | np.ndarray,
    ) -> list[np.ndarray]:
        """Relevance in [0, 1] of raw cosine ``scores[i]`` (any length) of query ``i``."""
        a, b = self.params(queries, top_scores)
        return [
            _sigmoid(a[i] * np.asarray(s, dtype=np.float64) + b[i]) for i, s in enumerate(scores)
        ]

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Versioned plain-JSON form (floats as decimal lists)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "depth": self.depth,
            "dim": self.dim,
            "components": self.components.tolist(),
            "emb_mean": self.emb_mean.tolist(),
            "feat_mean": self.feat_mean.tolist(),
            "feat_scale": self.feat_scale.tolist(),
            "feature_names": self.feature_names,
            "u": self.u.tolist(),
            "v": self.v.tolist(),
            "ridge": self.ridge,
            "score_stats": self.score_stats,
            "report": self.report,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RelevanceModel:
        """Read :meth:`to_dict` output; ``ValueError`` for another format or a newer version."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a vecsearch relevance model")
        if not isinstance(data.get("version"), int) or data["version"] > VERSION:
            raise ValueError(
                f"relevance model version {data.get('version')!r} is newer than this build "
                f"reads ({VERSION})"
            )
        dim = int(data["dim"])
        comps = np.asarray(data["components"], dtype=np.float64).reshape(-1, dim)
        return cls(
            depth=int(data["depth"]),
            dim=dim,
            components=comps,
            emb_mean=np.asarray(data["emb_mean"], dtype=np.float64),
            feat_mean=np.asarray(data["feat_mean"], dtype=np.float64),
            feat_scale=np.asarray(data["feat_scale"], dtype=np.float64),
            u=np.asarray(data["u"], dtype=np.float64),
            v=np.asarray(data["v"], dtype=np.float64),
            ridge=float(data["ridge"]),
            report=dict(data.get("report") or {}),
            meta=dict(data.get("meta") or {}),
            score_stats=bool(data.get("score_stats", True)),
        )


# ----------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    """Per query: its embedding, its descending top-``depth`` scores and their 0/1 labels.

    ``n_relevant[i]`` counts all relevant documents of query ``i`` (also those outside the
    candidates), for recall figures.
    """

    queries: np.ndarray  # (n, dim)
    scores: list[np.ndarray]  # n arrays, descending
    labels: list[np.ndarray]  # n arrays of 0/1 (or soft targets in [0, 1])
    n_relevant: np.ndarray  # (n,)

    def subset(self, idx: np.ndarray) -> TrainingSet:
        """The queries ``idx``."""
        return TrainingSet(
            self.queries[idx],
            [self.scores[i] for i in idx],
            [self.labels[i] for i in idx],
            self.n_relevant[idx],
        )


def _stack(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pad ragged rows into ``(values, mask)``."""
    width = max((len(r) for r in rows), default=0)
    vals = np.zeros((len(rows), width))
    mask = np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        vals[i, : len(r)] = r
        mask[i, : len(r)] = True
    return vals, mask


def _objective(
    theta: np.ndarray, zb: np.ndarray, t: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float
) -> tuple[float, np.ndarray]:
    """Mean weighted BCE of ``sigmoid(softplus(zb u) t + zb v)`` + ``lam (|u|^2 + |v|^2)``."""
    d = zb.shape[1]
    u, v = theta[:d], theta[d:]
    a_raw = zb @ u
    a = _softplus(a_raw)
    logit = a[:, None] * t + (zb @ v)[:, None]
    n = w.sum()
    loss = float((w * (np.logaddexp(0.0, logit) - y * logit)).sum() / n)
    loss += lam * float(u[1:] @ u[1:] + v[1:] @ v[1:])
    g = w * (_sigmoid(logit) - y) / n
    gu = zb.T @ ((g * t).sum(axis=1) * _sigmoid(a_raw))
    gv = zb.T @ g.sum(axis=1)
    gu[1:] += 2 * lam * u[1:]
    gv[1:] += 2 * lam * v[1:]
    return loss, np.concatenate([gu, gv])


def _bfgs(fun, x0: np.ndarray, max_iter: int = 500, tol: float = 1e-9) -> np.ndarray:
    """Plain BFGS with Armijo backtracking (deterministic; small problems only)."""
    x = x0.copy()
    f, g = fun(x)
    h = np.eye(len(x))
    for _ in range(max_iter):
        p = -h @ g
        if g @ p >= 0:  # not a descent direction: restart from steepest descent
            h = np.eye(len(x))
            p = -g
        step = 1.0
        while True:
            f2, g2 = fun(x + step * p)
            if f2 <= f + 1e-4 * step * (g @ p) or step < 1e-12:
                break
            step *= 0.5
        s = step * p
        yv = g2 - g
        x = x + s
        done = abs(f - f2) <= tol * max(1.0, abs(f)) or float(np.abs(g2).max()) < 1e-8
        f, g = f2, g2
        if done:
            break
        sy = float(s @ yv)
        if sy > 1e-12:
            rho = 1.0 / sy
            hy = h @ yv
            h = (
                h
                + (rho * rho * (yv @ hy) + rho) * np.outer(s, s)
                - rho * (np.outer(hy, s) + np.outer(s, hy))
            )
    return x


def _principal_directions(x: np.ndarray, p: int) -> np.ndarray:
    """Top ``p`` right singular vectors of centred ``x`` via the smaller Gram matrix (an SVD
    of the full matrix was measured at seconds on the loaded 2-core machine)."""
    if len(x) <= x.shape[1]:
        w, vecs = np.linalg.eigh(x @ x.T)
        order = np.argsort(-w)[:p]
        comps = (x.T @ vecs[:, order]) / np.sqrt(np.maximum(w[order], 1e-300))
        return np.ascontiguousarray(comps.T)
    w, vecs = np.linalg.eigh(x.T @ x)
    return np.ascontiguousarray(vecs[:, np.argsort(-w)[:p]].T)


def _features(
    q: np.ndarray,
    top_scores: Sequence[np.ndarray] | np.ndarray,
    score_stats: bool,
    emb_mean: np.ndarray,
    comps: np.ndarray,
) -> np.ndarray:
    """Raw (unstandardised) query features: score statistics, then embedding components."""
    parts = [score_features(top_scores) if score_stats else np.zeros((len(q), 0))]
    if len(comps):
        parts.append((q - emb_mean) @ comps.T)
    return np.concatenate(parts, axis=1)


def _fit_once(
    data: TrainingSet,
    depth: int,
    n_components: int,
    ridge: float,
    max_iter: int,
    score_stats: bool = True,
) -> RelevanceModel:
    q = np.asarray(data.queries, dtype=np.float64)
    dim = q.shape[1]
    emb_mean = q.mean(axis=0)
    p = min(n_components, max(len(q) - 1, 0), dim)
    if p > 0:
        comps = _principal_directions(q - emb_mean, p)
        comps *= np.where(comps[np.arange(p), np.abs(comps).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    else:
        comps = np.zeros((0, dim))
    feats = _features(q, data.scores, score_stats, emb_mean, comps)
    feat_mean = feats.mean(axis=0)
    feat_scale = feats.std(axis=0)
    feat_scale[feat_scale < 1e-9] = 1.0
    z = (feats - feat_mean) / feat_scale
    zb = np.concatenate([np.ones((len(z), 1)), z], axis=1)
    s, mask = _stack(data.scores)
    y, _ = _stack(data.labels)
    mean, std = list_stats(data.scores)
    t = np.where(mask, (s - mean[:, None]) / std[:, None], 0.0)
    d = zb.shape[1]
    theta0 = np.zeros(2 * d)
    theta0[0] = math.log(math.e - 1.0)  # softplus(.) = 1 at the start
    theta0[d] = -1.0
    theta = _bfgs(
        lambda th: _objective(th, zb, t, y, mask.astype(np.float64), ridge), theta0, max_iter
    )
    return RelevanceModel(
        depth=depth,
        dim=dim,
        components=comps,
        emb_mean=emb_mean,
        feat_mean=feat_mean,
        feat_scale=feat_scale,
        u=theta[:d],
        v=theta[d:],
        ridge=float(ridge),
        score_stats=score_stats,
    )


def query_folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Seeded split of ``range(n)`` into ``folds`` groups of queries (sorted within)."""
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(f) for f in np.array_split(perm, folds)]


def _predict(model: RelevanceModel, data: TrainingSet) -> list[np.ndarray]:
    return model.relevance(data.queries, data.scores, data.scores)


def _log_loss(pred: list[np.ndarray], labels: list[np.ndarray]) -> float:
    p = np.clip(np.concatenate(pred), 1e-12, 1 - 1e-12)
    y = np.concatenate(labels)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def choose_ridge(
    data: TrainingSet,
    depth: int,
    n_components: int,
    folds: int,
    seed: int,
    grid: Sequence[float] = RIDGE_GRID,
    max_iter: int = 500,
    score_stats: bool = True,
) -> float:
    """The ridge strength of ``grid`` with the lowest held-out log loss (inner k-fold CV)."""
    splits = query_folds(len(data.queries), min(folds, len(data.queries)), seed + 7919)
    best, best_loss = float(grid[0]), math.inf
    for lam in grid:
        pred: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for test in splits:
            train = np.setdiff1d(np.arange(len(data.queries)), test)
            m = _fit_once(data.subset(train), depth, n_components, lam, max_iter, score_stats)
            part = data.subset(test)
            pred += _predict(m, part)
            labels += part.labels
        loss = _log_loss(pred, labels)
        if loss < best_loss - 1e-12:
            best, best_loss = float(lam), loss
    return best


def fit(
    data: TrainingSet,
    *,
    depth: int = DEFAULT_DEPTH,
    n_components: int = DEFAULT_COMPONENTS,
    ridge: float | None = None,
    folds: int = 5,
    seed: int = 0,
    report: bool = True,
    max_iter: int = 500,
    score_stats: bool = True,
) -> RelevanceModel:
    """Fit on every query of ``data``; with ``report``, first measure held-out quality by a
    ``folds``-fold cross-validation over queries (each fold refits, ridge choice included).

    ``ridge=None`` picks the ridge strength by inner cross-validation. Deterministic for a
    given ``seed``. ``score_stats=False`` and ``n_components=0`` leave no features: one map
    of the standardised scores for every query (an ablation).
    """
    n = len(data.queries)
    if n < 2:
        raise RelevanceFitError(f"need at least 2 labelled queries, got {n}")
    positives = sum(float(np.sum(y)) for y in data.labels)
    if positives <= 0:
        raise RelevanceFitError(
            f"no relevant document is among any query's top {depth} results: nothing to learn"
        )
    if positives >= sum(len(y) for y in data.labels):
        raise RelevanceFitError("every candidate is relevant: nothing to learn")
    folds = max(2, min(folds, n))

    def one(part: TrainingSet) -> RelevanceModel:
        lam = ridge
        if lam is None:
            lam = choose_ridge(
                part, depth, n_components, folds, seed, max_iter=max_iter, score_stats=score_stats
            )
        return _fit_once(part, depth, n_components, lam, max_iter, score_stats)

    rep: dict[str, Any] = {}
    if report:
        pred: list[np.ndarray] = [np.zeros(0)] * n
        for test in query_folds(n, folds, seed):
            train = np.setdiff1d(np.arange(n), test)
            m = one(data.subset(train))
            for i, r in zip(test.tolist(), _predict(m, data.subset(test)), strict=True):
                pred[i] = r
        rep = quality_report(pred, data)
        rep["folds"] = folds
        rep["seed"] = seed
    model = one(data)
    model.report = rep
    model.meta = {
        "n_queries": n,
        "n_pairs": int(sum(len(y) for y in data.labels)),
        "n_positive_pairs": round(positives),
        "depth": depth,
        "n_components": len(model.components),
        "ridge": model.ridge,
        "ridge_chosen_by": "inner cross-validation" if ridge is None else "caller",
        "seed": seed,
    }
    return model


# ----------------------------------------------------------------------------------------------
# Quality measures
# ----------------------------------------------------------------------------------------------


def pr_curve(
    scores: np.ndarray, labels: np.ndarray, n_positive: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled precision-recall curve of a global threshold: ``(thresholds, precision, recall)``
    at every distinct score, thresholds descending (keep ``score >= threshold``)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    o = np.argsort(-s, kind="stable")
    s, y = s[o], y[o]
    tp = np.cumsum(y)
    k = np.arange(1, len(y) + 1)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # ties: cut after the group
    npos = float(y.sum()) if n_positive is None else float(n_positive)
    return s[last], tp[last] / k[last], tp[last] / max(npos, 1e-12)


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the PR curve as average precision (step sum over recall increments)."""
    r = np.r_[0.0, recall]
    return float(np.sum(np.diff(r) * precision))


def precision_at_recall(precision: np.ndarray, recall: np.ndarray, target: float) -> float:
    """Best precision among thresholds whose recall reaches ``target`` (0 if none does)."""
    ok = recall >= target - 1e-12
    return float(precision[ok].max()) if ok.any() else 0.0


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(threshold, F1)`` of the global threshold with the best pooled F1."""
    thr, p, r = pr_curve(scores, labels)
    f1 = 2 * p * r / np.maximum(p + r, 1e-12)
    i = int(f1.argmax())
    return float(thr[i]), float(f1[i])


def set_quality(
    keep: list[np.ndarray], labels: list[np.ndarray], n_relevant: np.ndarray | None = None
) -> dict[str, float]:
    """Precision, recall, F1 of returned sets (``keep[i]`` masks query ``i``'s candidates).

    Micro figures pool counts over queries; recall is against the relevant candidates (the
    filter cannot return what the search did not find), ``recall_all`` against every
    relevant document when ``n_relevant`` is given. Macro F1 averages per query over queries
    with a relevant candidate (F1 = 0 when a query returns nothing).
    """
    tp = sum(float(np.sum(k * y)) for k, y in zip(keep, labels, strict=True))
    ret = sum(float(np.sum(k)) for k in keep)
    pos = sum(float(np.sum(y)) for y in labels)
    p = tp / ret if ret else 0.0
    r = tp / pos if pos else 0.0
    f1s = []
    for k, y in zip(keep, labels, strict=True):
        if np.sum(y) == 0:
            continue
        t = float(np.sum(k * y))
        pq = t / float(np.sum(k)) if np.sum(k) else 0.0
        rq = t / float(np.sum(y))
        f1s.append(2 * pq * rq / (pq + rq) if pq + rq else 0.0)
    out = {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "mean_returned": ret / max(len(keep), 1),
        "empty_fraction": float(np.mean([np.sum(k) == 0 for k in keep])) if keep else 0.0,
    }
    if n_relevant is not None:
        out["recall_all"] = tp / max(float(np.sum(n_relevant)), 1e-12)
    return out


def calibration_error(pred: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width probability bins."""
    p = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
    return float(err)


def quality_report(pred: list[np.ndarray], data: TrainingSet) -> dict[str, Any]:
    """Held-out quality of predictions ``pred`` (one array per query of ``data``)."""
    p = np.concatenate(pred)
    y = np.concatenate(data.labels)
    raw = np.concatenate(data.scores)
    _, prec, rec = pr_curve(p, y)
    _, rprec, rrec = pr_curve(raw, y)
    thr, _ = best_f1_threshold(p, y)
    at = {}
    for name, t in (("at_0.5", 0.5), ("at_best_f1", thr)):
        keep = [r >= t for r in pred]
        at[name] = {"threshold": t, **set_quality(keep, data.labels, data.n_relevant)}
    return {
        "held_out": True,
        "n_queries": len(pred),
        "log_loss": _log_loss(pred, data.labels),
        "brier": float(np.mean((p - y) ** 2)),
        "calibration_error": calibration_error(p, y),
        "mean_relevance": float(p.mean()),
        "positive_rate": float(y.mean()),
        "pr_auc": average_precision(prec, rec),
        "pr_auc_raw_cosine": average_precision(rprec, rrec),
        "precision_at_recall_0.9": precision_at_recall(prec, rec, 0.9),
        "precision_at_recall_0.95": precision_at_recall(prec, rec, 0.95),
        "suggested_threshold": thr,
        **at,
    }
