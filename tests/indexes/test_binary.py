"""Binary codes: kernels against numpy, reconstruction, estimator exactness, recall, storage."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from indexes import (
    DimensionMismatchError,
    FlatIndex,
    IndexFormatError,
    InvalidParameterError,
    InvalidVectorError,
    NotTrainedError,
    UnknownIdError,
    UnsupportedOperationError,
)
from indexes._kernels.bits import hamming_matrix
from indexes._kernels.bits_scan import candidate_capacity, scan_chunk, use_exhaustive
from indexes._kernels.bits_search import _select_unordered
from indexes.binary import BinaryIndex, BinaryParams
from tests.helpers import recall

METRICS = ["l2", "ip", "cosine"]


def numpy_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Reference Hamming distances through unpackbits on the bytes of the words."""
    ab = np.unpackbits(a.view(np.uint8), axis=1)
    bb = np.unpackbits(b.view(np.uint8), axis=1)
    return (ab[:, None, :] != bb[None, :, :]).sum(axis=2)


@pytest.fixture(scope="module")
def vaswani_binary(vaswani_embeddings):
    """Vaswani docs in 1-, 2- and 4-bit indexes plus exact top-10 for the 93 queries."""
    docs, queries = vaswani_embeddings
    ids = np.arange(docs.shape[0])
    flat = FlatIndex(docs.shape[1], "cosine")
    flat.add(docs, ids)
    truth, _ = flat.search(queries, 10)
    indexes = {}
    for bits in (1, 2, 4):
        index = BinaryIndex(docs.shape[1], "cosine", bits=bits)
        index.train(docs)
        index.add(docs, ids)
        indexes[bits] = index
    return docs, queries, truth, indexes


def test_popcount_hamming_matches_numpy(rng):
    a = rng.integers(0, 2**63, size=(17, 5), dtype=np.int64).view(np.uint64)
    b = rng.integers(0, 2**63, size=(23, 5), dtype=np.int64).view(np.uint64)
    b[0] = a[0]  # distance 0
    b[1] = ~a[1]  # all bits differ
    got = hamming_matrix(a, b)
    np.testing.assert_array_equal(got, numpy_hamming(a, b))
    assert got[0, 0] == 0 and got[1, 1] == 5 * 64


@pytest.mark.parametrize("dim", [100, 512])
def test_hamming_scan_is_exact_top_k(rng, dim):
    # several blocks of rows; shortlists taken by the threshold pass (k = 1, 25) and by the
    # exhaustive buffer (k = 700); ids that are not slots; a filter; one query (single path)
    # and a batch (query chunks)
    n = 12000
    assert not use_exhaustive(25, n) and use_exhaustive(700, n)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    ids = rng.permutation(n) * 3 + 11
    index = BinaryIndex(dim, "l2", bits=2)
    index.train(x)
    index.add(x, ids)
    q = rng.standard_normal((9, dim)).astype(np.float32)
    ref = numpy_hamming(index.encode(q)[0][:, 0], index.stored_codes()[0][:, 0]).astype(float)
    mask = rng.random(n) < 0.3
    for allow in (None, ids[mask]):
        dist = ref if allow is None else np.where(mask, ref, np.inf)
        for k in (1, 25, 700):
            got_i, got_d = index.search(q, k, BinaryParams(rescore=False, scoring="hamming"), allow)
            order = np.lexsort((np.tile(ids, (9, 1)), dist), axis=1)[:, :k]
            np.testing.assert_array_equal(got_i, ids[order])  # ties broken by id
            np.testing.assert_array_equal(got_d, np.take_along_axis(dist, order, axis=1))
            one_i, one_d = index.search(q[4], k, BinaryParams(rescore=False, scoring="hamming"))
            if allow is None:
                np.testing.assert_array_equal(one_i[0], got_i[4])
                np.testing.assert_array_equal(one_d[0], got_d[4])


