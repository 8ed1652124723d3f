"""Server-side BM25: Qdrant's inference objects ``{"text", "model": "qdrant/bm25"}`` turned
into sparse vectors, as Qdrant's own server does (since 1.15.2).

* **Tokens**: the text is split on every character that is not a letter or digit (Qdrant's
  ``word`` tokenizer; ``whitespace`` splits on white space only), lower-cased, stop words
  (NLTK's English list, :mod:`vecsearch.text.stopwords`) removed, then Snowball-stemmed
  (PyStemmer, English by default); tokens outside ``[min_token_len, max_token_len]`` are
  dropped.
* **Term ids**: ``|murmur3_32(token, seed 0)|`` read as a signed 32-bit integer (Qdrant's
  and fastembed's ``compute_token_id``), so the same word gets the same id everywhere.
* **Documents**: each distinct term gets BM25's term-frequency part
  ``tf * (k + 1) / (tf + k * (1 - b + b * len / avg_len))`` with ``k = 1.2``, ``b = 0.75``,
  ``len`` the document's token count. Qdrant uses ``avg_len = 256`` unless told otherwise;
  vecsearch uses the ``avg_len`` option when given, else the space's average document length
  (:class:`TextStats`, see :mod:`vecsearch.sparse_space`).
* **Queries**: each distinct term gets weight 1. The IDF part comes from the space's
  ``modifier: "idf"`` at query time, so a BM25 space should be created with it.

Options (Qdrant's ``Bm25Config``, all optional): ``k``, ``b``, ``avg_len``, ``tokenizer``
(``word`` | ``whitespace``), ``language`` (``english`` | ``none``), ``lowercase``,
``ascii_folding``, ``stopwords`` (a language, or ``{"languages": [...], "custom": [...]}``),
``stemmer`` (``{"type": "snowball", "language": ...}`` | ``{"type": "none"}``),
``min_token_len``, ``max_token_len``. Anything else is a 400 naming the option.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecsearch.errors import ValidationError
from vecsearch.text.stopwords import ENGLISH

#: Model names accepted in inference objects (compared case-insensitively).
MODELS = ("qdrant/bm25",)
_WORD = re.compile(r"[^\W_]+")
_LANGUAGES = {"english": ENGLISH, "en": ENGLISH}


@dataclass(frozen=True)
class Bm25Options:
    """Checked options of one inference object (see module docstring)."""

    k: float = 1.2
    b: float = 0.75
    avg_len: float | None = None
    whitespace: bool = False
    lowercase: bool = True
    ascii_folding: bool = False
    stopwords: frozenset[str] = ENGLISH
    stemmer: str | None = "english"
    min_token_len: int | None = None
    max_token_len: int | None = None


DEFAULT_OPTIONS = Bm25Options()


@dataclass(frozen=True)
class Document:
    """A parsed inference object: its text and options."""

    text: str
    options: Bm25Options = DEFAULT_OPTIONS

    def tokens(self) -> list[str]:
        """The document's tokens (see module docstring)."""
        return tokenize(self.text, self.options)


def is_inference_object(value: Any) -> bool:
    """Whether ``value`` has the shape of Qdrant's ``Document`` (``text`` and ``model``)."""
    return isinstance(value, Mapping) and "text" in value and "model" in value


