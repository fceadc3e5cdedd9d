#!/usr/bin/env bash
# The GPU measurements, as one script per lent GPU window (tools/gpu-check.sh PHASE OUT):
#
#   study   configs/gpu.yaml end to end through Snakemake (fifteen runs packed on the GPU, each
#           to convergence), then its HTML report; OUT gets the log, the report and a tarball
#           of reports/gpu, results/gpu, logs, benchmarks and each run's small files.
#   bench   packing (1 and 4 runs of gpu.yaml's size, with and without CUDA MPS), then the
#           benchmark's throughput (eager, compiled, nn.Transformer; width-ladder batches),
#           beam search and padding figures.
#
# The machine needs PyTorch with CUDA, sentencepiece, sacrebleu, seaborn (a GPU image has
# them); Snakemake and its dependencies come as wheels in .whl/ (tools/gpu-wheels.sh), the
# tokenised corpus as data/bible-de-en (./run.sh makes it): name both in the call's carry.
set -uo pipefail
cd "$(dirname "$0")/.."
phase=${1:?study or bench}
out=${2:?output folder}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --upgrade --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
python3 -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])" \
  | tee -a "$out/device.txt"

start_mps() {  # CUDA MPS: kernels of several processes run at once instead of taking turns
  command -v nvidia-cuda-mps-control >/dev/null || { echo "mps: not installed"; return 1; }
  nvidia-cuda-mps-control -d || return 1
  if timeout 60 python3 -c "import torch; torch.ones(1, device='cuda').sum().item()"; then
    echo "mps: on"
  else
    echo "mps: a CUDA probe failed under MPS; off"; echo quit | nvidia-cuda-mps-control; return 1
  fi
}

if [ "$phase" = study ]; then
  data=(data/bible-de-en/unigram4000/{train,valid,test}.ids.npz data/bible-de-en/prepare.json)
  # carried files have no Snakemake records: mark them up to date instead of remaking them
  python3 -m snakemake --configfile configs/gpu.yaml --cores 1 --touch "${data[@]}" -q rules
  start_mps | tee -a "$out/device.txt"
  began=$(date +%s)
  timeout "${STUDY_SECONDS:-500}" python3 -m snakemake --configfile configs/gpu.yaml --cores 16 \
    --resources gpu_share=100 2>&1 | tee "$out/study.log" | grep -E "Finished job|Error|error" | tail -n 200
  echo "study: exit ${PIPESTATUS[0]} after $(($(date +%s) - began)) s wall" | tee -a "$out/device.txt"
  python3 -m snakemake --configfile configs/gpu.yaml --report "$out/report.html" -q rules 2>&1 | tail -3
  tar czf "$out/gpu.tar.gz" reports/gpu results/gpu logs/gpu benchmarks/gpu \
    $(find runs/gpu -name '*.json' -o -name '*.tsv' -o -name '*.hyp') 2>/dev/null
  ls -la "$out"
elif [ "$phase" = bench ]; then
  # without MPS first: a daemon left by an earlier call on the same warm machine would serve it
  echo quit | nvidia-cuda-mps-control 2>/dev/null && sleep 2
  python3 tools/gpu_pack.py --out /tmp/pack --steps "${PACK_STEPS:-400}" --counts 1,4 2>&1 | tee "$out/packing.txt"
  if start_mps; then
    python3 tools/gpu_pack.py --out /tmp/pack --steps "${PACK_STEPS:-400}" --counts 1,4 --label mps \
      2>&1 | tee -a "$out/packing.txt"
    echo quit | nvidia-cuda-mps-control
  fi
  cp /tmp/pack/gpu_pack*.json "$out/" 2>/dev/null
  ladder=$(python3 -c "import yaml; print(yaml.safe_load(open('configs/gpu.yaml'))['train']['bucket_ladder'])")
  python3 perf/benchmark.py --device cuda --mode short --compile --bucket-ladder "$ladder" \
    --skip snakemake qq_saving memory --out "$out/bench-cuda.json" 2>&1 | tee "$out/bench-cuda.txt"
fi
