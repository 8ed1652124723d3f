"""SparseIndex: exact dot-product search against a brute-force reference, on Vaswani's texts
and on random data, with filters, deletes, replacements, sealing and save/load."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from indexes.errors import InvalidParameterError, InvalidVectorError, UnknownIdError
from indexes.sparse import SparseIndex, SparseParams, as_sparse

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "vaswani"
K = 10


def _bag(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Term frequencies of ``text`` keyed by crc32 of each lower-case word."""
    counts = Counter(zlib.crc32(w.encode()) for w in re.findall(r"[a-z0-9]+", text.lower()))
    return np.array(list(counts), dtype=np.int64), np.array(list(counts.values()), np.float32)


def _trec(path: Path, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", path.read_text(), flags=re.S)


def brute(docs: dict[int, dict[int, float]], queries, k: int, allow=None):
    """Top ``k`` by exact dot product among docs sharing a term, ties by id: (ids, -scores)."""
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    dist = np.full((len(queries), k), np.inf, dtype=np.float32)
    for r, (qi, qv) in enumerate(queries):
        q = dict(zip(np.asarray(qi).tolist(), np.asarray(qv, np.float32).tolist(), strict=True))
        hits = []
        for pid, d in docs.items():
            if allow is not None and pid not in allow:
                continue
            common = q.keys() & d.keys()
            if common:
                s = np.float32(0.0)
                for t in sorted(common):
                    s += np.float32(q[t]) * np.float32(d[t])
                hits.append((-float(s), pid))
        hits.sort()
        for c, (negs, pid) in enumerate(hits[:k]):
            ids[r, c], dist[r, c] = pid, negs
    return ids, dist


def as_dict(rows) -> dict[int, float]:
    i, v = rows
    return dict(zip(np.asarray(i).tolist(), np.asarray(v, np.float32).tolist(), strict=True))


def assert_same(got, want) -> None:
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def test_dense_path_scores_the_forward_tail(vaswani):
    """Positive weights with the last documents still in the forward tail: the dense path
    merges the tail into its accumulator and stays exact; the engine's typed single-query
    form (uint32, float32 arrays) gives the same rows as the general input."""
    docs, queries = vaswani
    queries = queries[::3]  # the brute-force reference is the slow part of this test
    index = SparseIndex()
    cut = len(docs) - 900  # under 10% of the sealed slots: the 900 stay in the tail
    index.add(docs[:cut], np.arange(cut))
    index.add(docs[cut:], np.arange(cut, len(docs)))
    assert index.unsealed == 900 and index._positive
    ref = {i: as_dict(d) for i, d in enumerate(docs)}
    assert_same(index.search(queries, K), brute(ref, queries, K))
    one = SparseParams(n_threads=1)
    for r in range(0, len(queries), 4):
        idx, val = queries[r]
        order = np.argsort(idx)
        typed = [
            (np.asarray(idx)[order].astype(np.uint32), np.asarray(val)[order].astype(np.float32))
        ]
        assert_same(index.search(typed, K, one), brute(ref, queries[r : r + 1], K))
    index.add([(np.array([5], np.uint32), np.array([-1.0], np.float32))], [10**6])
    assert not index._positive  # a negative weight: the touched path from now on
    ref[10**6] = {5: -1.0}
    assert_same(index.search(queries, K), brute(ref, queries, K))


def random_rows(rng, n: int, vocab: int = 300, length: int = 12):
    rows = []
    for _ in range(n):
        m = int(rng.integers(0, length + 1))
        idx = rng.choice(vocab, m, replace=False) * 7919  # spread over the u32 range
        rows.append((idx, rng.normal(size=m).astype(np.float32)))
    return rows


@pytest.fixture(scope="module")
def vaswani():
    docs = [_bag(t) for t in _trec(DATA / "doc-text.trec", "DOC")]
    queries = [_bag(t) for t in _trec(DATA / "query-text.trec", "title")]
    return docs, queries


def test_vaswani_equals_brute_force(vaswani):
    docs, queries = vaswani
    index = SparseIndex()
    index.add(docs, np.arange(len(docs)))
    ref = {i: as_dict(d) for i, d in enumerate(docs)}
    assert_same(index.search(queries, K), brute(ref, queries, K))
    # with a filter: every third document
    allow = np.arange(0, len(docs), 3)
    assert_same(index.search(queries, K, allow=allow), brute(ref, queries, K, set(allow.tolist())))
    # deletes, then rebuilt lists: the dense path for positive weights (no forward tail)
    gone = np.arange(0, len(docs), 5)
    index.remove(gone)
    index.seal()
    for g in gone.tolist():
        del ref[g]
    assert index._positive and index._sealed == index.n_slots
    assert_same(index.search(queries, K), brute(ref, queries, K))
    assert_same(index.search(queries, K, allow=allow), brute(ref, queries, K, set(allow.tolist())))
    # one query at a time (the serial kernel) gives the same rows
    for r in range(0, len(queries), 17):
        one = index.search(queries[r : r + 1], K, SparseParams(n_threads=1))
        assert_same(one, tuple(a[r : r + 1] for a in index.search(queries, K)))


@pytest.mark.parametrize("seal_min", [10**9, 50])
def test_random_with_deletes_replacements_and_sealing(seal_min):
    """Adds in batches, deletes, re-adds: equal to brute force whether the recent points sit
    in the forward tail (no seal) or in rebuilt, compacted lists (sealing every 50 points)."""
    rng = np.random.default_rng(5)
    index = SparseIndex()
    index.SEAL_MIN = seal_min
    ref: dict[int, dict[int, float]] = {}
    next_id = 0
    for step in range(8):
        rows = random_rows(rng, 120)
        ids = np.arange(next_id, next_id + len(rows)) * 3 + 1
        next_id += len(rows)
        index.add(rows, ids)
        ref.update({int(i): as_dict(r) for i, r in zip(ids, rows, strict=True)})
        gone = rng.choice(sorted(ref), 40, replace=False)
        index.remove(gone)
        for g in gone.tolist():
            del ref[g]
        again = rng.choice(sorted(ref), 20, replace=False)  # replaced vectors
        new_rows = random_rows(rng, 20)
        index.add(new_rows, again)
        ref.update({int(i): as_dict(r) for i, r in zip(again, new_rows, strict=True)})
        assert index.ntotal == len(ref)
        queries = random_rows(rng, 25, length=6)
        assert_same(index.search(queries, K), brute(ref, queries, K))
        if step % 3 == 0:
            allow = set(rng.choice(sorted(ref), len(ref) // 5, replace=False).tolist())
            got = index.search(queries, K, allow=np.array(sorted(allow)))
            assert_same(got, brute(ref, queries, K, allow))
    # once dead slots are half of all slots, a seal compacts them away
    gone = rng.choice(sorted(ref), len(ref) * 3 // 4, replace=False)
    index.remove(gone)
    for g in gone.tolist():
        del ref[g]
    assert index.n_slots > 2 * index.ntotal
    index.seal()
    assert index.n_slots == index.ntotal == len(ref)
    queries = random_rows(rng, 25, length=6)
    assert_same(index.search(queries, K), brute(ref, queries, K))
    for pid in rng.choice(sorted(ref), 5, replace=False).tolist():
        (idx, val), want = index.get_vectors([pid])[0], ref[pid]
        assert as_dict((idx, val)) == want and (np.diff(idx.astype(np.int64)) > 0).all()


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, vaswani, mmap):
    docs, queries = vaswani
    index = SparseIndex()
    index.SEAL_MIN = 1000
    index.add(docs[:3000], np.arange(3000))
    index.add(docs[3000:3500], np.arange(3000, 3500))  # left in the forward tail
    index.remove(np.arange(0, 3500, 7))
    before = index.search(queries, K)
    index.save(tmp_path / "ix")
    loaded = SparseIndex.load(tmp_path / "ix", mmap=mmap)
    assert loaded.ntotal == index.ntotal
    assert_same(loaded.search(queries, K), before)
    # a loaded (even memory-mapped) index takes writes; the saved files do not change
    loaded.add(docs[3500:4000], np.arange(3500, 4000))
    loaded.remove([1, 2])
    ref = {i: as_dict(docs[i]) for i in range(4000) if (i % 7 or i >= 3500) and i not in (1, 2)}
    assert_same(loaded.search(queries, K), brute(ref, queries, K))
    assert_same(SparseIndex.load(tmp_path / "ix").search(queries, K), before)


def test_results_form_ties_and_padding():
    index = SparseIndex()
    index.add([([1, 2], [1.0, 1.0]), ([2], [2.0]), ([9], [5.0]), ([], [])], [30, 10, 20, 40])
    ids, d = index.search([([2], [1.0])], 5)
    np.testing.assert_array_equal(ids, [[10, 30, -1, -1, -1]])  # only points sharing a term
    np.testing.assert_array_equal(d, [[-2.0, -1.0, np.inf, np.inf, np.inf]])
    index.add([([2], [1.0])], [5])  # ties by smaller id
    assert index.search([([2], [1.0])], 3)[0].tolist() == [[10, 5, 30]]
    assert index.search([([], [])], 2)[0].tolist() == [[-1, -1]]  # an empty query matches none
    assert index.search([([7], [1.0])], 2, allow=np.array([], np.int64))[0].tolist() == [[-1, -1]]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([([1, 1], [1.0, 2.0])], "repeat"),
        ([([1, 2], [1.0])], "equal length"),
        ([([-1], [1.0])], r"\[0, 2\*\*32\)"),
        ([([2**32], [1.0])], r"\[0, 2\*\*32\)"),
        ([([1], [np.nan])], "finite"),
        ([([1], [np.inf])], "finite"),
        ([([1.5], [1.0])], "integers"),
        ([([1], ["a"])], "numbers"),
        ([(1, 2, 3)], "pair"),
        ("text", "list"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(rows, match):
    index = SparseIndex()
    index.add([([3, 1], [1.0, 2.0])], [7])  # unsorted indices are fine
    assert index.get_vectors([7])[0][0].tolist() == [1, 3]
    with pytest.raises(InvalidVectorError, match=match):
        index.add(rows, [8])
    with pytest.raises(InvalidVectorError, match=match):
        index.search(rows, 3)
    assert index.ntotal == 1 and index.search([([1], [1.0])], 2)[0].tolist() == [[7, -1]]


def test_bad_calls():
    index = SparseIndex()
    index.add([([1], [1.0])], [1])
    with pytest.raises(UnknownIdError):
        index.remove([1, 2])
    assert index.ntotal == 1
    with pytest.raises(InvalidParameterError):
        index.add([([1], [1.0]), ([2], [1.0])], [4, 4])
    with pytest.raises(InvalidParameterError):
        SparseIndex(metric="l2")
    with pytest.raises(InvalidParameterError):
        index.search([([1], [1.0])], 0)
    assert as_sparse([{"indices": [2, 1], "values": [1, 2]}]).indices.tolist() == [1, 2]
    csr = as_sparse((np.array([0, 2, 3]), np.array([5, 1, 9]), np.array([1.0, 2.0, 3.0])))
    assert csr.indices.tolist() == [1, 5, 9] and csr.values.tolist() == [2.0, 1.0, 3.0]
    with pytest.raises(InvalidVectorError, match="CSR"):
        as_sparse((np.array([0, 2]), np.array([1]), np.array([1.0])))
    with pytest.raises(InvalidVectorError, match=r"\[1\]: indices must not repeat"):
        as_sparse((np.array([0, 1, 3]), np.array([4, 2, 2]), np.ones(3)))


def test_single_queries_reuse_scratch_across_growth_shrink_and_k():
    """Single queries run on pooled scratch arrays: after the index grows, compacts and
    with another k, every answer still equals brute force (a stale or dirty scratch would
    leak scores from an earlier query)."""
    rng = np.random.default_rng(11)
    rows = random_rows(rng, 400)
    index = SparseIndex()
    index.add(rows, np.arange(400))
    ref = {i: as_dict(r) for i, r in enumerate(rows)}
    queries = random_rows(rng, 12)
    one = SparseParams(n_threads=1)

    def check(k):
        for q in queries:
            assert_same(index.search([q], k, one), brute(ref, [q], k))

    check(K)
    more = random_rows(rng, 3000)
    index.add(more, np.arange(400, 3400))
    ref.update({400 + i: as_dict(r) for i, r in enumerate(more)})
    check(K)
    check(3)
    gone = np.arange(0, 3400, 2)
    index.remove(gone)
    for g in gone.tolist():
        del ref[g]
    index.seal()  # compacts: fewer slots than the pooled arrays hold
    check(K)
