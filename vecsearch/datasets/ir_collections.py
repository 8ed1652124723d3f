"""IR test collections (Vaswani, Cranfield) with texts, judgements and MiniLM embeddings.

The files live in ``../shared/data/<name>/`` (override: ``VECSEARCH_SHARED_DATA``); rows of
the embedding files follow ``doc_ids.txt`` / ``query_ids.txt``, which the loaders check
against the order of the text files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vecsearch.datasets.dataset import Dataset
from vecsearch.datasets.errors import DatasetMissingError, UnknownDatasetError
from vecsearch.datasets.paths import shared_data_dir


@dataclass
class TestCollection:
    """An IR test collection with MiniLM embeddings (rows in ``doc_ids``/``query_ids`` order).

    ``qrels[qid][docid]`` is the judgement: 1 for Vaswani (binary); for Cranfield the grade
    1 (complete answer) .. 4 (minimum interest), or -1 (of no interest). Token embeddings are
    Vaswani only: document ``i`` owns rows ``offsets[i]:offsets[i+1]`` (first 1,000 docs; all
    documents: :func:`vecsearch.datasets.load_vaswani_doc_tokens`).
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    doc_ids: np.ndarray
    query_ids: np.ndarray
    doc_texts: list[str]
    query_texts: list[str]
    qrels: dict[int, dict[int, int]]
    doc_embeddings: np.ndarray
    query_embeddings: np.ndarray
    token_doc_embeddings: np.ndarray | None = None
    token_doc_offsets: np.ndarray | None = None
    token_query_embeddings: np.ndarray | None = None
    token_query_offsets: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dataset(self) -> Dataset:
        """Docs as train, queries as test, cosine: ``<name>-minilm-384-cosine``."""
        return Dataset(
            name=f"{self.name}-minilm-{self.doc_embeddings.shape[1]}-cosine",
            metric="cosine",
            train=self.doc_embeddings,
            test=self.query_embeddings,
            train_keys=self.doc_ids,
            test_keys=self.query_ids,
            meta={"source": f"{self.name} MiniLM embeddings in {shared_data_dir()}"},
        )


def collection_dir(name: str) -> Path:
    """The folder of collection ``name`` in the shared data folder (it must exist)."""
    d = shared_data_dir() / name
    if not d.is_dir():
        raise DatasetMissingError(
            f"{name}: folder {d} not found. The test collections live in the project's shared "
            "data folder beside the repository (../shared/data); clone the repository next to "
            "it or set VECSEARCH_SHARED_DATA to its path"
        )
    return d


def need(path: Path) -> Path:
    """``path`` if it is a file; else :class:`DatasetMissingError` saying how to rebuild it."""
    if not path.is_file():
        raise DatasetMissingError(
            f"{path} is missing; see {path.parent.parent / 'README.md'} (embeddings are rebuilt "
            "with embed.py there)"
        )
    return path


def _read_ids(path: Path) -> np.ndarray:
    return np.array([int(s) for s in need(path).read_text().split()], dtype=np.int64)


def _load_f16(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.load(need(path)), dtype=np.float32)


def _ws(text: str) -> str:
    return " ".join(text.split())


def parse_trec_docs(text: str) -> list[tuple[int, str]]:
    """``(docno, text)`` pairs from ``<DOC><DOCNO>n</DOCNO> text </DOC>`` blocks."""
    return [
        (int(i), _ws(t))
        for i, t in re.findall(r"<DOCNO>\s*(\d+)\s*</DOCNO>(.*?)</DOC>", text, re.S)
    ]


def parse_trec_topics(text: str) -> list[tuple[int, str]]:
    """``(num, title)`` pairs from ``<top><num>n</num><title> ... </title>`` blocks."""
    found = re.findall(r"<num>\s*(\d+)\s*</num>\s*<title>(.*?)</title>", text, re.S)
    return [(int(i), _ws(t)) for i, t in found]


def parse_cranfield(text: str) -> list[tuple[int, str]]:
    """``(.I number, .W text)`` pairs from a Cranfield ``cran.all.1400``/``cran.qry`` file."""
    out = []
    for block in re.split(r"^\.I ", text, flags=re.M)[1:]:
        head, _, rest = block.partition("\n")
        m = re.search(r"^\.W\n(.*?)(?=^\.[A-Z]\n|\Z)", rest, re.S | re.M)
        out.append((int(head.strip()), _ws(m.group(1)) if m else ""))
    return out