def test_hamming_scan_exact_when_ties_overflow_the_candidate_buffer(rng):
    # 6 distinct codes among 4000 rows: hundreds of rows tie at every distance, so the
    # candidate buffer cannot shrink and the scan falls back to the exhaustive buffer
    base = rng.standard_normal((6, 128)).astype(np.float32)
    x = base[rng.integers(0, 6, 4000)]
    ids = rng.permutation(4000)
    index = BinaryIndex(128, "ip", bits=1)
    index.train(x)
    index.add(x, ids)
    q = rng.standard_normal((3, 128)).astype(np.float32)
    qcodes = np.ascontiguousarray(index.encode(q)[0][:, 0])
    codes0 = index._rows.arrays["codes"][0]
    ref = numpy_hamming(qcodes, index.stored_codes()[0][:, 0])
    for k in (5, 60):
        cap = candidate_capacity(k)
        counts = np.empty(3, dtype=np.int64)
        scan_chunk(
            qcodes, codes0, 4000, np.zeros(0, dtype=bool), k, np.empty((3, cap), np.uint16),
            np.empty((3, cap), np.int64), counts, np.empty(129, np.int32),
        )  # fmt: skip
        assert (counts == -1).all()  # the fallback path is what this test exercises
        got_i, got_d = index.search(q, k, BinaryParams(rescore=False, scoring="hamming"))
        order = np.lexsort((np.tile(ids, (3, 1)), ref), axis=1)[:, :k]
        np.testing.assert_array_equal(got_i, ids[order])
        np.testing.assert_array_equal(got_d, np.take_along_axis(ref, order, axis=1))


def test_reconstruction_error_strictly_decreases_with_bits(vaswani_binary):
    docs, _, _, indexes = vaswani_binary
    errors = []
    for bits in (1, 2, 3, 4):
        index = indexes.get(bits) or BinaryIndex(docs.shape[1], "cosine", bits=bits)
        if bits not in indexes:
            index.train(docs)
        recon = index.decode(*index.encode(docs))
        errors.append(float(np.mean(np.sum((recon - index.prepare(docs)) ** 2, axis=1))))
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.2 * errors[0]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("scoring", ["symmetric", "asymmetric"])
def test_lookup_table_estimates_equal_decoded_distances(rng, metric, scoring):
    x = rng.standard_normal((400, 40)).astype(np.float32) + 0.3
    q = rng.standard_normal((6, 40)).astype(np.float32)
    index = BinaryIndex(40, metric, bits=3)
    index.train(x)
    index.add(x, np.arange(400) + 1000)
    got_i, got_d = index.search(q, 400, BinaryParams(rescore=False, scoring=scoring))
    decoded = index.decode(*index.stored_codes()[:2]).astype(np.float64)
    qq = index.prepare(q).astype(np.float64)
    if scoring == "symmetric":  # the query is encoded too
        qq = index.decode(*index.encode(q)).astype(np.float64)
    if metric == "l2":
        full = ((qq[:, None, :] - decoded[None]) ** 2).sum(-1)
    elif metric == "ip":
        full = -(qq @ decoded.T)
    else:
        full = 1.0 - qq @ decoded.T
    expected = np.take_along_axis(full, got_i - 1000, axis=1)
    np.testing.assert_allclose(got_d, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got_d, np.sort(full, axis=1), rtol=1e-4, atol=1e-3)


def test_recall_with_rescoring_on_vaswani(vaswani_binary):
    _, queries, truth, indexes = vaswani_binary
    no_rescore = recall(indexes[1].search(queries, 10, BinaryParams(rescore=False))[0], truth)
    one_bit = recall(indexes[1].search(queries, 10, BinaryParams(oversampling=4))[0], truth)
    two_bit = recall(indexes[2].search(queries, 10, BinaryParams(oversampling=4))[0], truth)
    assert one_bit >= 0.95
    assert two_bit >= 0.98
    assert one_bit > no_rescore + 0.1
    # more bits, better code-only ranking
    by_bits = [
        recall(indexes[b].search(queries, 10, BinaryParams(rescore=False))[0], truth)
        for b in (1, 2, 4)
    ]
    assert by_bits[0] < by_bits[1] < by_bits[2]


