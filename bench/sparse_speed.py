"""Keyword (BM25) search speed: our sparse index against bm25s and tantivy, per corpus, one
process, interleaved runs.

    python -m bench.sparse_speed [--runs 10] [--corpus vaswani wordnet] [--no-profile]

**Corpora.** Vaswani (11,429 physics abstracts, its 93 queries) and WordNet 3.0 (117,659
synsets, each ``"lemma, lemma: gloss"`` as ``scripts/build_wordnet_embeddings.py`` reads it
from the Debian package ``wordnet-base``; without it the corpus is skipped with a message).
WordNet has no queries: the lemma names of 1,000 synsets drawn with a fixed seed (among
those with at least one token left after stop words) are the keyword queries.

**Systems**, all scoring BM25 with k1 = 1.2, b = 0.75 and Lucene's IDF
``ln(1 + (N - n + 0.5) / (n + 0.5))``:

* ``vecsearch-sparse``: :class:`indexes.sparse.SparseIndex` over the rows that our server-side
  BM25 (:mod:`vecsearch.text.bm25`) makes from our tokens (murmur3 term ids, BM25's
  term-frequency part with the corpus's average length); a query is its distinct term ids
  weighted by the IDF computed from the same rows (Qdrant's ``modifier: "idf"``).
* ``bm25s-numba`` / ``bm25s-numpy``: ``bm25s.BM25(method="lucene")`` indexing the same token
  lists, queried with the same distinct tokens. Our score is 2.2x bm25s's (bm25s leaves out
  the constant factor ``k1 + 1``); the run fails (exit 1) unless both backends return our
  top-k ids for every query, up to ties at the k-th score.
* ``tantivy``: the raw texts indexed with tantivy's default ``en_stem`` analyzer (simple
  split, lower case, tokens over 40 bytes dropped, Porter2 stemming, no stop words), in RAM,
  one segment; a query is a boolean OR of term queries over *our* query tokens (stemmed,
  stop words out), so it looks up the same terms as the others; ``count=False``, so
  tantivy may prune (block-max WAND) instead of counting every match. Its tokens and
  document lengths differ from ours (stop words stay in), so its top-k differs: its
  overlap with ours is reported, not checked.

**Modes**, best of ``--runs`` interleaved rounds (every system in every round, so load hits
all alike; within a round a call shorter than 20 ms is repeated until 20 ms have passed):
one query per call on one thread (ours ``search([q], k, SparseParams(n_threads=1))`` with
validation; bm25s ``retrieve([tokens], n_threads=1)`` for numba, ``n_threads=0`` (no thread
pool) for numpy; tantivy ``searcher.search(query, k, count=False)``), and all queries in one
call on 2 threads (ours ``n_threads=2``, bm25s ``n_threads=2``; tantivy's Python API
has no batch search: n/a). Query preparation (tokenising, IDF weights, tantivy's query
objects) is done once, outside the timings, for every system.

**Profile** (unless ``--no-profile``): where one query per call spends its time in our
index: the whole ``search`` call, the call given an already validated ``SparseBatch``, input
validation alone, the single-query kernel (``search_one`` on pooled scratch, as ``search``
calls it) called directly with prepared arguments, Numba's dispatch of those arguments to a
kernel that does nothing, the kernel's own work (all queries in one serial call, divided by
their number), and the per-call scratch allocation that the pool avoids; beside it,
bm25s-numba's kernel timed the same way.

Writes ``bench/results/sparse/<corpus>-k10-speed.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import machine_info
from bench.result_paths import result_paths
from bench.sparse_profile import PROFILE_ROUNDS, bm25s_kernel, interleaved, profile_ours

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VECSEARCH_SHARED_DATA", REPO.parent / "shared" / "data"))
WORDNET_READER = REPO / "scripts" / "build_wordnet_embeddings.py"
K = 10
THREADS = 2
WORDNET_QUERIES = 1000
WORDNET_SEED = 20261203
K1, B = 1.2, 0.75
#: Our BM25 score over bm25s's (which leaves out the constant factor k1 + 1).
BM25S_FACTOR = K1 + 1.0
TANTIVY_ANALYZER = (
    "tantivy en_stem: split on non-alphanumerics, lower case, tokens over 40 bytes dropped,"
    " Porter2 stemming, no stop words"
)
OUR_ANALYZER = (
    "vecsearch.text.bm25 defaults: split on non-letters/digits, lower case, NLTK English"
    " stop words out, Snowball English (Porter2) stemming"
)


class AgreementError(AssertionError):
    """Ours and bm25s returned different top-k ids beyond score ties."""


@dataclass(frozen=True)
class Corpus:
    """Raw texts of one corpus and its queries."""

    name: str
    docs: list[str]
    queries: list[str]
    about: str


# -- corpora ----------------------------------------------------------------------------------
def vaswani_corpus(root: Path = SHARED_DATA) -> Corpus:
    """Vaswani's abstracts (their DOCNO line left out) and its 93 query titles."""
    folder = root / "vaswani"
    raw = (folder / "doc-text.trec").read_text(encoding="utf-8")
    docs = re.findall(r"<DOC>\s*<DOCNO>[^<]*</DOCNO>(.*?)</DOC>", raw, flags=re.S)
    queries = re.findall(
        r"<title>(.*?)</title>", (folder / "query-text.trec").read_text(encoding="utf-8"), re.S
    )
    return Corpus("vaswani", docs, queries, "Vaswani abstracts and their 93 query titles")


