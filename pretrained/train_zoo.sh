#!/usr/bin/env bash
# The recipe of the shipped models: the paper's protocol (Adam lr 1e-4, batch 128, patience 20, <= 500 epochs)
# on the shared speaker-disjoint LibriSpeech split. One thread per run: on a 2-core machine two runs side by side
# give twice the throughput of one run on two threads (see benchmarks/RESULTS.md).
#
#   pretrained/train_zoo.sh NAME [NAME ...]     # e.g. pretrained/train_zoo.sh vae-l64 sdm-vae-identity-l64
#
# Checkpoints go to runs/NAME.pt (resumable: rerunning a name continues an interrupted run), logs to runs/NAME.log.
set -euo pipefail
cd "$(dirname "$0")/.."
SPLITS=${SPLITS:-../shared/data/splits}
mkdir -p runs

options_for() {
  case "$1" in
    vae-l16) echo "--model-type vae -L 16" ;;
    vae-l64) echo "--model-type vae -L 64" ;;
    sdm-vae-identity-l16) echo "--dictionary identity -L 16" ;;
    sdm-vae-identity-l64) echo "--dictionary identity -L 64" ;;
    sdm-vae-dct-l16-k16) echo "--dictionary dct -L 16 -K 16" ;;
    sdm-vae-dct-l16-k64) echo "--dictionary dct -L 16 -K 64" ;;
    sdm-vae-dct-l64-k64) echo "--dictionary dct -L 64 -K 64" ;;
    sdm-vae-dct-l64-k256) echo "--dictionary dct -L 64 -K 256" ;;
    sdm-vae-learned-l64-k256) echo "--dictionary learned -L 64 -K 256" ;;
    *) echo "unknown zoo model: $1" >&2; return 1 ;;
  esac
}

for name in "$@"; do
  opts=$(options_for "$name")
  resume=""
  [ -f "runs/$name.state.pt" ] && resume="--resume"
  [ -f "runs/$name.pt" ] && [ -z "$resume" ] && { echo "runs/$name.pt exists, skipping"; continue; }
  # shellcheck disable=SC2086
  sdmresynth train --train "$SPLITS/train.txt" --val "$SPLITS/val.txt" --out "runs/$name.pt" \
    --lr 1e-4 --threads 1 --seed 0 $opts $resume >> "runs/$name.log" 2>&1
done