def _check_order(name: str, what: str, parsed: np.ndarray, listed: np.ndarray) -> None:
    if not np.array_equal(parsed, listed):
        raise ValueError(f"{name}: {what} in the text files do not match the embedding order")


def vaswani_doc_texts() -> list[str]:
    """The 11,429 Vaswani document texts in collection order, whitespace normalised (the
    texts ``../shared/data/embed.py`` embeds)."""
    d = collection_dir("vaswani")
    return [t for _, t in parse_trec_docs(need(d / "doc-text.trec").read_text())]


def load_vaswani() -> TestCollection:
    """The Vaswani (NPL) collection: 11,429 docs, 93 queries, binary qrels, tokens."""
    d = collection_dir("vaswani")
    docs = parse_trec_docs(need(d / "doc-text.trec").read_text())
    queries = parse_trec_topics(need(d / "query-text.trec").read_text())
    doc_ids, query_ids = _read_ids(d / "doc_ids.txt"), _read_ids(d / "query_ids.txt")
    _check_order("vaswani", "doc ids", np.array([i for i, _ in docs]), doc_ids)
    _check_order("vaswani", "query ids", np.array([i for i, _ in queries]), query_ids)
    qrels: dict[int, dict[int, int]] = {}
    for line in need(d / "qrels").read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        qid, _, docid, rel = (int(p) for p in parts)
        qrels.setdefault(qid, {})[docid] = rel
    return TestCollection(
        name="vaswani",
        doc_ids=doc_ids,
        query_ids=query_ids,
        doc_texts=[t for _, t in docs],
        query_texts=[t for _, t in queries],
        qrels=qrels,
        doc_embeddings=_load_f16(d / "docs.f16.npy"),
        query_embeddings=_load_f16(d / "queries.f16.npy"),
        token_doc_embeddings=_load_f16(d / "tokens_docs.f16.npy"),
        token_doc_offsets=np.load(need(d / "tokens_docs_offsets.npy")).astype(np.int64),
        token_query_embeddings=_load_f16(d / "tokens_queries.f16.npy"),
        token_query_offsets=np.load(need(d / "tokens_queries_offsets.npy")).astype(np.int64),
        meta={"source": str(d)},
    )


def load_cranfield() -> TestCollection:
    """Cranfield 1400: 1,400 docs, 225 queries renumbered 1..225 by position, graded qrels.

    ``cran.qry`` numbers queries with gaps (001, 002, 004, ...) while ``cranqrel`` numbers
    them 1..225 in file order, so query ids here are positions; the original numbers are kept
    in ``meta["original_query_numbers"]``.
    """
    d = collection_dir("cranfield")
    docs = parse_cranfield(need(d / "cran.all.1400").read_text())
    raw_queries = parse_cranfield(need(d / "cran.qry").read_text())
    doc_ids, query_ids = _read_ids(d / "doc_ids.txt"), _read_ids(d / "query_ids.txt")
    _check_order("cranfield", "doc ids", np.array([i for i, _ in docs]), doc_ids)
    _check_order("cranfield", "query ids", np.arange(1, len(raw_queries) + 1), query_ids)
    qrels: dict[int, dict[int, int]] = {}
    for line in need(d / "cranqrel").read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        qid, docid, grade = (int(p) for p in parts)
        qrels.setdefault(qid, {})[docid] = grade
    return TestCollection(
        name="cranfield",
        doc_ids=doc_ids,
        query_ids=query_ids,
        doc_texts=[t for _, t in docs],
        query_texts=[t for _, t in raw_queries],
        qrels=qrels,
        doc_embeddings=_load_f16(d / "docs.f16.npy"),
        query_embeddings=_load_f16(d / "queries.f16.npy"),
        meta={"source": str(d), "original_query_numbers": [i for i, _ in raw_queries]},
    )


COLLECTIONS: dict[str, Callable[[], TestCollection]] = {
    "vaswani": load_vaswani,
    "cranfield": load_cranfield,
}


def load_collection(name: str) -> TestCollection:
    """Load an IR test collection by name (``vaswani`` or ``cranfield``)."""
    try:
        return COLLECTIONS[name]()
    except KeyError:
        raise UnknownDatasetError(
            f"unknown collection {name!r}; known: {sorted(COLLECTIONS)}"
        ) from None