def parse_document(value: Any, field: str) -> Document:
    """A checked ``{"text", "model", "options"}`` object; errors name ``field``."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, 'expected {"text": ..., "model": "qdrant/bm25"}')
    extra = sorted(set(value) - {"text", "model", "options"})
    if extra:
        raise ValidationError(f"{field}.{extra[0]}", "unknown field of an inference object")
    model = value.get("model")
    if not isinstance(model, str) or model.lower() not in MODELS:
        raise ValidationError(
            f"{field}.model",
            f"unknown model {model!r}; supported: {', '.join(MODELS)} (server-side BM25)",
        )
    text = value.get("text")
    if not isinstance(text, str):
        raise ValidationError(f"{field}.text", f"expected a string, got {type(text).__name__}")
    return Document(text, parse_options(value.get("options"), f"{field}.options"))


def _number(value: Any, field: str, lo: float, hi: float | None = None) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = number and abs(value) <= sys.float_info.max  # finite (and no int too big for float)
    if not ok or value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValidationError(field, f"expected a number {rng}, got {value!r}")
    return float(value)


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"expected true or false, got {value!r}")
    return value


def _language_words(name: Any, field: str) -> frozenset[str]:
    if not isinstance(name, str) or name.lower() not in _LANGUAGES:
        raise ValidationError(field, f"unsupported stop-word language {name!r}; have english")
    return _LANGUAGES[name.lower()]


def _stopwords(value: Any, field: str) -> frozenset[str]:
    if isinstance(value, str):
        return _language_words(value, field)
    if not isinstance(value, Mapping) or set(value) - {"languages", "custom"}:
        raise ValidationError(field, 'expected a language or {"languages": [...], "custom": [...]}')
    words: set[str] = set()
    for key in ("languages", "custom"):
        items = value.get(key) or []
        if isinstance(items, str) or not isinstance(items, Sequence):
            raise ValidationError(f"{field}.{key}", "expected a list of strings")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ValidationError(f"{field}.{key}[{i}]", "expected a string")
            words |= _language_words(item, f"{field}.{key}[{i}]") if key == "languages" else {item}
    return frozenset(words)


def _stemmer(value: Any, field: str) -> str | None:
    if not isinstance(value, Mapping) or value.get("type") not in ("snowball", "none"):
        raise ValidationError(
            field, 'expected {"type": "snowball", "language": "english"} or {"type": "none"}'
        )
    if value["type"] == "none":
        return None
    language = value.get("language")
    if not isinstance(language, str) or language.lower() not in _stemmer_languages():
        raise ValidationError(f"{field}.language", f"unsupported stemmer language {language!r}")
    return language.lower()


@functools.cache
def _stemmer_languages() -> frozenset[str]:
    import Stemmer  # PyStemmer, imported on first BM25 use

    return frozenset(Stemmer.algorithms())


def parse_options(value: Any, field: str) -> Bm25Options:
    """Checked BM25 options (``None``: the defaults)."""
    if value is None:
        return DEFAULT_OPTIONS
    if not isinstance(value, Mapping):
        raise ValidationError(field, "expected an object of BM25 options")
    out: dict[str, Any] = {}
    language = value.get("language")
    if language is not None:
        if not isinstance(language, str) or language.lower() not in ("english", "en", "none"):
            raise ValidationError(
                f"{field}.language", f"unsupported language {language!r}; have english, none"
            )
        if language.lower() == "none":
            out["stopwords"], out["stemmer"] = frozenset(), None
    for key, v in value.items():
        sub = f"{field}.{key}"
        if v is None or key == "language":
            continue
        if key == "k":
            out["k"] = _number(v, sub, 0.0)
        elif key == "b":
            out["b"] = _number(v, sub, 0.0, 1.0)
        elif key == "avg_len":
            out["avg_len"] = _number(v, sub, 1e-9)
        elif key == "tokenizer":
            if v not in ("word", "whitespace"):
                raise ValidationError(sub, f"unsupported tokenizer {v!r}; have word, whitespace")
            out["whitespace"] = v == "whitespace"
        elif key in ("lowercase", "ascii_folding"):
            out[key] = _flag(v, sub)
        elif key == "stopwords":
            out["stopwords"] = _stopwords(v, sub)
        elif key == "stemmer":
            out["stemmer"] = _stemmer(v, sub)
        elif key in ("min_token_len", "max_token_len"):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValidationError(sub, f"expected a non-negative integer, got {v!r}")
            out[key] = v
        else:
            raise ValidationError(sub, "unknown BM25 option")
    return Bm25Options(**out)


@functools.cache
def _stemmer_of(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(language)


def _fold(token: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


def tokenize(text: str, opts: Bm25Options = DEFAULT_OPTIONS) -> list[str]:
    """The BM25 tokens of ``text`` (see module docstring)."""
    raw = text.split() if opts.whitespace else _WORD.findall(text)
    if opts.lowercase:
        raw = [t.lower() for t in raw]
    if opts.ascii_folding:
        raw = [_fold(t) for t in raw]
    stop = opts.stopwords
    tokens = [t for t in raw if t not in stop] if stop else raw
    if opts.stemmer is not None:
        tokens = _stemmer_of(opts.stemmer).stemWords(tokens)
    lo, hi = opts.min_token_len, opts.max_token_len
    if lo is not None or hi is not None:
        tokens = [
            t for t in tokens if (lo is None or len(t) >= lo) and (hi is None or len(t) <= hi)
        ]
    return tokens


@functools.lru_cache(maxsize=1 << 18)
def token_id(token: str) -> int:
    """Qdrant's term id of a token: ``|murmur3_32(utf-8 bytes, seed 0)|`` as a signed i32."""
    import mmh3

    return abs(mmh3.hash(token, 0, signed=True))


def _sorted_ids(tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    distinct = list(dict.fromkeys(tokens))
    ids = np.fromiter((token_id(t) for t in distinct), dtype=np.int64, count=len(distinct))
    return ids, distinct


def query_vector(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(term ids ascending, weights 1)`` of a query's tokens (distinct ids)."""
    ids = np.unique(_sorted_ids(tokens)[0]).astype(np.uint32)
    return ids, np.ones(ids.shape[0], dtype=np.float32)


def doc_vector(
    tokens: Sequence[str], opts: Bm25Options, avg_len: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(term ids ascending, BM25 term-frequency parts)`` of a document's tokens; terms
    whose ids collide are summed (as a hash map of ids would)."""
    if not tokens:
        return np.zeros(0, np.uint32), np.zeros(0, np.float32)
    k, b = opts.k, opts.b
    norm = k * (1.0 - b + b * len(tokens) / avg_len)
    counts = Counter(tokens)
    ids = np.fromiter((token_id(t) for t in counts), dtype=np.int64, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    vals = tf * (k + 1.0) / (tf + norm)
    uniq, inv = np.unique(ids, return_inverse=True)
    out = np.zeros(uniq.shape[0], dtype=np.float64)
    np.add.at(out, inv, vals)
    return uniq.astype(np.uint32), out.astype(np.float32)


@dataclass(frozen=True)
class TextStats:
    """Documents and tokens a space has indexed through BM25 inference (for ``avg_len``)."""

    docs: int = 0
    tokens: int = 0

    def with_batch(self, lengths: Sequence[int]) -> TextStats:
        """The statistics after adding documents of these token counts."""
        return TextStats(self.docs + len(lengths), self.tokens + int(sum(lengths)))

    @property
    def avg_len(self) -> float:
        """Average tokens per document (1 when no document has any)."""
        return self.tokens / self.docs if self.docs and self.tokens else 1.0
