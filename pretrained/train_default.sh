#!/usr/bin/env bash
# Trains the default model, sdm-vae-bark-l64-k256-libri-so762 (its card says what it is and why), in its two stages,
# on the LibriSpeech train split and the speechocean762 train list (validation: the LibriSpeech validation split):
#   1. from scratch with the recipe: $RUNS/default-stage1.pt, the weights of epoch 43 (before any learning-rate decay);
#   2. those weights fine-tuned whole with the KL weighted 2.5: $RUNS/default.pt, the weights of epoch 21.
# About an hour of one core in all. Resumable: rerunning continues an interrupted stage; a finished stage is kept.
# Ship the result with: sdmresynth publish $RUNS/default.pt --name NAME --eval ... (pretrained/publish_zoo.sh shows
# the evaluation sets).
#
#   pretrained/train_default.sh        # RUNS=DIR (default runs/), THREADS=N (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
SPLITS=${SPLITS:-../shared/data/splits}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
MODEL="-L 64 -K 256 --dictionary dct --hidden-dim 256 --linear-skip --soft-threshold --decoder-hidden-dim 512
       --decoder-layers 2 --reconstruction-weight bark"
DATA="--train $SPLITS/train.txt --train $SPLITS/speechocean762-train.txt --val $SPLITS/val.txt"

train() {  # train OUT [options...]: one stage, resumed if its state exists, skipped if it finished
  local out=$1 resume=""
  shift
  [ -f "${out%.pt}.state.pt" ] && resume="--resume"
  [ -z "$resume" ] && [ -f "$out" ] && { echo "$out exists, skipping"; return; }
  # shellcheck disable=SC2086
  sdmresynth train $DATA $MODEL --out "$out" --threads "${THREADS:-1}" $resume "$@"
}

train "$RUNS/default-stage1.pt" --lr-decays 2 --patience 10 --max-epochs 43
train "$RUNS/default.pt" --init-from "$RUNS/default-stage1.pt" --kl-weight 2.5 --lr 3e-4 --patience 10 --max-epochs 21
