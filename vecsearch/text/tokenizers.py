"""Tokenizers of full-text payload indexes and of full-text match conditions.

A text index (``field_schema: {"type": "text", ...}``, Qdrant's ``TextIndexParams``) turns a
string into tokens in this order: split, lowercase (default on), ASCII folding (default
off), stop-word removal, length filter (``min_token_len`` / ``max_token_len``, in
characters), Snowball stemming. Tokenizers:

* ``word`` (default): runs of letters and digits (any script; ``_`` separates);
* ``whitespace``: runs of non-white-space characters;
* ``prefix``: ``word`` tokens, and the index also holds every prefix of each token of
  ``min_token_len`` (default 1) to ``max_token_len`` characters; query tokens are whole words
  (cut to ``max_token_len``), so ``"qdr"`` finds ``"Qdrant"``;
* ``multilingual``: an approximation of Qdrant's charabia segmentation: ``word`` tokens, with
  every CJK ideograph, kana and Hangul syllable a token of its own (no dictionary-based
  word segmentation for Chinese, Japanese, Thai).

``code`` (Qdrant 1.20) is refused as not supported. Stop words: ``"english"`` (NLTK's list)
or ``{"languages": [...], "custom": [...]}``; other languages are refused as not supported.

:func:`unindexed_tokens` is the tokenization of a field without a text index (local mode's:
``word`` tokens, lowercased, nothing removed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vecsearch.errors import ValidationError
from vecsearch.text.bm25 import _fold, _stemmer, _stemmer_of, _stopwords

TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")
_WORD = re.compile(r"[^\W_]+")
#: CJK ideographs, kana, Hangul syllables: one token per character in ``multilingual``.
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])")


@dataclass(frozen=True)
class TextOptions:
    """Checked tokenization options of one text index (see module docstring)."""

    tokenizer: str = "word"
    lowercase: bool = True
    ascii_folding: bool = False
    stopwords: frozenset[str] = frozenset()
    stemmer: str | None = None
    min_token_len: int | None = None
    max_token_len: int | None = None
    phrase_matching: bool = False


def _flag(v: Any, field: str) -> bool:
    if not isinstance(v, bool):
        raise ValidationError(field, f"expected true or false, got {v!r}")
    return v


def parse_text_options(params: Mapping[str, Any], field: str) -> TextOptions:
    """The tokenization part of checked text-index params (other members are the caller's)."""
    out: dict[str, Any] = {}
    tok = params.get("tokenizer")
    if tok is not None:
        if tok == "code":
            raise ValidationError(f"{field}.tokenizer", "tokenizer 'code' is not supported")
        if tok not in TOKENIZERS:
            raise ValidationError(
                f"{field}.tokenizer", f"unknown tokenizer {tok!r}; expected one of {TOKENIZERS}"
            )
        out["tokenizer"] = tok
    for name in ("lowercase", "ascii_folding", "phrase_matching"):
        if params.get(name) is not None:
            out[name] = _flag(params[name], f"{field}.{name}")
    for name in ("min_token_len", "max_token_len"):
        v = params.get(name)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValidationError(
                    f"{field}.{name}", f"expected a non-negative integer, got {v!r}"
                )
            out[name] = v
    if params.get("stopwords") is not None:
        try:
            out["stopwords"] = _stopwords(params["stopwords"], f"{field}.stopwords")
        except ValidationError as exc:
            if "unsupported stop-word language" in exc.reason:
                raise ValidationError(
                    exc.field, exc.reason.replace("unsupported", "not supported:")
                ) from None
            raise
    if params.get("stemmer") is not None:
        out["stemmer"] = _stemmer(params["stemmer"], f"{field}.stemmer")
    return TextOptions(**out)


def _split(text: str, tokenizer: str) -> list[str]:
    if tokenizer == "whitespace":
        return text.split()
    if tokenizer == "multilingual":
        return [p for w in _WORD.findall(text) for p in _CJK.split(w) if p]
    return _WORD.findall(text)


def tokens(text: str, opts: TextOptions) -> list[str]:
    """The tokens of ``text`` in order (for ``prefix``: the whole words, not the prefixes)."""
    raw = _split(text, opts.tokenizer)
    if opts.lowercase:
        raw = [t.lower() for t in raw]
    if opts.ascii_folding:
        raw = [_fold(t) for t in raw]
    if opts.stopwords:
        raw = [t for t in raw if t not in opts.stopwords]
    lo, hi = opts.min_token_len, opts.max_token_len
    if opts.tokenizer != "prefix" and (lo is not None or hi is not None):
        raw = [t for t in raw if (lo is None or len(t) >= lo) and (hi is None or len(t) <= hi)]
    if opts.stemmer is not None:
        raw = _stemmer_of(opts.stemmer).stemWords(raw)
    return raw


def document_terms(text: str, opts: TextOptions) -> set[str]:
    """The terms a text index holds for ``text`` (with every prefix for ``prefix``)."""
    words = tokens(text, opts)
    if opts.tokenizer != "prefix":
        return set(words)
    lo = max(opts.min_token_len or 1, 1)
    out: set[str] = set()
    for w in words:
        hi = len(w) if opts.max_token_len is None else min(len(w), opts.max_token_len)
        out.update(w[:n] for n in range(lo, hi + 1))
    return out


def query_terms(text: str, opts: TextOptions) -> list[str]:
    """The terms of a query on a text index (``prefix``: words cut to ``max_token_len``)."""
    words = tokens(text, opts)
    if opts.tokenizer == "prefix":
        lo, hi = opts.min_token_len, opts.max_token_len
        words = [w[:hi] if hi is not None else w for w in words if lo is None or len(w) >= lo]
    return words


def unindexed_tokens(text: str) -> list[str]:
    """Tokens of a field without a text index: ``word`` tokens, lowercased (local mode's)."""
    return [t.lower() for t in _WORD.findall(text)]


def has_phrase(doc: list[str], phrase: list[str]) -> bool:
    """Whether ``phrase`` occurs as consecutive tokens of ``doc`` (never for an empty one)."""
    n = len(phrase)
    if n == 0:
        return False
    first = phrase[0]
    return any(doc[i] == first and doc[i : i + n] == phrase for i in range(len(doc) - n + 1))
