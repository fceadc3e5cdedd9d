"""Scoring translations with sacrebleu: BLEU and chrF, with their signatures."""

import json
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from attnablate.evaluate.formats import SCORE_DECIMALS
from attnablate.io import write_json
from attnablate.meta import RunMeta


def read_text_lines(path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def score(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF of ``hypotheses`` against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: they must align"
        )
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu_score.score, SCORE_DECIMALS),
        "chrf": round(chrf_score.score, SCORE_DECIMALS),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
    }


def diverged_record(meta: RunMeta, sentences: int) -> dict:
    """What a diverged run scores: no numbers, and the step where its loss broke."""
    return {
        "bleu": None,
        "chrf": None,
        "bleu_signature": None,
        "chrf_signature": None,
        "sentences": sentences,
        "diverged": True,
        "diverged_at": meta.diverged_at,
    }


def score_run(hyp, ref, meta, output) -> None:
    """A run's translations ``hyp`` against ``ref``, to ``output`` (scores.json); a diverged
    run (its ``meta``, meta.json) gets a diverged record."""
    run = RunMeta.read(meta)
    if run.diverged:
        scores = diverged_record(run, len(read_text_lines(ref)))
    else:
        scores = {**score(read_text_lines(hyp), read_text_lines(ref)), "diverged": False}
    write_json(output, scores)
    print(json.dumps(scores))
