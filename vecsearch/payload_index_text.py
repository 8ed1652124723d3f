"""The ``text`` payload index: Qdrant's full-text index over one payload field.

Every string at the path (leaf arrays opened) is tokenized with the index's options
(:mod:`vecsearch.text.tokenizers`); a point's strings together form its document, as in
Qdrant's full-text index. The index keeps a posting set of labels per term, and each
point's token sequences (for phrases). With the index:

* ``match: {"text": q}``: every term of ``q`` is in the document (an empty query matches
  nothing);
* ``match: {"text_any": q}``: some term of ``q`` is;
* ``match: {"phrase": q}``: the tokens of ``q`` occur consecutively in one of the point's
  strings. Qdrant wants ``phrase_matching: true`` on the index for this; vecsearch keeps the
  token sequences anyway and answers phrases on every text index (a deliberate leniency).

Without a text index these matches read payloads with local mode's tokenization (see
:mod:`vecsearch.filters`); with one, the index's tokenizer defines them (so e.g. a
``prefix`` index finds ``"qdr"`` in ``"Qdrant"``), as in Qdrant's server.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from vecsearch.filters import Condition, FieldCondition, MatchPhrase, MatchText, MatchTextAny
from vecsearch.payload_path import iter_leaf_values, parse_path
from vecsearch.payload_schema import IndexSpec
from vecsearch.text.tokenizers import document_terms, has_phrase, query_terms, tokens

_EMPTY = np.zeros(0, dtype=np.int64)


class TextIndex:
    """Terms of one payload field's strings, by point label."""

    def __init__(self, key: str, spec: IndexSpec) -> None:
        self.key = key
        self.spec = spec
        self.schema = "text"
        self.options = spec.text_options
        self.path = parse_path(key, "field_name")
        self._terms: dict[int, frozenset[str]] = {}
        self._sequences: dict[int, tuple[list[str], ...]] = {}
        self._postings: dict[str, set[int]] = defaultdict(set)
        self._arrays: dict[str, np.ndarray] = {}

    def update(self, label: int, payload: dict[str, Any] | None) -> None:
        """Set the document of ``label`` from its payload (``None``: point deleted)."""
        self.remove(label)
        if payload is None:
            return
        texts = [v for v in iter_leaf_values(payload, self.path) if isinstance(v, str)]
        if not texts:
            return
        terms: set[str] = set()
        for t in texts:
            terms |= document_terms(t, self.options)
        self._terms[label] = frozenset(terms)
        self._sequences[label] = tuple(tokens(t, self.options) for t in texts)
        for term in terms:
            self._postings[term].add(label)
            self._arrays.pop(term, None)

    def remove(self, label: int) -> None:
        """Forget ``label``."""
        old = self._terms.pop(label, None)
        if old is None:
            return
        del self._sequences[label]
        for term in old:
            post = self._postings.get(term)
            if post is not None:
                post.discard(label)
                if not post:
                    del self._postings[term]
            self._arrays.pop(term, None)

    @property
    def points(self) -> int:
        """Number of points with at least one string."""
        return len(self._terms)

    def _posting(self, term: str) -> np.ndarray:
        arr = self._arrays.get(term)
        if arr is None:
            post = self._postings.get(term)
            arr = np.fromiter(post, dtype=np.int64, count=len(post)) if post else _EMPTY
            self._arrays[term] = arr
        return arr

    def _mask(self, term: str, size: int) -> np.ndarray:
        m = np.zeros(size, dtype=np.bool_)
        labels = self._posting(term)
        m[labels[labels < size]] = True
        return m

    def answer_mask(self, cond: Condition, size: int) -> np.ndarray | None:
        """Mask over labels ``0 .. size-1`` of the points matching a full-text condition, or
        ``None`` for a condition this index does not answer."""
        if not isinstance(cond, FieldCondition) or cond.key != self.key:
            return None
        m = cond.match
        if not isinstance(m, MatchText | MatchTextAny | MatchPhrase):
            return None
        if cond.range is not None or cond.values_count is not None or cond.geo is not None:
            return None
        text = (
            m.text
            if isinstance(m, MatchText)
            else (m.text_any if isinstance(m, MatchTextAny) else m.phrase)
        )
        terms = query_terms(text, self.options)
        if not terms:
            return np.zeros(size, dtype=np.bool_)
        if isinstance(m, MatchTextAny):
            out = np.zeros(size, dtype=np.bool_)
            for t in dict.fromkeys(terms):
                out |= self._mask(t, size)
            return out
        out = self._mask(terms[0], size)
        for t in dict.fromkeys(terms[1:]):
            if not out.any():
                break
            out &= self._mask(t, size)
        if isinstance(m, MatchPhrase):
            phrase = tokens(m.phrase, self.options)
            for label in np.flatnonzero(out).tolist():
                if not any(has_phrase(seq, phrase) for seq in self._sequences[label]):
                    out[label] = False
        return out

    def answer(self, cond: Condition) -> np.ndarray | None:
        """Sorted labels matching ``cond``, or ``None`` if this index cannot answer it."""
        mask = self.answer_mask(cond, max(self._terms, default=-1) + 1)
        return None if mask is None else np.flatnonzero(mask).astype(np.int64)
