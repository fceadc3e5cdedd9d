#!/usr/bin/env bash
# Wheels of Snakemake and what it needs beyond a GPU image's Python 3.12 packages (PyTorch,
# seaborn, sacrebleu, sentencepiece, pandas, jinja2 are there), into .whl/ for a device call's
# carry: tools/gpu-check.sh installs them. Versions are this project's venv's.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/venv.sh >/dev/null
mkdir -p .whl
grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >>.git/info/exclude
version() { python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
# compiled ones: the manylinux wheels for CPython 3.12
for name in immutables rpds-py pydantic_core greenlet SQLAlchemy; do
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$name==$(version "$name")"
done
# pure-Python ones (some are published as source only): built here
pure=(snakemake snakemake-interface-common snakemake-interface-executor-plugins
  snakemake-interface-logger-plugins snakemake-interface-report-plugins
  snakemake-interface-scheduler-plugins snakemake-interface-storage-plugins platformdirs
  ConfigArgParse connection_pool docutils GitPython gitdb smmap humanfriendly jsonschema
  jsonschema-specifications referencing nbformat fastjsonschema jupyter_core traitlets PuLP
  tenacity smart_open yte dpath conda-inject sqlmodel pydantic annotated-types
  typing-inspection throttler argparse-dataclass)
python -m pip wheel -q --no-deps -w .whl $(for n in "${pure[@]}"; do echo "$n==$(version "$n")"; done)
du -sh .whl
