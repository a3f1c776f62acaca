#!/usr/bin/env bash
# The Stage-1 ablation of docs/results/ on one GPU machine: CUDA tests, both synthetic cohorts,
# every variant x seed of configs/ablation.yaml, several runs sharing the GPU (--jobs).
# Usage: scripts/ablation_gpu.sh OUT [SEEDS] [JOBS]   (gazecxr importable, e.g. PYTHONPATH=src)
# Environment: STUDIES (1200), DEVICE (cuda), VARIANTS (all), EXTRA (more key=value overrides),
# SEEDS_NOCONF (the no-confounder cohort's seeds; default SEEDS), WORK (scratch folder).
# Writes OUT/{summary.txt, cuda_tests.log, ablation_confounded.{md,json}, ablation_noconfounders.{md,json},
# runs.tar.gz (every run's config, run.json, logs, test evaluation and predictions; no weights)}.
set -euo pipefail
out=${1:?usage: scripts/ablation_gpu.sh OUT [SEEDS] [JOBS]}
seeds=${2:-3}
jobs=${3:-12}
seeds_noconf=${SEEDS_NOCONF:-$seeds}
work=${WORK:-/tmp/gazecxr-ablation}
studies=${STUDIES:-1200}
device=${DEVICE:-cuda}
variants=()
[ -n "${VARIANTS:-}" ] && variants=(--variants "$VARIANTS")
read -r -a extra <<< "${EXTRA:-}"
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
gz() { python3 -c 'import sys; from gazecxr.cli import main; sys.exit(main())' "$@"; }

python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")' | tee "$out/summary.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/cuda_tests.log" || true

gz synth "$work/cohort" --studies "$studies" --seed 2 --image-size 256 --workers 8 > "$work/synth.log" 2>&1
gz synth "$work/cohort_noconf" --studies "$studies" --seed 2 --image-size 256 --workers 8 --no-confounders >> "$work/synth.log" 2>&1

for name in confounded noconfounders; do
  data=$work/cohort n=$seeds
  [ "$name" = noconfounders ] && data=$work/cohort_noconf n=$seeds_noconf
  start=$(date +%s)
  gz -q ablate --data "$data" --config configs/ablation.yaml --seeds "$n" --jobs "$jobs" "${variants[@]}" \
     --out "$work/abl_$name" train.device="$device" train.num_threads=1 "${extra[@]}" > "$work/ablate_$name.log" 2>&1
  echo "$name: $(( $(date +%s) - start )) s" | tee -a "$out/summary.txt"
  cp "$work/abl_$name/ablation.md" "$out/ablation_$name.md"
  cp "$work/abl_$name/ablation.json" "$out/ablation_$name.json"
done
(cd "$work" && tar czf "$out/runs.tar.gz" --exclude='*.safetensors' --exclude='*.state.pt' --exclude=tb \
   synth.log ablate_*.log abl_*)
