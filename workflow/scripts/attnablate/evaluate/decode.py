"""The translate step: a run's best checkpoint translates the test split by beam search
(model/search.py), detokenised, one line a sentence."""

import time

import sentencepiece as spm
import torch

from attnablate.data.tokenizer import load_split
from attnablate.io import write_lines
from attnablate.model.search import DecodeConfig, translate
from attnablate.timing import JobClock
from attnablate.train.checkpoint import load_checkpoint
from attnablate.train.runtime import configure_kernels, pick_device


def translate_test_set(
    checkpoint, spm_model, test, output, decode: DecodeConfig, device_name: str, threads: int
) -> None:
    """The ``test`` split's sources (an id file) with a run's best ``checkpoint``,
    detokenised with ``spm_model``, by beam search with the ``decode`` settings on
    ``device_name``, to ``output``, one line a sentence."""
    clock = JobClock()  # where the job's time goes, for its log's last line
    torch.set_num_threads(threads)
    device = pick_device(device_name)
    configure_kernels(device)
    model, extra = load_checkpoint(checkpoint, map_location=device)
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    src, _ = load_split(test)
    if extra.get("diverged_at") is not None:  # a diverged record: the file, and no output
        write_lines(output, [""] * len(src))
        print(f"the run diverged at step {extra['diverged_at']}: {len(src)} empty hypotheses")
        return
    model = model.to(device)
    clock.begin()
    began = time.perf_counter()
    hyps = translate(model, src, decode, device)
    clock.add("decoding", time.perf_counter() - began)
    write_lines(output, (sp.decode(h) for h in hyps))
    print(f"{len(hyps)} sentences translated with beam {decode.beam_size}")
    print(clock.line(), flush=True)
