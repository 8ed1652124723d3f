"""PayloadIndex answers (masks over labels) against the point-by-point filter semantics, through
writes that move points between no value, one value and several values (the dense
single-value array and the multi-value sorted array must stay in step)."""

from __future__ import annotations

import numpy as np
import pytest

from vecsearch.filter_eval import matches
from vecsearch.filters import parse_filter
from vecsearch.payload_index import PayloadIndex

CONDITIONS = [
    {"key": "v", "range": {"lt": 3}},
    {"key": "v", "range": {"gte": 2, "lte": 5}},
    {"key": "v", "range": {"gt": 4.5}},
    {"key": "v", "range": {}},
    {"key": "v", "match": {"value": 4}},
    {"key": "v", "match": {"any": [1, 6]}},
]


def _payload(rng: np.random.Generator) -> dict:
    kind = rng.integers(0, 5)
    if kind == 0:
        return {}
    if kind == 1:
        return {"v": int(rng.integers(0, 8))}
    if kind == 2:
        return {"v": [int(x) for x in rng.integers(0, 8, size=rng.integers(0, 4))]}
    if kind == 3:
        return {"v": "text"}
    return {"v": None}


@pytest.mark.parametrize("schema", ["integer", "float"])
def test_masks_match_filter_semantics_through_updates(schema):
    rng = np.random.default_rng(3 if schema == "integer" else 4)
    idx = PayloadIndex("v", schema)
    payloads: dict[int, dict] = {}
    size = 3000  # larger than the first dense allocation, so the array grows
    for step in range(6000):
        label = int(rng.integers(0, size))
        if rng.random() < 0.2:
            idx.update(label, None)  # deleted
            payloads.pop(label, None)
        else:
            p = _payload(rng)
            idx.update(label, p)
            payloads[label] = p
        if step % 1500 == 1499:
            for cond in CONDITIONS:
                flt = parse_filter({"must": [cond]})
                mask = idx.answer_mask(flt.must[0], size)
                if mask is None:
                    assert schema == "float" and "match" in cond  # float: ranges only
                    continue
                want = np.zeros(size, dtype=bool)
                for lab, p in payloads.items():
                    want[lab] = matches(flt, p, lab)
                np.testing.assert_array_equal(mask, want, err_msg=str(cond))
                labels = idx.answer(flt.must[0])
                np.testing.assert_array_equal(labels, np.flatnonzero(want))


def test_integer_index_declines_ranges_once_a_float_is_stored():
    idx = PayloadIndex("v", "integer")
    idx.update(0, {"v": 1})
    cond = parse_filter({"must": [{"key": "v", "range": {"lt": 2}}]}).must[0]
    assert idx.answer_mask(cond, 4).tolist() == [True, False, False, False]
    idx.update(1, {"v": 1.5})
    assert idx.answer_mask(cond, 4) is None  # the payload scan decides instead
    idx.update(1, None)
    assert idx.answer_mask(cond, 4).tolist() == [True, False, False, False]


def test_mask_is_fresh_and_sized():
    idx = PayloadIndex("v", "integer")
    idx.update(5, {"v": 1})
    cond = parse_filter({"must": [{"key": "v", "range": {"gte": 0}}]}).must[0]
    a = idx.answer_mask(cond, 8)
    a[:] = False  # callers combine masks in place: the index must not be affected
    assert idx.answer_mask(cond, 8).tolist() == [False] * 5 + [True] + [False] * 2
    assert idx.answer_mask(cond, 3).tolist() == [False] * 3  # labels past the size ignored
