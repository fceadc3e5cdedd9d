#!/usr/bin/env bash
# The GPU measurements, as one script per lent GPU window (tools/gpu-check.sh PHASE OUT):
#
#   study   configs/gpu.yaml end to end through Snakemake (fifteen runs packed on the GPU, each
#           to convergence), then its HTML report; OUT gets the log, the report and a tarball
#           of reports/gpu, results/gpu, logs, benchmarks and each run's small files.
#   bench   packing (1 and 4 runs of gpu.yaml's size, without and with CUDA MPS, and compiled
#           under MPS), then the benchmark's throughput (eager, compiled, nn.Transformer;
#           width-ladder batches), beam search and padding figures.
#
# Each phase writes its printout as OUT/<gpu>-<what>-<date>.txt, the machine, versions and
# command included: copied into docs/performance/ unchanged, `tools/perf_tables.py` makes the
# tables of docs/performance/README.md from it.
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
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | awk '{print tolower($2)}')
today=$(date +%F)
machine() {  # nvidia-smi's line and torch's: the machine and versions of a printout
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1
  python3 -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])"
}

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
  txt="$out/$gpu-gpu-study-$today.txt"
  data=(data/bible-de-en/unigram4000/{train,valid,test}.ids.npz data/bible-de-en/prepare.json)
  # carried files have no Snakemake records: mark them up to date instead of remaking them
  python3 -m snakemake --configfile configs/gpu.yaml --cores 1 --touch "${data[@]}" -q rules
  mps=$(start_mps | tail -1)
  {
    echo "# tools/gpu-check.sh study, $today: configs/gpu.yaml through Snakemake"
    echo "# (python3 -m snakemake --configfile configs/gpu.yaml --cores 16 --resources gpu_share=100), $mps"
    machine
  } >"$txt"
  began=$(date +%s)
  timeout "${STUDY_SECONDS:-500}" python3 -m snakemake --configfile configs/gpu.yaml --cores 16 \
    --resources gpu_share=100 >"$out/study.log" 2>&1
  status=$?
  {
    echo "study: exit $status after $(($(date +%s) - began)) s wall"
    echo
    echo "## per run (results/gpu/runs.tsv)"
    cat results/gpu/runs.tsv 2>/dev/null
    echo
    echo "## the DAG's job timeline (Snakemake's log, job ends)"
    grep -E "Finished job|Error|error|steps \(" "$out/study.log" | tail -n 200
  } >>"$txt"
  cat "$txt"
  python3 -m snakemake --configfile configs/gpu.yaml --report "$out/report.html" -q rules 2>&1 | tail -3
  tar czf "$out/gpu.tar.gz" reports/gpu results/gpu logs/gpu benchmarks/gpu \
    $(find runs/gpu -name '*.json' -o -name '*.tsv' -o -name '*.hyp') 2>/dev/null
  ls -la "$out"
elif [ "$phase" = bench ]; then
  txt="$out/$gpu-packing-$today.txt"
  steps=${PACK_STEPS:-400}
  {
    echo "# tools/gpu-check.sh bench, $today: python3 tools/gpu_pack.py --steps $steps --counts 1,4,"
    echo "# N qk runs of configs/gpu.yaml's size started together, first without CUDA MPS, then with it"
    machine
  } >"$txt"
  # without MPS first: a daemon left by an earlier call on the same warm machine would serve it
  echo quit | nvidia-cuda-mps-control 2>/dev/null && sleep 2
  python3 tools/gpu_pack.py --out /tmp/pack --steps "$steps" --counts 1,4 --label no-mps 2>&1 | tee -a "$txt"
  if start_mps; then
    python3 tools/gpu_pack.py --out /tmp/pack --steps "$steps" --counts 1,4 --label mps \
      2>&1 | tee -a "$txt"
    # whether compiling pays for packed runs too (configs/gpu.yaml does not compile until it does)
    python3 tools/gpu_pack.py --out /tmp/pack --steps "$steps" --counts 1,4 --label mps-compiled \
      --compile 2>&1 | tee -a "$txt"
    echo quit | nvidia-cuda-mps-control
  fi
  cp /tmp/pack/gpu_pack*.json "$out/" 2>/dev/null
  ladder=$(python3 -c "import yaml; print(yaml.safe_load(open('configs/gpu.yaml'))['train']['bucket_ladder'])")
  python3 perf/benchmark.py --device cuda --mode short --compile --bucket-ladder "$ladder" \
    --skip snakemake qq_saving memory --out "$out/bench-cuda.json" 2>&1 \
    | tee "$out/$gpu-bench-$today.txt"
fi
