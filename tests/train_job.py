"""One training job in a process of its own, as the train rule runs it: the resume tests start
it, signal or kill it, and start it again.

    python tests/train_job.py OUT STEPS PROCESSES DATA_FOLDER [ARCHITECTURE]
"""

import dataclasses
import signal
import sys
from pathlib import Path

from attnablate.model.config import ModelConfig
from attnablate.train import distributed
from attnablate.train.config import JobConfig, TrainConfig
from attnablate.train.files import DataFiles, RunFiles
from attnablate.train.loop import STOP_SIGNALS, Run, train

SAVE_EVERY = 120  # steps between resume states


# the same small model in each family: 1 + 1 layers, or 2 layers of one stack
ENCODER_DECODER = ModelConfig(
    vocab_size=200, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, variant="qq@enc"
)
MODELS = {
    "encoder_decoder": ENCODER_DECODER,
    **{
        family: dataclasses.replace(
            ENCODER_DECODER, architecture=family, variant="qq@self", **layers
        )
        for family, layers in (
            ("decoder_only", {"enc_layers": 0, "dec_layers": 2}),
            ("encoder_only", {"enc_layers": 2, "dec_layers": 0}),
        )
    },
}


def main(
    out: str, steps: str, processes: str, data: str, architecture: str = "encoder_decoder"
) -> None:
    cfg = TrainConfig(
        max_steps=int(steps),
        batch_tokens=400,
        warmup_steps=10,
        eval_every=60,
        valid_bleu_sentences=10,
        job=JobConfig(log_every=60, save_every=SAVE_EVERY),
        device="cpu",
    )
    model = MODELS[architecture]
    folder = Path(data)
    files = DataFiles(
        folder / "train.npz", folder / "valid.npz", folder / "spm.model", folder / "valid.en"
    )
    if int(processes) > 1:  # as the train step: the launcher outlives the signal and waits
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda *_: None)
    distributed.launch(int(processes), train, Run(model, cfg, 7, {}), files, RunFiles(Path(out)))


if __name__ == "__main__":
    main(*sys.argv[1:])
