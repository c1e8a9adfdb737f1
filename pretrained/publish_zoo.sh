#!/usr/bin/env bash
# Ship zoo models trained by train_zoo.sh: copy $RUNS/NAME.pt (default runs/) into pretrained/, score it on the evaluation sets and
# write its model card (what it is and the recipe, below) and index entry.
#
#   pretrained/publish_zoo.sh NAME [NAME ...]
#   RUNS=runs/table1 pretrained/publish_zoo.sh NAME ...   # a row trained as a sweep: its best-validation seed
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}

RECIPE="Recipe (pretrained/train_zoo.sh): the paper's protocol (Adam, batch 128, early stopping on the validation loss \
with patience 20, at most 500 epochs, best weights kept) with the encoder input log-compressed and standardised per \
frequency bin (statistics of the training frames, stored in the model), Adam at 1e-3 and the gradient norm clipped \
at 2000. Against the official code's setting (raw power input, Adam 1e-4) it reaches a lower validation loss in about \
a third of the time; see docs/performance.md, 'Training the zoo'."

describe() {
  local name=$1 latent atoms alpha
  latent=$(sed -E 's/.*-l([0-9]+).*/\1/' <<< "$name")
  case "$name" in
    vae-l*) echo "The paper's VAE baseline (its ref. [3]): 513-128-$latent tanh encoder/decoder, standard normal prior. \
Table 1 row 'VAE' at L = $latent." ;;
    sdm-vae-identity-l*) echo "SDM-VAE with the identity dictionary (K = L = $latent): a zero-mean Gaussian prior with \
a variance per latent dimension and frame, the SDM-VAE's sparsity-promoting prior, on z = w. Table 1 row 'SDM-VAE, \
identity D' at L = $latent." ;;
    sdm-vae-dct-l*) atoms=${name##*-k}; echo "SDM-VAE with a fixed DCT dictionary of K = $atoms atoms for \
L = $latent latent dimensions ($([ "$atoms" = "$latent" ] && echo complete || echo "$((atoms / latent)) times overcomplete")); \
the code w has a prior variance per atom and frame. Table 1 row 'SDM-VAE, DCT D' at L = $latent." ;;
    sdm-vae-learned-l*) atoms=${name##*-k}; echo "SDM-VAE with a learnable dictionary (L = $latent, K = $atoms): \
initialised with the DCT and trained with the rest of the model, its atoms renormalised to unit length after each \
step. Not a row of the paper's Table 1; shipped to compare learned with fixed atoms." ;;
    vsc-l*) alpha=${name##*-a}; echo "Variational sparse coding (Tonolini, Jensen and Murray-Smith, UAI 2019; the paper's \
ref. [11]) with prior spike probability alpha = $alpha and the paper's 513-128-$latent tanh encoder/decoder: Table 1 row \
'VSC' at L = $latent. As the authors' code: spike-and-slab posterior with a relaxed selector \
sigmoid(c (eta + gamma - 1)), c = 100; a prior built from 10 learned pseudo-inputs weighted by a selector network, \
its spike probabilities sharpened with nu = 10; the aggregate term pulling the pseudo-inputs' mean spike probability \
to alpha. Trained without the authors' spike warm-up (the slab is used from the first epoch), which reaches the \
same validation loss in about half the epochs (docs/performance.md, 'VSC'), and, like every zoo model, until early \
stopping or the 500-epoch cap. Codes (encode, Hoyer): the gated posterior mean, mu where the spike probability exceeds 1/2 and exactly 0 \
elsewhere." ;;
    *) echo "unknown zoo model: $name" >&2; return 1 ;;
  esac
}

# A sweep's row (RUNS/NAME-seedN.pt, train_zoo.sh with SEEDS=...) ships the seed with the lowest validation loss:
# chosen on validation, so the test scores of the shipped model are not the best of several looks at the test set.
best_seed() {
  "${PYTHON:-python}" - "$@" <<'PY'
import sys
from sdmresynth.models.checkpoint import load_checkpoint
metadata = {path: load_checkpoint(path).metadata for path in sys.argv[1:]}
losses = {path: meta["best_val_loss"] for path, meta in metadata.items()}
best = min(losses, key=losses.get)
decays = metadata[best]["train_config"].get("lr_decays", 0)
seed = lambda path: path.rsplit("-seed", 1)[1].removesuffix(".pt")
print(best)
print((f"Trained with {decays} learning-rate decays (--lr-decays {decays}: where patience runs out, back to the best "
       "weights at a tenth of the learning rate), as every row of Table 1 over seeds. " if decays else "")
      + f"Shipped: seed {seed(best)} of the sweep's " + ", ".join(f"{seed(p)} ({v:.2f})" for p, v in losses.items())
      + " (best validation loss per frame in brackets), the one with the lowest validation loss; "
      "benchmarks/experiments/table1-seeds/table.md gives the means over the seeds.")
PY
}

# the model enhance uses by default says so on its card (sdmresynth.io.shipped.ENHANCE_PRIOR decides which)
ENHANCE_PRIOR=$("${PYTHON:-python}" -c "from sdmresynth.io.shipped import ENHANCE_PRIOR; print(ENHANCE_PRIOR)")
for name in "$@"; do
  notes="$(describe "$name")"
  [ "$name" = "$ENHANCE_PRIOR" ] && notes="$notes Also \`sdmresynth enhance\`'s default speech prior, which the \
leave-one-noise-category-out protocol chose (docs/enhancement.md)."
  notes="$notes $RECIPE"
  checkpoint="${RUNS:-runs}/$name.pt"
  if [ ! -f "$checkpoint" ] && compgen -G "${RUNS:-runs}/$name-seed*[0-9].pt" > /dev/null; then
    chosen=$(best_seed "${RUNS:-runs}/$name"-seed*[0-9].pt)
    checkpoint=$(head -n 1 <<< "$chosen")
    notes="$notes $(tail -n 1 <<< "$chosen")"
  fi
  # $RUNS/NAME.notes: what is particular to this run (say, epochs trained on another machine)
  [ -f "${RUNS:-runs}/$name.notes" ] && notes="$notes $(cat "${RUNS:-runs}/$name.notes")"
  sdmresynth publish "$checkpoint" --name "$name" --notes "$notes" --workers "${WORKERS:-2}" \
    --eval "$DATA/splits/test.txt" --eval "$DATA/speech_commands" --eval "$DATA/splits/speechocean762-val.txt"
done
