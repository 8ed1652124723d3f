"""Product quantization: reconstruction error against faiss on real data, ADC equals the
distance to decoded vectors, 4-bit packing, OPQ, bad input."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from indexes import (
    DimensionMismatchError,
    InvalidParameterError,
    InvalidVectorError,
    NotTrainedError,
    ProductQuantizer,
)
from tests.indexes.realdata import glove_sample


@pytest.fixture(scope="module")
def docs(vaswani_embeddings) -> np.ndarray:
    """5,000 Vaswani MiniLM document embeddings (384-d), real data."""
    return np.ascontiguousarray(vaswani_embeddings[0][:5000])


@pytest.fixture(scope="module")
def queries(vaswani_embeddings) -> np.ndarray:
    return vaswani_embeddings[1][:20]


@pytest.fixture(scope="module")
def pq8(docs) -> ProductQuantizer:
    pq = ProductQuantizer(docs.shape[1], 16, 8, n_iter=10, seed=0)
    pq.train(docs)
    return pq


@pytest.fixture(scope="module")
def pq4(docs) -> ProductQuantizer:
    pq = ProductQuantizer(docs.shape[1], 48, 4, n_iter=10, seed=0)
    pq.train(docs)
    return pq


def faiss_error(x: np.ndarray, m: int, nbits: int, n_iter: int) -> float:
    ref = faiss.ProductQuantizer(x.shape[1], m, nbits)
    ref.cp.niter = n_iter
    ref.train(x)
    rec = ref.decode(ref.compute_codes(x))
    return float(((x.astype(np.float64) - rec) ** 2).sum(1).mean())


@pytest.mark.parametrize(("fixture", "m", "nbits"), [("pq8", 16, 8), ("pq4", 48, 4)])
def test_reconstruction_error_within_5pct_of_faiss(request, docs, fixture, m, nbits):
    pq = request.getfixturevalue(fixture)
    ours = pq.reconstruction_error(docs)
    ref = faiss_error(docs, m, nbits, n_iter=10)
    assert abs(ours / ref - 1.0) <= 0.05, f"ours {ours:.5f} vs faiss {ref:.5f}"


def test_codes_shape_and_roundtrip(pq8, pq4, docs):
    c8 = pq8.encode(docs[:100])
    assert c8.dtype == np.uint8 and c8.shape == (100, 16)
    c4 = pq4.encode(docs[:100])
    assert c4.shape == (100, 24) and pq4.code_size == 24
    # decoding and re-encoding a reconstruction gives the same codes
    np.testing.assert_array_equal(pq8.encode(pq8.decode(c8)), c8)
    np.testing.assert_array_equal(pq4.encode(pq4.decode(c4)), c4)
    # each sub-vector is coded by its nearest codeword
    sub = docs[:100, :24].astype(np.float64)
    d = ((sub[:, None, :] - pq8.codebooks[0][None].astype(np.float64)) ** 2).sum(-1)
    assert (d[np.arange(100), c8[:, 0]] <= d.min(1) + 1e-5).all()


@pytest.mark.parametrize("fixture", ["pq8", "pq4"])
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_adc_equals_distance_to_decoded(request, docs, queries, fixture, metric):
    pq = request.getfixturevalue(fixture)
    codes = pq.encode(docs[:500])
    rec = pq.decode(codes).astype(np.float64)
    q = queries.astype(np.float64)
    ref = ((q[:, None, :] - rec[None]) ** 2).sum(-1) if metric == "l2" else -(q @ rec.T)
    np.testing.assert_allclose(pq.adc(queries, codes, metric), ref, rtol=1e-4, atol=1e-4)


def test_odd_m_with_4_bits(rng):
    x = rng.standard_normal((600, 15)).astype(np.float32)
    pq = ProductQuantizer(15, 5, 4, n_iter=5)
    pq.train(x)
    codes = pq.encode(x)
    assert codes.shape == (600, 3)
    assert (codes[:, 2] >> 4 == 0).all()  # the unused high nibble stays zero
    rec = pq.decode(codes).astype(np.float64)
    np.testing.assert_allclose(
        pq.adc(x[:5], codes), ((x[:5, None, :] - rec[None]) ** 2).sum(-1), rtol=1e-4, atol=1e-4
    )


def test_opq_rotation_is_orthogonal_and_helps():
    x, q = glove_sample(5000, 20)
    plain = ProductQuantizer(50, 10, 4, n_iter=8, seed=0)
    plain.train(x)
    opq = ProductQuantizer(50, 10, 4, opq=True, n_iter=8, opq_rounds=6, seed=0)
    opq.train(x)
    r = opq.rotation
    assert r is not None
    np.testing.assert_allclose(r @ r.T, np.eye(50), atol=1e-4)
    assert opq.reconstruction_error(x) < 0.97 * plain.reconstruction_error(x)
    codes = opq.encode(x[:300])
    rec = opq.decode(codes).astype(np.float64)
    ref = ((q[:, None, :].astype(np.float64) - rec[None]) ** 2).sum(-1)
    np.testing.assert_allclose(opq.adc(q, codes), ref, rtol=1e-4, atol=1e-3)


def test_seeded_training_is_deterministic(docs):
    a = ProductQuantizer(384, 12, 4, n_iter=4, seed=5)
    b = ProductQuantizer(384, 12, 4, n_iter=4, seed=5)
    a.train(docs[:1000])
    b.train(docs[:1000])
    np.testing.assert_array_equal(a.codebooks, b.codebooks)


def test_bad_input(pq8, docs):
    with pytest.raises(InvalidParameterError):
        ProductQuantizer(384, 7)  # does not divide
    with pytest.raises(InvalidParameterError):
        ProductQuantizer(384, 16, nbits=5)
    with pytest.raises(InvalidParameterError):
        ProductQuantizer(384, 0)
    fresh = ProductQuantizer(384, 16)
    with pytest.raises(NotTrainedError):
        fresh.encode(docs[:2])
    with pytest.raises(NotTrainedError):
        fresh.decode(np.zeros((1, 16), dtype=np.uint8))
    with pytest.raises(InvalidParameterError):
        fresh.train(docs[:100])  # fewer rows than codewords
    with pytest.raises(DimensionMismatchError):
        pq8.encode(docs[:2, :100])
    bad = docs[:3].copy()
    bad[1, 5] = np.inf
    with pytest.raises(InvalidVectorError):
        pq8.encode(bad)
    with pytest.raises(InvalidParameterError):
        pq8.decode(np.zeros((2, 15), dtype=np.uint8))
    with pytest.raises(InvalidParameterError):
        pq8.decode(np.zeros((2, 16), dtype=np.int32))
    with pytest.raises(InvalidParameterError):
        pq8.lookup_tables(docs[:1], metric="cosine")