@functools.cache
def _read_synsets() -> Callable[..., list[tuple[str, str]]]:
    """``read_synsets`` of ``scripts/build_wordnet_embeddings.py`` (the one WordNet reader;
    ``scripts/`` is not a package, so it is loaded from its file)."""
    spec = importlib.util.spec_from_file_location("build_wordnet_embeddings", WORDNET_READER)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {WORDNET_READER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_synsets


def wordnet_corpus(n_queries: int = WORDNET_QUERIES, seed: int = WORDNET_SEED) -> Corpus:
    """WordNet's synsets as ``"lemma, lemma: gloss"``; the queries are the lemma names of
    ``n_queries`` synsets drawn with ``seed`` among those whose lemmas keep a token after
    stop words. Raises ``DatasetMissingError`` without the package ``wordnet-base``."""
    from vecsearch.text.bm25 import tokenize

    docs = [text for _, text in _read_synsets()()]
    lemmas = [text.partition(": ")[0] for text in docs]
    candidates = np.array([i for i, t in enumerate(lemmas) if tokenize(t)], dtype=np.int64)
    pick = np.random.default_rng(seed).choice(candidates, n_queries, replace=False)
    about = (
        f"WordNet 3.0 synsets (lemmas and gloss); queries: the lemma names of {n_queries:,}"
        f" synsets drawn with seed {seed}"
    )
    return Corpus("wordnet", docs, [lemmas[i] for i in pick.tolist()], about)


# -- our BM25 rows ------------------------------------------------------------------------------
def bm25_rows(doc_tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR rows ``(indptr, term ids uint32, BM25 TF parts float32)`` that
    :func:`vecsearch.text.bm25.doc_vector` makes, with the corpus's average length."""
    from vecsearch.text.bm25 import DEFAULT_OPTIONS, doc_vector

    avg_len = sum(map(len, doc_tokens)) / max(1, len(doc_tokens))
    rows = [doc_vector(t, DEFAULT_OPTIONS, avg_len) for t in doc_tokens]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([r[0].shape[0] for r in rows])
    indices = np.concatenate([np.zeros(0, np.uint32)] + [r[0] for r in rows]).astype(np.uint32)
    values = np.concatenate([np.zeros(0, np.float32)] + [r[1] for r in rows]).astype(np.float32)
    return indptr, indices, values


def idf_queries(
    q_tokens: list[list[str]], terms: np.ndarray, counts: np.ndarray, n_docs: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each query's distinct term ids weighted by ``ln((N - n + 0.5) / (n + 0.5) + 1)``
    (Qdrant's IDF; ``n`` from ``terms`` / ``counts``, the rows' document frequencies)."""
    from vecsearch.text.bm25 import query_vector

    out = []
    for tokens in q_tokens:
        ids, ones = query_vector(tokens)
        pos = np.minimum(np.searchsorted(terms, ids), max(0, terms.shape[0] - 1))
        n = np.where(terms[pos] == ids, counts[pos], 0).astype(np.float64) if terms.size else 0
        idf = np.log((n_docs - n + 0.5) / (n + 0.5) + 1.0)
        out.append((ids, (ones * idf).astype(np.float32)))
    return out


# -- agreement -----------------------------------------------------------------------------------
def _above(ids: np.ndarray, scores: np.ndarray, cut: float) -> set[int]:
    """The ids scoring clearly above ``cut`` (the k-th score): the part of a top-k that ties
    at the k-th place cannot reorder."""
    return {int(i) for i, s in zip(ids, scores, strict=True) if s > cut * (1 + 1e-4)}


def agreement(
    ours: tuple[np.ndarray, np.ndarray],
    peer: tuple[np.ndarray, np.ndarray],
    full: list[np.ndarray] | None = None,
    excused: set[int] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """Our top-k (ids, ``-dot``) against bm25s's, query by query, after our 2.2 factor.

    A query agrees when (1) the ids scoring clearly above the k-th score are the same in
    both top-k lists (:func:`_above`: only ties at the k-th place may differ) and bm25s
    scores nothing above zero past our last hit (we return only documents sharing a term);
    and, with ``full`` (bm25s's score of every document, per query), (2) every id we return
    has bm25s's score for it (relative 1e-5) and (3) no document that bm25s scores clearly
    above our k-th score is missing from ours. ``excused``: queries holding a term id that
    two tokens share (a murmur3 collision), whose scores may legitimately differ."""
    got_ids, got_d = ours
    want_ids, want_s = (np.asarray(a) for a in peer)
    k = got_ids.shape[1]
    same, bad, max_abs, max_rel = 0, [], 0.0, 0.0
    for r in range(got_ids.shape[0]):
        n = int(np.count_nonzero(got_ids[r] >= 0))
        ids = got_ids[r][:n]
        mine = -got_d[r][:n].astype(np.float64) / BM25S_FACTOR
        w = want_s[r][:n].astype(np.float64)
        ref = np.asarray(full[r], dtype=np.float64)[ids] if full is not None else w
        if n:
            diff = np.abs(mine - ref)
            max_abs = max(max_abs, float(diff.max()))
            max_rel = max(max_rel, float((diff / np.maximum(np.abs(ref), 1e-30)).max()))
        cut = w[-1] if n else 0.0
        ok = _above(ids, mine, cut) == _above(want_ids[r][:n], w, cut)
        ok = ok and not (want_s[r][n:] > 1e-6 * max(1.0, cut)).any()
        if full is not None:
            f = np.asarray(full[r], dtype=np.float64)
            ok = ok and bool(np.allclose(mine, f[ids], rtol=1e-5, atol=1e-9))
            floor = mine[-1] * (1 + 1e-4) if n == k else 1e-6 * max(1.0, float(f.max()))
            ok = ok and set(np.flatnonzero(f > floor).tolist()) <= set(ids.tolist())
        if ok:
            same += 1
        elif r not in excused:
            bad.append(r)
    return {
        "queries_same_topk": same,
        "queries_excused_by_collision": len([r for r in excused if r < got_ids.shape[0]]),
        "disagreeing_queries": bad,
        "checked_against_all_scores": full is not None,
        "max_score_diff": max_abs,
        "max_rel_score_diff": max_rel,
    }


def tantivy_overlap(ours_ids: np.ndarray, theirs: list[list[int]]) -> dict[str, Any]:
    """Mean share of our top-k ids that tantivy also returns, over queries where we return
    any, and the number of queries whose two top-k sets are equal."""
    shares, equal = [], 0
    for mine_row, other in zip(ours_ids, theirs, strict=True):
        mine = {int(i) for i in mine_row if i >= 0}
        equal += mine == set(other)
        if mine:
            shares.append(len(mine & set(other)) / len(mine))
    return {
        "mean_overlap": float(np.mean(shares)) if shares else None,
        "queries_equal_sets": equal,
    }


def run_corpus(
    corpus: Corpus,
    runs: int = 10,
    k: int = K,
    threads: int = THREADS,
    profile: bool = True,
    bm25s_backends: tuple[str, ...] = ("numba", "numpy"),
    profile_rounds: int = PROFILE_ROUNDS,
) -> dict[str, Any]:
    """Build every system on ``corpus``, compare ours with bm25s and tantivy, time both
    modes interleaved; the record as a dict (:func:`check_agreement` judges it). Ratios are
    to the first of ``bm25s_backends`` (the tests use numpy alone: bm25s's numba kernels
    are not cached and take half a minute to compile)."""
    import bm25s
    import tantivy

    from indexes.sparse import SparseIndex, SparseParams
    from vecsearch.text.bm25 import token_id, tokenize

    load_start = list(os.getloadavg())
    build: dict[str, float] = {}
    t0 = time.perf_counter()
    doc_tokens = [tokenize(t) for t in corpus.docs]
    all_q_tokens = [list(dict.fromkeys(tokenize(t))) for t in corpus.queries]
    build["our_tokenizer_s"] = time.perf_counter() - t0
    n_docs = len(doc_tokens)
    vocab = {w for d in doc_tokens for w in d}
    # queries with no token in the corpus are left out for every system (bm25s refuses them)
    keep = [i for i, q in enumerate(all_q_tokens) if any(w in vocab for w in q)]
    q_tokens = [all_q_tokens[i] for i in keep]
    nq = len(q_tokens)

    # ours
    t0 = time.perf_counter()
    rows = bm25_rows(doc_tokens)
    build["our_bm25_rows_s"] = time.perf_counter() - t0
    index = SparseIndex()
    t0 = time.perf_counter()
    index.add(rows, np.arange(n_docs))
    index.seal()  # a bulk load ends sealed (an index under SEAL_MIN slots would not be)
    build["our_index_add_s"] = time.perf_counter() - t0
    terms, counts = np.unique(rows[1], return_counts=True)
    q_sparse = idf_queries(q_tokens, terms, counts, n_docs)
    by_id: dict[int, set[str]] = {}
    for w in vocab:
        by_id.setdefault(token_id(w), set()).add(w)
    collided = {i for i, ws in by_id.items() if len(ws) > 1}
    excused = {r for r, (ids, _) in enumerate(q_sparse) if collided & set(ids.tolist())}

    # bm25s, both backends, on the same tokens
    peers: dict[str, Any] = {}
    for backend in bm25s_backends:
        t0 = time.perf_counter()
        r = bm25s.BM25(k1=K1, b=B, method="lucene", backend=backend)
        r.index(doc_tokens, show_progress=False)
        build[f"bm25s-{backend}_s"] = time.perf_counter() - t0
        peers[f"bm25s-{backend}"] = r
    reference = f"bm25s-{bm25s_backends[0]}"
    b_tokens = [[w for w in q if w in peers[reference].vocab_dict] for q in q_tokens]

    # tantivy on the raw texts, its own analyzer, one segment in RAM
    t0 = time.perf_counter()
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("id", stored=True)
    sb.add_text_field("body", stored=False, tokenizer_name="en_stem", index_option="freq")
    schema = sb.build()
    tindex = tantivy.Index(schema)
    writer = tindex.writer(heap_size=1_000_000_000, num_threads=1)
    for i, text in enumerate(corpus.docs):
        writer.add_document(tantivy.Document(id=i, body=text))
    writer.commit()
    writer.wait_merging_threads()
    tindex.reload()
    searcher = tindex.searcher()
    build["tantivy_s"] = time.perf_counter() - t0
    Occur, Query = tantivy.Occur, tantivy.Query
    t_queries = [
        Query.boolean_query(
            [(Occur.Should, Query.term_query(schema, "body", w, "freq")) for w in q]
        )
        for q in q_tokens
    ]

    # agreement: ours against both bm25s backends; tantivy's overlap with ours
    one = SparseParams(n_threads=1)
    got = index.search(q_sparse, k, SparseParams(n_threads=threads))
    got_single = [index.search([q], k, one) for q in q_sparse]
    singles_equal = all(
        np.array_equal(a[0][0], got[0][r]) and np.array_equal(a[1][0], got[1][r])
        for r, a in enumerate(got_single)
    )
    agree = {
        name: agreement(
            got,
            r.retrieve(b_tokens, k=k, show_progress=False, n_threads=1),
            [r.get_scores(q) for q in b_tokens],
            excused,
        )
        for name, r in peers.items()
    }
    t_ids = [
        [searcher.doc(a)["id"][0] for _, a in searcher.search(q, k, count=False).hits]
        for q in t_queries
    ]
    overlap = tantivy_overlap(got[0], t_ids)

    systems: dict[str, tuple[Callable[[], object], Callable[[], object] | None]] = {
        "vecsearch-sparse": (
            lambda: [index.search([q], k, one) for q in q_sparse],
            lambda: index.search(q_sparse, k, SparseParams(n_threads=threads)),
        ),
    }
    for name, r in peers.items():
        single_threads = 1 if name == "bm25s-numba" else 0  # numpy: 0 = no thread pool
        systems[name] = (
            lambda r=r, t=single_threads: [
                r.retrieve([q], k=k, show_progress=False, n_threads=t) for q in b_tokens
            ],
            lambda r=r: r.retrieve(b_tokens, k=k, show_progress=False, n_threads=threads),
        )
    systems["tantivy"] = (
        lambda: [searcher.search(q, k, count=False).hits for q in t_queries],
        None,  # tantivy's Python API searches one query per call
    )
    fns = {f"{name}|single": single for name, (single, _) in systems.items()}
    fns.update({f"{name}|batch": batch for name, (_, batch) in systems.items() if batch})
    best = interleaved(fns, runs)
    out_rows = []
    for name in systems:
        single, batch = best[f"{name}|single"], best.get(f"{name}|batch")
        out_rows.append(
            {
                "system": name,
                "qps_single": nq / single,
                "us_per_query_single": single / nq * 1e6,
                "qps_batch": nq / batch if batch else None,
            }
        )
    base = next(r for r in out_rows if r["system"] == reference)
    for r in out_rows:
        r["ratio_single"] = r["qps_single"] / base["qps_single"]
        r["ratio_batch"] = r["qps_batch"] / base["qps_batch"] if r["qps_batch"] else None
    postings = int(rows[0][-1])
    record: dict[str, Any] = {
        "dataset": corpus.name,
        "about": corpus.about,
        "n_docs": n_docs,
        "n_queries": nq,
        "n_queries_dropped_no_known_token": len(corpus.queries) - nq,
        "mean_query_terms": float(np.mean([len(q) for q in q_tokens])) if nq else 0.0,
        "mean_doc_tokens": float(np.mean([len(d) for d in doc_tokens])) if n_docs else 0.0,
        "k": k,
        "runs": runs,
        "threads_batch": threads,
        "vocabulary": len(vocab),
        "postings": postings,
        "term_id_collisions": len(collided),
        "our_index_bytes": int(index.memory_bytes()),
        "tantivy_segments": int(searcher.num_segments),
        "analyzers": {"ours_and_bm25s": OUR_ANALYZER, "tantivy": TANTIVY_ANALYZER},
        "versions": {"bm25s": bm25s.__version__, "tantivy": _version("tantivy")},
        "build_s": build,
        "single_equals_batch": singles_equal,
        "agreement": agree,
        "tantivy_overlap": overlap,
        "reference": reference,
        "rows": out_rows,
    }
    if profile:
        peer = peers.get("bm25s-numba")
        peer_work = bm25s_kernel(peer, b_tokens, k) if peer is not None else None
        record["profile"] = profile_ours(index, q_sparse, k, profile_rounds, peer_work)
    record["load_average"] = {"start": load_start, "end": list(os.getloadavg())}
    record["machine"] = machine_info()
    return record


def check_agreement(record: dict[str, Any]) -> None:
    """Raise :class:`AgreementError` unless ours matched every bm25s backend on every query
    (queries excused by a term-id collision aside) and single calls equal the batch."""
    problems = [
        f"{name}: queries {ag['disagreeing_queries'][:10]} differ beyond ties"
        for name, ag in record["agreement"].items()
        if ag["disagreeing_queries"]
    ]
    if not record["single_equals_batch"]:
        problems.append("ours: one query per call differs from the batch call")
    if problems:
        raise AgreementError(f"{record['dataset']}: " + "; ".join(problems))


def _version(package: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# -- reports ---------------------------------------------------------------------------------------
def _cell(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def markdown(record: dict[str, Any]) -> str:
    """The record as a Markdown report."""
    m, la = record["machine"], record["load_average"]
    ov, ref = record["tantivy_overlap"], record["reference"]
    lines = [
        f"# Keyword search speed: {record['dataset']}, BM25, k={record['k']}",
        "",
        f"- {record['about']}: {record['n_docs']:,} documents ({record['mean_doc_tokens']:.1f}"
        f" tokens each on average), {record['n_queries']:,} queries"
        f" ({record['mean_query_terms']:.1f} distinct terms on average;"
        f" {record['n_queries_dropped_no_known_token']} dropped for having no term in the"
        f" corpus), vocabulary {record['vocabulary']:,}, {record['postings']:,} postings,"
        f" {record['term_id_collisions']} murmur3 term-id collisions",
        f"- best of {record['runs']} interleaved runs; bm25s {record['versions']['bm25s']},"
        f" tantivy {record['versions']['tantivy']} ({record['tantivy_segments']} segment)",
        f"- ours and bm25s: {record['analyzers']['ours_and_bm25s']}; tantivy:"
        f" {record['analyzers']['tantivy']}, queried with our query terms",
        f"- machine: {m.get('cpu_model')}, {m.get('usable_cpus')} usable CPUs; commit"
        f" {m.get('git_commit')}; {m.get('timestamp')}",
        "- load average at start " + "/".join(f"{x:.1f}" for x in la["start"])
        + ", at end " + "/".join(f"{x:.1f}" for x in la["end"]),
        f"- command: `{record.get('command', '')}`",
    ]  # fmt: skip
    for name, ag in record["agreement"].items():
        lines.append(
            f"- agreement with {name}: {ag['queries_same_topk']}/{record['n_queries']} queries"
            f" with the same top-{record['k']} ids (up to ties; every returned score checked"
            f" against bm25s's score of that document, none of its better ones missing),"
            " max score difference"
            f" {ag['max_score_diff']:.2e} (relative {ag['max_rel_score_diff']:.1e}) after our"
            f" 2.2 factor; {ag['queries_excused_by_collision']} excused by id collisions"
        )
    lines += [
        f"- tantivy (other tokens, other lengths): {_cell(ov['mean_overlap'], '.3f')} of our"
        f" top-{record['k']} ids on average, equal sets for {ov['queries_equal_sets']}"
        f"/{record['n_queries']} queries",
        "",
        f"| system | one query per call, 1 thread: QPS | µs / query | vs {ref} |"
        f" all queries in one call, {record['threads_batch']} threads: QPS | vs {ref} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in record["rows"]:
        ratio_b = "n/a" if r["ratio_batch"] is None else f"{r['ratio_batch']:.2f}x"
        lines.append(
            f"| {r['system']} | {r['qps_single']:,.0f} | {r['us_per_query_single']:.1f} |"
            f" {r['ratio_single']:.2f}x | {_cell(r['qps_batch'], ',.0f')} | {ratio_b} |"
        )
    prof = record.get("profile")
    if prof:
        us = prof["us_per_query"]
        lines += [
            "",
            f"Where one call of ours spends its time (µs per query, best of {prof['rounds']}"
            f" interleaved rounds; {prof['n_slots']:,} slots, kernel scratch"
            f" {prof['scratch_bytes_per_call'] / 1024:,.0f} KiB, pooled):",
            "",
            "| part | µs |",
            "|---|---:|",
            f"| whole `search([q], k)` call | {us['search_call']:.1f} |",
            f"| Python in `search` (call minus kernel call) | {us['python_in_search']:.1f} |",
            f"| of which input validation (call minus call on a validated `SparseBatch`)"
            f" | {us['validation_in_search']:.1f} |",
            f"| of which the rest (result arrays, arguments, parameters)"
            f" | {us['other_python_in_search']:.1f} |",
            f"| input validation alone (`as_sparse([q])` in a loop) | {us['validation']:.1f} |",
            f"| single-query kernel (`search_one`, pooled scratch) called directly "
            f"| {us['kernel_call']:.1f} |",
            f"| of which Numba dispatch of its arguments | {us['dispatch_only']:.1f} |",
            f"| of which the work (all queries in one serial call) | {us['kernel_work']:.1f} |",
            f"| of which the rest | {us['kernel_call_unexplained']:.1f} |",
            f"| per-call scratch allocation the pool avoids (not in the call) "
            f"| {us['scratch_only']:.1f} |",
        ]
        if "bm25s_numba_kernel_work" in us:
            lines.append(
                "| bm25s-numba's kernel work (its serial kernel, all queries in one call)"
                f" | {us['bm25s_numba_kernel_work']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def plot(record: dict[str, Any], path: Path) -> None:
    """QPS per system, one query per call and batch, as bars (tantivy has no batch bar)."""
    from bench.report import paired_bars

    rows = record["rows"]
    paired_bars(
        path,
        [r["system"] for r in rows],
        {
            "one query per call, 1 thread": [r["qps_single"] for r in rows],
            f"batch, {record['threads_batch']} threads": [r["qps_batch"] or 0.0 for r in rows],
        },
        "queries per second",
        f"{record['dataset']} BM25, k={record['k']}"
        f" (load {record['load_average']['start'][0]:.1f})",
    )


def write_record(record: dict[str, Any], root: Path | None = None) -> dict[str, Path]:
    """JSON, Markdown and PNG of one corpus's record."""
    paths = result_paths("sparse", record["dataset"], record["k"], variant="speed", root=root)
    paths["json"].write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(record), encoding="utf-8")
    plot(record, paths["png"])
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sparse_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--corpus", nargs="+", choices=("vaswani", "wordnet"),
                   default=["vaswani", "wordnet"])  # fmt: skip
    p.add_argument("--no-profile", action="store_true", help="skip the per-call profile")
    args = p.parse_args(argv)
    from vecsearch.datasets import DatasetMissingError

    command = " ".join(["python -m bench.sparse_speed", *(sys.argv[1:] if argv is None else argv)])
    status = 0
    for name in args.corpus:
        try:
            corpus = vaswani_corpus() if name == "vaswani" else wordnet_corpus()
        except DatasetMissingError as e:
            print(f"sparse_speed: skipping {name}: {e}", file=sys.stderr)
            continue
        record = run_corpus(corpus, runs=args.runs, profile=not args.no_profile)
        record["command"] = command
        try:
            check_agreement(record)
        except AgreementError as e:
            print(f"sparse_speed: FAILED: {e}", file=sys.stderr)
            status = 1
            continue
        paths = write_record(record)
        print(markdown(record))
        print(f"wrote {paths['md']}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
