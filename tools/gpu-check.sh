#!/usr/bin/env bash
# The GPU figures of the benchmark, as one script for a GPU machine (e.g. one lent for a
# session): needs PyTorch with CUDA, sentencepiece, sacrebleu, pyyaml, and the tokenised default
# corpus at data/bible-de-en/unigram4000 (./run.sh makes it; copy it along). Snakemake figures
# are left to the CPU run. Usage: tools/gpu-check.sh [short|full] [output folder]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-short}
out=${2:-results/benchmark}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 workflow/scripts/benchmark.py --device cuda --mode "$mode" --compile --skip snakemake \
  --out "$out/$mode-cuda.json" 2>&1 | tee "$out/$mode-cuda.txt"
