"""Fitting a collection's relevance model from labelled queries (the engine side of
:mod:`vecsearch.relevance`, which holds the model and its numerics).

The training pairs of a query are its unfiltered top-``depth`` hits in the model's vector
space, labelled relevant or not from the user's judgements. The model is stored in the
collection's store metadata (it survives reopening and travels in snapshots) with the name
of its space (``meta["using"]``; ``""``, the unnamed vector, for models fitted before named
vectors existed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from vecsearch.errors import (
    RelevanceLabelError,
    RelevanceModelMissingError,
    RelevanceModelNotFoundError,
    RelevanceUnsupportedError,
    ValidationError,
)
from vecsearch.ids import id_key, key_to_id, parse_point_id, parse_point_ids
from vecsearch.query.execute import Reader, top_hits
from vecsearch.relevance import (
    DEFAULT_COMPONENTS,
    DEFAULT_DEPTH,
    RelevanceFitError,
    RelevanceModel,
    TrainingSet,
)
from vecsearch.relevance import fit as fit_relevance_model
from vecsearch.validate import check_int, check_threshold, check_vectors

log = logging.getLogger(__name__)

#: Store metadata key of the fitted relevance model (JSON, see vecsearch.relevance).
RELEVANCE_KEY = "relevance_model"


def load_model(raw: str | None, collection: str) -> RelevanceModel | None:
    """The stored model (None if there is none or it is unreadable, with a warning)."""
    if raw is None:
        return None
    try:
        return RelevanceModel.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("collection %s: stored relevance model unusable (%s)", collection, exc)
        return None


def model_using(model: RelevanceModel) -> str:
    """The vector space a model was fitted on."""
    return str(model.meta.get("using") or "")


def relevant_keys(item: Any, field: str, gain_floor: float | None) -> list[bytes]:
    """Id keys judged relevant in one query's labels: a list of ids, or ``{id: gain}``
    where a gain ``> 0`` (or ``>= gain_floor`` when given) is relevant."""
    if isinstance(item, Mapping):
        keys = []
        for pid, gain in item.items():
            key = id_key(parse_point_id(pid, f"{field}.{pid}"))
            g = check_threshold(gain, f"{field}.{pid}")
            if g is None:
                raise RelevanceLabelError(f"{field}.{pid}", "gain must be a number")
            if (g > 0) if gain_floor is None else (g >= gain_floor):
                keys.append(key)
    elif isinstance(item, Sequence | np.ndarray) and not isinstance(item, str | bytes):
        keys = [id_key(p) for p in parse_point_ids(list(item), field)]
    else:
        raise RelevanceLabelError(field, "expected a list of point ids or {id: gain}")
    if not keys:
        raise RelevanceLabelError(field, "no relevant point id (empty set)")
    return list(dict.fromkeys(keys))


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while fitting (threadpoolctl, when installed): the fit's
    small matrix products were measured 10-70x slower with OpenBLAS threads on a loaded
    2-core machine (an 93 x 384 SVD: 0.1 s idle, 3.6 s under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def fit_model(
    coll: Reader,
    name: str,
    queries: Any,
    relevant: Sequence[Any],
    *,
    using: str = "",
    min_gain: float | None = None,
    depth: int = DEFAULT_DEPTH,
    n_components: int = DEFAULT_COMPONENTS,
    ridge: float | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[RelevanceModel, int]:
    """Fit a model (see :meth:`vecsearch.collection.Collection.fit_relevance`); returns it
    with the store seq it was fitted at. Nothing is stored here."""
    space = coll.space(using, "using")
    if space.sparse:
        raise RelevanceUnsupportedError(
            "using",
            f"relevance calibration needs single-vector Cosine scores; vector {using!r} of "
            f"collection {name!r} is sparse",
        )
    if space.multi:
        raise RelevanceUnsupportedError(
            "vectors.multivector_config",
            f"relevance calibration needs single-vector Cosine scores; vector {using!r} of "
            f"collection {name!r} is multi-vector (MaxSim)",
        )
    if space.config.metric != "cosine":
        raise RelevanceUnsupportedError(
            "vectors.distance",
            f"relevance calibration needs Cosine distance; collection {name!r} uses "
            f"{space.config.distance.value}",
        )
    depth = check_int(depth, "depth", minimum=2)
    folds = check_int(folds, "folds", minimum=2)
    n_components = check_int(n_components, "n_components", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    if ridge is not None:
        ridge = check_threshold(ridge, "ridge")
        if ridge is None or ridge < 0:
            raise ValidationError("ridge", f"expected a number >= 0, got {ridge!r}")
    gain_floor = check_threshold(min_gain, "min_gain")
    if isinstance(queries, str | bytes | Mapping) or not isinstance(queries, Sequence | np.ndarray):
        raise ValidationError("queries", "expected a list of query vectors")
    if len(queries) == 0:
        raise RelevanceLabelError("queries", "no labelled queries")
    qs = check_vectors(queries, space.config.size, lambda i: f"queries[{i}]", cosine=True)
    if isinstance(relevant, str | bytes | Mapping) or not isinstance(relevant, Sequence):
        raise RelevanceLabelError("relevant", "expected a list with one entry per query")
    if len(relevant) != len(qs):
        raise RelevanceLabelError(
            "relevant", f"expected {len(qs)} entries (one per query), got {len(relevant)}"
        )
    if len(qs) < folds:
        raise RelevanceLabelError(
            "queries", f"need at least folds={folds} labelled queries, got {len(qs)}"
        )
    wanted = [relevant_keys(item, f"relevant[{i}]", gain_floor) for i, item in enumerate(relevant)]
    all_keys = list(dict.fromkeys(k for keys in wanted for k in keys))
    found = coll.store.lookup(all_keys)
    for i, keys in enumerate(wanted):
        for key in keys:
            if key not in found:
                raise RelevanceLabelError(
                    f"relevant[{i}]", f"unknown point id {key_to_id(key)} in collection {name!r}"
                )
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    with coll.reading():
        for q, keys in zip(qs, wanted, strict=True):
            lab, sc = top_hits(coll, using, q, min(depth, space.count))
            rel = np.fromiter((found[k] for k in keys), np.int64, count=len(keys))
            scores.append(sc.astype(np.float64))
            labels.append(np.isin(lab, rel).astype(np.float64))
        seq = coll.store.seq
    data = TrainingSet(
        qs.astype(np.float64), scores, labels, np.array([len(k) for k in wanted], float)
    )
    try:
        with _one_blas_thread():
            model = fit_relevance_model(
                data, depth=depth, n_components=n_components, ridge=ridge, folds=folds, seed=seed
            )
    except RelevanceFitError as exc:
        raise RelevanceLabelError("relevant", str(exc)) from None
    model.meta.update(
        using=using,
        fitted_at_seq=seq,
        fitted_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        min_gain=gain_floor,
    )
    return model, seq


def model_info(model: RelevanceModel) -> dict[str, Any]:
    """A model's description and held-out report (what ``GET .../relevance`` returns)."""
    d = model.to_dict()
    return {
        "format": d["format"],
        "version": d["version"],
        "revision": model.meta.get("revision"),
        "depth": model.depth,
        "feature_names": d["feature_names"],
        "ridge": model.ridge,
        "meta": model.meta,
        "report": model.report,
    }


