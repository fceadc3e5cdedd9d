"""Scores come from sacrebleu itself, with its signature."""

import pytest

from attnablate.evaluate.score import score


def test_identical_translations_score_100_and_carry_the_signature():
    refs = ["The mouth of the righteous talks of wisdom.", "His tongue speaks justice."]
    result = score(refs, refs)
    assert result["bleu"] == pytest.approx(100.0) and result["chrf"] == pytest.approx(100.0)
    assert "version:2.6.0" in result["bleu_signature"] and "tok:13a" in result["bleu_signature"]


def test_worse_translations_score_lower():
    refs = ["The mouth of the righteous talks of wisdom.", "His tongue speaks justice."]
    good = score(["The mouth of the righteous speaks wisdom.", "His tongue speaks justice."], refs)
    bad = score(["A dog.", "Nothing here."], refs)
    assert 0 <= bad["bleu"] < good["bleu"] < 100


def test_misaligned_files_are_refused():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        score(["a", "b"], ["a"])
