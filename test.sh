#!/usr/bin/env bash
# Run the test suite; extra arguments go to pytest, e.g. ./test.sh -k attention.
# Test files run side by side, one worker per core up to four, each file whole on one worker
# (its module fixtures, such as a finished workflow, are built once).
source "$(dirname "$0")/tools/venv.sh"
python -m pytest --numprocesses auto --maxprocesses 4 --dist loadfile "$@"
