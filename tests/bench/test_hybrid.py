"""bench.hybrid: the quality run on Cranfield through the engine (no HTTP part here; the
service tests cover hybrid queries over HTTP)."""

from __future__ import annotations

import pytest

pytest.importorskip("ir_measures")


def test_cranfield_quality_run_and_report(tmp_path):
    from bench.hybrid import KINDS, markdown, plot, run_collection

    r = run_collection("cranfield", rounds=1, http=False)
    assert r["documents"] == 1400 and r["queries"] == 225
    for kind in KINDS:
        m = r["quality"][kind]
        assert 0.2 < m["ndcg@10"] < 0.7 and 0.5 < m["recall@100"] <= 1.0, (kind, m)
    # fused rankings draw on both lists: each beats the weaker of the two alone
    weaker = min(r["quality"]["bm25"]["ndcg@10"], r["quality"]["dense"]["ndcg@10"])
    assert r["quality"]["rrf"]["ndcg@10"] > weaker and r["quality"]["dbsf"]["ndcg@10"] > weaker
    text = markdown(r)
    assert "| dbsf |" in text and "Better of the two alone" in text
    plot(r, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
