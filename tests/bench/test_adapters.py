"""Every adapter answers the same calls correctly for every metric, on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from bench.adapters import ADAPTERS, AdapterUnavailable, adapter_class
from bench.metrics import recall_per_query
from vecsearch.datasets import Dataset, ground_truth, make_synthetic

# (adapter, build params, query params, minimum recall@10)
CASES = [
    ("flat", {}, {}, 1.0),
    ("faiss-flat", {}, {}, 1.0),
    ("hnswlib", {"M": 12, "ef_construction": 100}, {"ef": 64}, 0.95),
    ("faiss-hnsw", {"M": 12, "ef_construction": 100}, {"ef": 64}, 0.95),
    ("usearch", {"M": 12, "ef_construction": 100}, {"ef": 64}, 0.95),
    ("hnsw", {"M": 12, "ef_construction": 100}, {"ef": 64}, 0.95),
    ("ivfpq", {"nlist": 16, "m": 8}, {"nprobe": 16}, 0.3),
    ("ivfpq-refine", {"nlist": 16, "m": 8}, {"nprobe": 16, "k_factor": 16}, 0.95),
    ("faiss-ivfpq", {"nlist": 16, "m": 8}, {"nprobe": 16}, 0.3),
    ("faiss-ivfpq-refine", {"nlist": 16, "m": 8}, {"nprobe": 16, "k_factor": 16}, 0.95),
    ("binary", {"bits": 2, "scoring": "asymmetric"}, {"oversampling": 8, "rescore": 1}, 0.95),
    # 16 dims give 1-bit Hamming only 17 distinct values (and it ignores norms, which ip
    # ranks by): the cascade needs a long shortlist here
    ("binary", {"bits": 2}, {"oversampling": 8, "shortlist": 40}, 0.9),
    ("binary", {"bits": 1, "scoring": "hamming"}, {"rescore": 0}, 0.1),
    ("faiss-binary", {"threshold": "median"}, {"rerank": 0}, 0.1),
    ("faiss-binary", {"threshold": "median"}, {"rerank": 50}, 0.95),
    ("faiss-ivfflat", {"nlist": 16}, {"nprobe": 16}, 0.99),
    ("spann", {"head_ratio": 0.05, "posting_vector_limit": 64}, {"n_probe": 16}, 0.9),
]


@pytest.fixture(scope="module", params=["l2", "ip", "cosine"])
def data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    mp = pytest.MonkeyPatch()
    mp.setenv("VECSEARCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    d = make_synthetic(1500, 16, n_test=40, metric=request.param, intrinsic_dim=8, seed=7)
    d.meta["gt"] = ground_truth(d, 10)[0]
    mp.undo()
    return d


def test_registry_lists_all_cases() -> None:
    assert {c[0] for c in CASES} == set(ADAPTERS)


@pytest.mark.parametrize(("name", "build", "query", "min_recall"), CASES)
def test_adapter_recall(
    data: Dataset, name: str, build: dict, query: dict, min_recall: float
) -> None:
    try:
        adapter = adapter_class(name)(data.metric, data.dim, **build)
    except AdapterUnavailable as exc:
        pytest.skip(str(exc))
    adapter.set_threads(1)
    adapter.fit(data.train)
    adapter.set_query_params(**query)
    batch = adapter.batch_query(data.test, 10)
    assert batch.shape == (40, 10) and batch.dtype == np.int64
    one = np.stack([adapter.query(q, 10) for q in data.test])
    gt = data.meta["gt"]
    r_batch = recall_per_query(data.train, data.test, batch, gt, 10, data.metric).mean()
    r_one = recall_per_query(data.train, data.test, one, gt, 10, data.metric).mean()
    assert r_batch >= min_recall and r_one >= min_recall
    assert abs(r_batch - r_one) <= 0.05  # same index, same answers up to threading
    assert adapter.memory_bytes() > 0


@pytest.mark.parametrize("name", ["hnswlib", "faiss-hnsw", "usearch"])
def test_graph_adapters_keep_row_ids_under_any_insertion_order(data: Dataset, name: str) -> None:
    adapter = adapter_class(name)(data.metric, data.dim, M=12, ef_construction=100)
    assert adapter.is_graph
    adapter.set_threads(1)
    adapter.fit(data.train, np.random.default_rng(0).permutation(data.train.shape[0]))
    adapter.set_query_params(ef=64)
    ids = adapter.batch_query(data.test, 10)
    r = recall_per_query(data.train, data.test, ids, data.meta["gt"], 10, data.metric).mean()
    assert r >= 0.95


def test_unknown_parameters_are_rejected() -> None:
    cls = adapter_class("hnswlib")
    with pytest.raises(ValueError, match="unknown build parameter"):
        cls("l2", 4, efc=10)
    with pytest.raises(ValueError, match="unknown query parameter"):
        cls("l2", 4).set_query_params(nprobe=3)
    with pytest.raises(ValueError, match="unknown adapter"):
        adapter_class("annoy")


def test_hnsw_adapter_says_why_it_is_unavailable() -> None:
    try:
        import indexes.hnsw  # noqa: F401
    except ImportError:
        with pytest.raises(AdapterUnavailable, match=r"indexes\.hnsw"):
            adapter_class("hnsw")("l2", 8)
    else:
        pytest.skip("indexes.hnsw exists in this checkout")
