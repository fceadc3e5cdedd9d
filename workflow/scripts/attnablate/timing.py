"""Where a job's time goes: before its work begins (interpreter, imports, reading data, building
the model, loading a state), the work by part (steps, evaluation, states; decoding), and the
rest of the job besides them (writing records and outputs, logging). A job prints it as its
log's last line (``line``); perf/outside_work.py sums it over a DAG's logs."""

import time

import psutil

PREFIX = "job time:"  # the log line's start, which perf/outside_work.py reads


class JobClock:
    """Seconds of a job's parts, from its process's start to now."""

    def __init__(self):
        self.born = psutil.Process().create_time()  # the interpreter's start (Unix time)
        self.first: float | None = None  # when the work began
        self.parts: dict[str, float] = {}

    def add(self, part: str, seconds: float) -> None:
        """``seconds`` of work of one kind (steps, evaluation, states, decoding)."""
        self.parts[part] = self.parts.get(part, 0.0) + seconds

    def begin(self) -> None:
        """The work starts (the first call counts)."""
        if self.first is None:
            self.first = time.time()

    def line(self) -> str:
        """``job time: before 3.1 s | steps 80.2 s | evaluation 9.0 s | other 0.4 s``: the
        time before the work began, each part of the work in the order first added, and the
        rest of the job since the work began (outside the work, with ``before``)."""
        now = time.time()
        first = self.first if self.first is not None else now
        other = now - first - sum(self.parts.values())
        parts = [("before", first - self.born), *self.parts.items(), ("other", other)]
        return f"{PREFIX} " + " | ".join(f"{name} {seconds:.1f} s" for name, seconds in parts)


def read_line(text: str) -> dict[str, float] | None:
    """A log's ``job time`` line as part -> seconds, or None where the log has none."""
    lines = [line for line in text.splitlines() if line.startswith(PREFIX)]
    if not lines:
        return None
    parts = {}
    for field in lines[-1].removeprefix(PREFIX).split("|"):
        name, seconds, _unit = field.split()
        parts[name] = float(seconds)
    return parts