def test_allow_filter(vaswani_binary):
    docs, queries, _, indexes = vaswani_binary
    allowed = np.arange(0, docs.shape[0], 50)  # 2% of the points
    flat = FlatIndex(docs.shape[1], "cosine")
    flat.add(docs[allowed], allowed)
    truth, _ = flat.search(queries, 10)
    got, _ = indexes[2].search(queries, 10, BinaryParams(oversampling=4), allow=allowed)
    assert np.isin(got, allowed).all()
    assert recall(got, truth) >= 0.95
    few = indexes[1].search(queries[:3], 10, allow=allowed[:4])[0]
    assert ((few >= 0).sum(axis=1) == 4).all()


def test_disk_vectors_give_identical_results(tmp_path, vaswani_binary):
    _, queries, _, indexes = vaswani_binary
    index = indexes[2]
    index.save(tmp_path / "bin")
    on_disk = BinaryIndex.load(tmp_path / "bin", mmap=True)
    in_ram = BinaryIndex.load(tmp_path / "bin", mmap=False)
    for scoring in ("hamming", "cascade", "symmetric", "asymmetric"):
        params = BinaryParams(scoring=scoring)
        expected = index.search(queries, 10, params)
        for loaded in (on_disk, in_ram):
            got = loaded.search(queries, 10, params)
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])
    disk, ram = on_disk.memory_breakdown(), in_ram.memory_breakdown()
    assert disk["vectors_ram"] == 0 and disk["vectors_disk"] == ram["vectors_ram"] > 0
    assert disk["codes"] == ram["codes"]
    # 2 bits per dimension + a few scalars: far below the 32-bit floats
    assert disk["codes"] * 8 < ram["vectors_ram"]
    assert on_disk.memory_bytes() < in_ram.memory_bytes() - ram["vectors_ram"] // 2


def test_loads_format_1_row_major_codes(tmp_path, rng):
    # indexes saved before codes went word-major (format 1) load and search the same
    x = rng.standard_normal((300, 70)).astype(np.float32)
    index = BinaryIndex(70, "cosine", bits=3, scoring="asymmetric", rotate=False)
    index.train(x)
    index.add(x, np.arange(300) + 5)
    index.save(tmp_path / "v2")
    v1 = tmp_path / "v1"
    v1.mkdir()
    for f in (tmp_path / "v2").iterdir():
        (v1 / f.name).write_bytes(f.read_bytes())
    np.save(v1 / "codes.npy", index.stored_codes()[0])  # (n, bits, n_words)
    manifest = json.loads((v1 / "manifest.json").read_text())
    manifest["version"] = 1  # format 1: top-level build keys, no rotation
    manifest["meta"] = {k: v for k, v in manifest["meta"]["config"].items() if k != "rotate"}
    (v1 / "manifest.json").write_text(json.dumps(manifest))
    old = BinaryIndex.load(v1)
    for scoring in ("hamming", "cascade", "symmetric", "asymmetric"):
        params = BinaryParams(scoring=scoring, rescore=False)
        expected = index.search(x[:7], 10, params)
        got = old.search(x[:7], 10, params)
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    manifest["version"] = 99
    (v1 / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="version 99"):
        BinaryIndex.load(v1)


