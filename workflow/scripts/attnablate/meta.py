"""meta.json: what one training run did. Training writes it at a run's end (train.loop); the
score and aggregate steps read it. Its format lives here, beside the steps that read it.

The file is flat: the run's keys (experiment, variant, size, match, seed, budget: the
wildcards of its job, none in a run outside the workflow) and then the fields below.
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from attnablate.errors import DamagedFileError
from attnablate.io import write_json


@dataclass
class RunMeta:
    run: dict  # the run's keys, written at the top level of the file
    params_total: int  # unique trainable parameters (a tied matrix once)
    params_non_embedding: int  # the same without the shared embedding
    steps: int  # optimiser steps done (a diverged run: the last finite one)
    epochs: int  # epochs begun
    epochs_seen: float  # target tokens trained on, in passes over the training targets
    tokens: int  # target tokens trained on
    train_seconds: float  # training time, resumed parts included
    tokens_per_second: float | None
    best_step: int | None  # the step of the best validation loss (the checkpoint's)
    best_valid_loss: float | None
    best_valid_bleu: float | None
    diverged: bool  # the loss became NaN or infinite
    diverged_at: int | None  # the step it did
    converged_at: int | None  # the validation where stop_at_convergence ended the run
    dropped_long_pairs: int  # training pairs longer than max_len, left out
    mfu: float | None  # model FLOP utilisation, on a GPU whose peak is known
    data_wait_share: float | None  # share of step time spent fetching batches
    device: str
    threads: int
    versions: dict  # torch, python
    cpu_capability: str  # the CPU kernels' instruction set: same seed, same bits only with it
    kernels: list[str]  # the kernel sets that trained it from step 0, in order (kernel_set)
    platform: str
    model_config: dict  # the ModelConfig, as the checkpoint stores it
    train_config: dict  # the TrainConfig as run (compile and precision as resolved)

    def write(self, path) -> None:
        document = asdict(self)
        write_json(path, {**document.pop("run"), **document})

    @classmethod
    def read(cls, path) -> "RunMeta":
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DamagedFileError(path, f"not JSON ({error})") from None
        named = {f.name for f in fields(cls)} - {"run"}
        needed = named - {"kernels"}  # a meta.json written before runs recorded them has none
        missing = sorted(needed - set(document)) if isinstance(document, dict) else ["all"]
        if missing:
            raise DamagedFileError(path, f"not a run's meta.json (missing: {', '.join(missing)})")
        document.setdefault("kernels", [kernels_of_old(document)])
        run = {key: value for key, value in document.items() if key not in named}
        return cls(run=run, **{key: document[key] for key in named})


def kernels_of_old(document: dict) -> str:
    """The kernel set of a meta.json written before runs recorded theirs: that of the
    process that wrote it (a run resumed under other kernels before it cannot be told)."""
    return kernel_set(
        document["device"],
        document["cpu_capability"],
        document["threads"],
        document["versions"]["torch"],
    )


def kernel_set(device: str, cpu_capability: str, threads: int, torch_version: str) -> str:
    """What decides a run's bits besides its config and seed: the kernels' instruction set
    (``cpu AVX512``, from ``cpu_capability`` where ``device`` is ``cpu``; on a GPU, the
    ``device``'s name), the threads and the PyTorch build. A run resumed under another set goes
    on with other numbers than either set alone would give."""
    where = f"cpu {cpu_capability}" if device == "cpu" else device
    return f"{where}, {threads} thread{'' if threads == 1 else 's'}, torch {torch_version}"
