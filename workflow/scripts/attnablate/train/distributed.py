"""Data-parallel training across the GPUs of one job (or CPU processes, for the tests).

``launch`` starts one process per rank; each trains on its share of every batch, DDP sums the
gradients, and rank 0 alone validates and writes files. With one process everything here
is a no-op, so the training loop reads the same either way.
"""

import os
import socket
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def _device() -> torch.device:
    """Where collectives' tensors live: NCCL reduces GPU tensors only."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_sum(*values: float) -> list[float]:
    """The sum over ranks of each value (float64, so that token counts stay exact)."""
    if not dist.is_initialized():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_sum_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of a tensor already on this rank's device."""
    if dist.is_initialized():
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def from_main(*flags: bool) -> list[bool]:
    """Rank 0's decisions (stop, save ...), so that every rank takes the same branch."""
    if not dist.is_initialized():
        return list(flags)
    tensor = torch.tensor(flags, dtype=torch.uint8, device=_device())
    dist.broadcast(tensor, src=0)
    return [bool(x) for x in tensor.tolist()]


def gather(obj) -> list:
    """Every rank's ``obj`` (e.g. its random state), in rank order."""
    if not dist.is_initialized():
        return [obj]
    objects = [None] * world()
    dist.all_gather_object(objects, obj)
    return objects


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(rank_: int, world_size: int, backend: str, port: int, fn, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "nccl":
        torch.cuda.set_device(rank_)
    dist.init_process_group(backend, rank=rank_, world_size=world_size)
    try:
        fn(*args)
        status = 0
    except SystemExit as stop:  # stopped on purpose (to be resumed): every rank does, together
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        dist.destroy_process_group()
        raise
    # Leave together, once rank 0 has validated and written everything; then without running
    # the C++ teardown: gloo's threads abort a process whose peer has already gone ("terminate
    # called without an active exception", exit -6, seen on every few runs).
    dist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def launch(world_size: int, fn, *args, backend: str | None = None) -> None:
    """Run ``fn(*args)`` in ``world_size`` processes joined in one process group (NCCL on
    CUDA, gloo elsewhere); with one, simply call it."""
    if world_size <= 1:
        fn(*args)
        return
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    try:
        mp.spawn(_run, args=(world_size, backend, _free_port(), fn, args), nprocs=world_size)
    except mp.ProcessExitedException as error:
        # a rank that chose its exit status (e.g. stopped to be resumed) passes it on
        sys.exit(error.exit_code)