class RelevanceSlot:
    """A collection's relevance model: read from its store at open, replaced by a fit,
    removed on request; searches read :attr:`model` under the collection's shared lock, and
    changes swap it under the exclusive one."""

    def __init__(
        self,
        name: str,
        uuid: str,
        store: Any,
        write_lock: AbstractContextManager[Any],
        rw: Any,
    ) -> None:
        self.name, self.uuid, self.store = name, uuid, store
        self._write_lock, self._rw = write_lock, rw
        self.model = load_model(store.get_meta(RELEVANCE_KEY), name)

    def for_space(self, using: str) -> RelevanceModel | None:
        """The model if it was fitted on space ``using``."""
        model = self.model
        return model if model is not None and model_using(model) == using else None

    def check_threshold(self, value: Any, using: str, field: str) -> float | None:
        """A checked ``relevance_threshold`` (it needs a model fitted on space ``using``)."""
        rthr = check_threshold(value, field)
        if rthr is None:
            return None
        if not 0.0 <= rthr <= 1.0:
            raise ValidationError(field, f"expected a number in [0, 1], got {rthr!r}")
        if self.for_space(using) is None:
            raise RelevanceModelMissingError(
                field,
                f"collection {self.name!r} has no relevance model"
                + (f" for vector {using!r}" if using else "")
                + "; fit one first (Collection.fit_relevance, `vecsearch relevance fit` or "
                "PUT /collections/{name}/relevance)",
            )
        return rthr

    def install(self, model: RelevanceModel, points_count: int) -> dict[str, Any]:
        """Store a freshly fitted model (the next revision) and start using it."""
        with self._write_lock:
            old = self.model
            model.meta.update(
                revision=(int(old.meta.get("revision", 0)) if old is not None else 0) + 1,
                collection_uuid=self.uuid,
                points_count=points_count,
            )
            self.store.set_meta({RELEVANCE_KEY: json.dumps(model.to_dict())})
            with self._rw.write():
                self.model = model
        return self.info()

    def info(self) -> dict[str, Any]:
        """The model's description and report (:class:`RelevanceModelNotFoundError` if none)."""
        if self.model is None:
            raise RelevanceModelNotFoundError(f"collection {self.name!r} has no relevance model")
        return model_info(self.model)

    def delete(self) -> None:
        """Remove the model (:class:`RelevanceModelNotFoundError` if there is none)."""
        with self._write_lock:
            if self.model is None:
                raise RelevanceModelNotFoundError(
                    f"collection {self.name!r} has no relevance model"
                )
            self.store.delete_meta(RELEVANCE_KEY)
            with self._rw.write():
                self.model = None