def test_upsert_remove_and_codes_only_index(rng):
    x = rng.standard_normal((200, 16)).astype(np.float32)
    index = BinaryIndex(16, "ip", bits=2, keep_vectors=False)
    index.train(x)
    index.add(x, np.arange(200))
    with pytest.raises(UnsupportedOperationError, match="keep_vectors"):
        index.search(x[:1], 5)
    got, _ = index.search(x[:1] * 10, 1, BinaryParams(rescore=False))
    index.add(-x[got[0]], got[0])  # replace the best hit by its opposite
    assert index.ntotal == 200
    again, _ = index.search(x[:1] * 10, 1, BinaryParams(rescore=False))
    assert again[0, 0] != got[0, 0]
    index.remove(again[0])
    assert index.ntotal == 199
    assert again[0, 0] not in index.search(x[:1], 199, BinaryParams(rescore=False))[0]


def test_bad_input(rng):
    x = rng.standard_normal((50, 8)).astype(np.float32)
    index = BinaryIndex(8, "cosine")
    with pytest.raises(NotTrainedError):
        index.add(x, np.arange(50))
    with pytest.raises(NotTrainedError):
        index.search(x, 3)
    index.train(x)
    index.add(x, np.arange(50))
    before = index.search(x[:4], 5)
    bad = x[:2].copy()
    bad[1, 3] = np.inf
    with pytest.raises(InvalidVectorError):
        index.add(bad, [100, 101])
    with pytest.raises(DimensionMismatchError):
        index.add(np.ones((1, 9)), [100])
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones((1, 7)), 3)
    with pytest.raises(InvalidVectorError):
        index.search(np.full((1, 8), np.nan), 3)
    with pytest.raises(UnknownIdError):
        index.remove([1, 999])
    with pytest.raises(InvalidParameterError, match="k must be"):
        index.search(x[:1], 0)
    with pytest.raises(InvalidParameterError, match="oversampling"):
        index.search(x[:1], 3, BinaryParams(oversampling=0.5))
    with pytest.raises(InvalidParameterError, match="scoring"):
        index.search(x[:1], 3, BinaryParams(scoring="euclid"))
    with pytest.raises(InvalidParameterError, match="bits"):
        BinaryIndex(8, "cosine", bits=5)
    with pytest.raises(InvalidParameterError, match="rotate must be true or false"):
        BinaryIndex(8, "cosine", rotate="no")  # a JSON string would otherwise read as True
    with pytest.raises(InvalidParameterError, match="keep_vectors"):
        BinaryIndex(8, "cosine", keep_vectors=1)
    with pytest.raises(InvalidParameterError, match="at least one"):
        BinaryIndex(8, "cosine").train(np.empty((0, 8)))
    assert index.ntotal == 50
    after = index.search(x[:4], 5)
    np.testing.assert_array_equal(before[0], after[0])


# -- fused Hamming / cascade search ----------------------------------------------------------


def test_hamming_shortlist_breaks_ties_by_id_not_slot(rng):
    # few distinct distances (16 dims) -> many ties at the cut-off; ids are a permutation, so
    # slot order and id order differ; a filter on top
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    ids = rng.permutation(2000) + 7
    index = BinaryIndex(16, "ip", bits=1)
    index.train(x)
    index.add(x, ids)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    allow = ids[rng.random(2000) < 0.5]
    mask = np.isin(ids, allow)
    ref = numpy_hamming(index.encode(q)[0][:, 0], index.stored_codes()[0][:, 0]).astype(float)
    ref[:, ~mask] = np.inf
    for k in (1, 13, 40):
        got_i, got_d = index.search(q, k, BinaryParams(rescore=False, scoring="hamming"), allow)
        for r in range(5):
            order = np.lexsort((ids, ref[r]))[:k]
            np.testing.assert_array_equal(got_i[r], ids[order])
            np.testing.assert_array_equal(got_d[r], ref[r, order])


