#!/usr/bin/env bash
# Print every speed and memory figure against its reference (docs/performance); extra
# arguments go to perf/benchmark.py, e.g. ./benchmark.sh --mode full.
source "$(dirname "$0")/tools/venv.sh"
python perf/benchmark.py "$@"
