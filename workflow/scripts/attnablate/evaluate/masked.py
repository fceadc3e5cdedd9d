"""The masked task's evaluation: a run's best checkpoint on the test split's masked pieces.

Every run is scored on the same positions: the test split masked from EVALUATION_SEED, as
the valid split is in training. A run writes one row per test sentence (its summed loss over
the chosen pieces, how many the model gets right, how many there are: the units the paired
tests of compare.py resample) and scores.json (accuracy in %, loss in nats per piece).

The same pieces are scored once without a model: each guessed from its frequency in the
training split alone (add-one smoothed), context unseen. That is what a run gets for nothing,
so the report can tell what training learned beyond the pieces' frequencies.
"""

import json

import numpy as np
import torch

from attnablate.data.masking import EVALUATION_SEED, IGNORE, MaskedBatches
from attnablate.data.tokenizer import load_split
from attnablate.evaluate.formats import SCORE_DECIMALS, SENTENCE_COLUMNS
from attnablate.io import write_json, write_tsv
from attnablate.meta import RunMeta
from attnablate.tasks import MASKED
from attnablate.train.checkpoint import load_checkpoint
from attnablate.train.step import sentence_measures

BATCH_TOKENS = 4000  # evaluation batches


def sentence_table(checkpoint, test) -> list[dict]:
    """Per sentence of the ``test`` split (an id file): the best ``checkpoint``'s summed loss,
    correct predictions and count over its masked pieces."""
    model, _ = load_checkpoint(checkpoint)
    src, _ = load_split(test)
    batches = MaskedBatches(src, BATCH_TOKENS, EVALUATION_SEED, model.cfg.vocab_size)
    measures = sentence_measures(model, batches, torch.device("cpu"))
    return [
        {"loss": round(float(loss), 6), "correct": int(right), "count": int(n)}
        for loss, right, n in zip(measures["loss"], measures["correct"], measures["count"])
    ]


def scores_of(rows: list[dict]) -> dict:
    """scores.json of a run's sentence rows: accuracy (%) and loss (nats per piece)."""
    count = sum(int(r["count"]) for r in rows)
    correct = sum(int(r["correct"]) for r in rows)
    loss = sum(float(r["loss"]) for r in rows)
    return {
        MASKED.measure: round(100 * correct / count, SCORE_DECIMALS),
        MASKED.second: round(loss / count, 6),
        "pieces": count,
        "sentences": len(rows),
    }


def evaluate_run(checkpoint, test, meta, sentences_out, scores_out) -> None:
    """Step ``evaluate_masked``: a run's sentence rows and scores.json; a diverged run (its
    ``meta``) gets empty rows and a diverged record, as a translating run does."""
    run = RunMeta.read(meta)
    if run.diverged:
        n = len(load_split(test)[0])
        write_tsv(sentences_out, [{} for _ in range(n)], SENTENCE_COLUMNS)
        scores = {MASKED.measure: None, MASKED.second: None, "pieces": None, "sentences": n}
        scores |= {"diverged": True, "diverged_at": run.diverged_at}
    else:
        rows = sentence_table(checkpoint, test)
        write_tsv(sentences_out, rows, SENTENCE_COLUMNS)
        scores = {**scores_of(rows), "diverged": False}
    write_json(scores_out, scores)
    print(json.dumps(scores))


def frequency_baseline(train, test, vocab_size: int) -> dict:
    """The scores of guessing every masked piece of the ``test`` split (an id file, masked as
    ``sentence_table`` masks it) from the pieces' frequencies in the ``train`` split's same
    side, add-one smoothed over the ``vocab_size`` pieces: accuracy (%) of always guessing the
    most frequent piece, and loss (nats per piece), in scores.json's keys."""
    counts = np.ones(vocab_size)
    for ids in load_split(train)[0]:
        counts += np.bincount(ids, minlength=vocab_size)
    log_p = np.log(counts / counts.sum())  # (V,)
    batches = MaskedBatches(load_split(test)[0], BATCH_TOKENS, EVALUATION_SEED, vocab_size)
    chosen = np.concatenate(
        [target[target.ne(IGNORE)].numpy() for _, target in map(batches.batch, batches.epoch(0))]
    )  # (pieces,): every masked piece the runs are scored on
    return {
        MASKED.measure: round(100 * float(np.mean(chosen == log_p.argmax())), SCORE_DECIMALS),
        MASKED.second: round(float(-log_p[chosen].mean()), 6),
        "pieces": len(chosen),
    }


def write_frequency_baseline(train, test, vocab_size: int, out) -> None:
    """Step ``masked_baseline``: frequency_baseline's scores, as JSON."""
    scores = frequency_baseline(train, test, vocab_size)
    write_json(out, scores)
    print(json.dumps(scores))