@pytest.mark.parametrize("metric", METRICS)
def test_cascade_with_full_shortlist_equals_asymmetric_scan(rng, metric):
    x = rng.standard_normal((600, 40)).astype(np.float32) + 0.3
    q = rng.standard_normal((4, 40)).astype(np.float32)
    index = BinaryIndex(40, metric, bits=2)
    index.train(x)
    index.add(x, np.arange(600))
    k = 20
    full = BinaryParams(rescore=False, scoring="cascade", shortlist=600 / k)
    asym = BinaryParams(rescore=False, scoring="asymmetric")
    ci, cd = index.search(q, k, full)
    ai, ad = index.search(q, k, asym)
    np.testing.assert_allclose(cd, ad, rtol=1e-4, atol=1e-4)  # same estimates, other sum order
    assert np.mean([len(set(a) & set(b)) for a, b in zip(ci, ai, strict=True)]) >= k - 1
    # one query through the single-query fast path gives the batch answer
    one_i, one_d = index.search(q[2], k, full)
    np.testing.assert_array_equal(one_i[0], ci[2])
    np.testing.assert_array_equal(one_d[0], cd[2])


def test_cascade_recall_and_ram_on_vaswani(tmp_path, vaswani_binary):
    _, queries, truth, indexes = vaswani_binary
    params = BinaryParams(scoring="cascade", oversampling=4, shortlist=16)
    one_bit = recall(indexes[1].search(queries, 10, params)[0], truth)
    two_bit = recall(indexes[2].search(queries, 10, params)[0], truth)
    hamming = recall(indexes[1].search(queries, 10, BinaryParams(scoring="hamming"))[0], truth)
    assert one_bit >= 0.95 and two_bit >= 0.97
    assert one_bit > hamming  # the refinement stage ranks the shortlist better than Hamming
    # floats (and aux scalars) memory-mapped: RAM holds codes, scales and ids only
    indexes[1].save(tmp_path / "one")
    loaded = BinaryIndex.load(tmp_path / "one", mmap=True)
    mem = loaded.memory_breakdown()
    floats = loaded.ntotal * loaded.dim * 4
    assert mem["vectors_ram"] == mem["aux_ram"] == 0
    assert mem["vectors_disk"] == floats and mem["aux_disk"] > 0
    assert mem["codes"] * 25 <= floats  # 48 B codes + 4 B scale + 8 B id vs 1536 B of floats
    assert loaded.memory_bytes() < floats / 25 + 4096
    # single-query fast path on the memory-mapped index = batch path on the in-RAM index
    expected = indexes[1].search(queries[:5], 10, params)
    for r in range(5):
        got = loaded.search(queries[r], 10, params)
        np.testing.assert_array_equal(got[0][0], expected[0][r])
        np.testing.assert_array_equal(got[1][0], expected[1][r])


def test_shortlist_must_be_at_least_one(rng):
    x = rng.standard_normal((20, 8)).astype(np.float32)
    index = BinaryIndex(8, "l2")
    index.train(x)
    index.add(x, np.arange(20))
    with pytest.raises(InvalidParameterError, match="shortlist"):
        index.search(x[:1], 3, BinaryParams(scoring="cascade", shortlist=0.5))
    with pytest.raises(InvalidVectorError):
        index.search(np.full(8, np.nan, dtype=np.float32), 3, BinaryParams(scoring="cascade"))


def test_select_unordered_keeps_smallest_key_then_id(rng):
    # the pipeline's intermediate cut: heavy ties (8 distinct keys), ids unlike slots
    for count, kk in ((50, 10), (200, 37), (30, 30), (12, 40)):
        keys = rng.integers(0, 8, count).astype(np.float64)
        slots = rng.permutation(1000)[:count]
        ids = rng.permutation(1000) + 5
        out_s = np.empty(kk, np.int64)
        out_k = np.empty(kk, np.float64)
        got = _select_unordered(keys, slots, count, ids, kk, out_s, out_k)
        order = np.lexsort((ids[slots], keys))[: min(kk, count)]
        assert got == len(order)
        assert set(out_s[:got]) == set(slots[order])
        np.testing.assert_array_equal(np.sort(out_k[:got]), np.sort(keys[order]))
