#!/usr/bin/env bash
# Run the test suite; extra arguments go to pytest, e.g. ./test.sh -k attention.
source "$(dirname "$0")/tools/venv.sh"
python -m pytest "$@"
