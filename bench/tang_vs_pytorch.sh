#!/usr/bin/env bash
# tang_vs_pytorch.sh — quality of the Tang poem generator against PyTorch
# trained for the same wall time, in one run on one machine.
#
#   bench/tang_vs_pytorch.sh                 # hours on 2 cores: see EPOCHS
#   EPOCHS=1 LIMIT=2000 bench/tang_vs_pytorch.sh   # a check of the script
#
# 1. data/tang_poems.txt is split by `rnntrain split --seed 42
#    --test-fraction 0.05 --dedupe`: the test poems are never trained on.
# 2. rnntrain generator trains on the rest (it holds out its own validation
#    poems, --valid-fraction 0.05) with RS_FLAGS; its wall time W is taken.
# 3. bench/train_pytorch.py trains the same cell and size (CELL, LAYERS,
#    HIDDEN, EMBED), the same batch, learning rate, schedule, clip, epochs
#    and length buckets, for at most W seconds of training, and writes its
#    best model by validation in rnnserve's format.
# 4. `rnntrain eval` scores both on the test poems: nll per character
#    (<eos> included).  The issue's target: rnntrain lower by >= 0.05 nats.
#
# Both read characters seen fewer than MIN_COUNT (2) times in training as
# <unk>, so that the test poems' rare characters can be scored.
# Environment: EPOCHS (12), CELL (lstm), LAYERS (1), HIDDEN (512), EMBED
# (128), BATCH (32), LR (3e-3), THREADS (2), BUCKETS (50), MAX_CHARS (1200),
# RS_FLAGS (rnntrain's regularisers: "--dropout 0.2"), LIMIT (train on the
# first LIMIT poems of the split: script checks only), KEEP=1 keeps the work
# directory.  Needs a build (build/) and Debian's python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
EPOCHS=${EPOCHS:-12}
CELL=${CELL:-lstm}
LAYERS=${LAYERS:-1}
HIDDEN=${HIDDEN:-512}
EMBED=${EMBED:-128}
BATCH=${BATCH:-32}
LR=${LR:-3e-3}
THREADS=${THREADS:-2}
BUCKETS=${BUCKETS:-50}
MAX_CHARS=${MAX_CHARS:-1200}
RS_FLAGS=${RS_FLAGS:-"--dropout 0.2"}
MIN_COUNT=${MIN_COUNT:-2}
PYTHON=/usr/bin/python3
RNNTRAIN=$ROOT/build/src/train/rnntrain
[ -x "$RNNTRAIN" ] || { echo "tang_vs_pytorch.sh: build first (meson compile -C build)" >&2; exit 2; }
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "tang_vs_pytorch.sh: needs python3-torch" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tang_vs_pytorch.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "work directory: $WORK" >&2 || trap 'rm -rf "$WORK"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"

"$RNNTRAIN" split --data data/tang_poems.txt --seed 42 --test-fraction 0.05 --dedupe \
    --train-out "$WORK/train.txt" --test-out "$WORK/test.txt" 2>&1 | tail -1
if [ -n "${LIMIT:-}" ]; then
    head -n "$LIMIT" "$WORK/train.txt" > "$WORK/train-limit.txt"
    mv "$WORK/train-limit.txt" "$WORK/train.txt"
    echo "LIMIT: $LIMIT training poems — a check of the script, not a measurement"
fi

shape=(--cell "$CELL" --layers "$LAYERS" --hidden "$HIDDEN" --embed "$EMBED" --batch-size "$BATCH"
       --lr "$LR" --epochs "$EPOCHS" --clip 1 --seed 1 --length-buckets "$BUCKETS")
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$RNNTRAIN" generator --data "$WORK/train.txt" --out "$WORK/rnntrain.safetensors" "${shape[@]}" \
    --max-chars "$MAX_CHARS" --min-count "$MIN_COUNT" --valid-fraction 0.05 --normalize none \
    --threads "$THREADS" \
    $RS_FLAGS --log "$WORK/rnntrain.csv" 2> "$WORK/rnntrain.log"
wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
echo "rnntrain: $(grep -m1 '^rnntrain' "$WORK/rnntrain.log")"
echo "rnntrain: $EPOCHS epochs in ${wall}s; $(tail -1 "$WORK/rnntrain.log")"

env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
    OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
    "$PYTHON" bench/train_pytorch.py generator --data "$WORK/train.txt" "${shape[@]}" \
    --schedule cosine --valid-fraction 0.05 --normalize none --threads "$THREADS" \
    --min-count "$MIN_COUNT" \
    --time-budget "$wall" --out "$WORK/pytorch.safetensors" --log "$WORK/pytorch.csv" \
    2> "$WORK/pytorch.log"
echo "pytorch:  $(grep -m1 '^train_pytorch' "$WORK/pytorch.log")"
echo "pytorch:  $(grep -c '^epoch' "$WORK/pytorch.log") epoch(s) in at most ${wall}s; $(tail -1 "$WORK/pytorch.log")"

score() { "$RNNTRAIN" eval --model "$1" --data "$WORK/test.txt" --json |
    "$PYTHON" -c 'import json, sys; j = json.load(sys.stdin); print("%.4f %d" % (j["nll_per_token"], j["n"]))'; }
read -r rs n < <(score "$WORK/rnntrain.safetensors")
read -r pt _ < <(score "$WORK/pytorch.safetensors")
echo
echo "held-out poems: $n; nll per character (<eos> included), lower is better"
echo "  rnntrain ($CELL ${LAYERS}x$HIDDEN, $RS_FLAGS): $rs"
echo "  pytorch  (same cell and size, same wall time): $pt"
awk -v r="$rs" -v p="$pt" 'BEGIN { d = p - r; v = "NOT met"; if (d >= 0.05) v = "met"
    printf "  pytorch - rnntrain: %.4f nats   (target >= 0.05: %s)\n", d, v }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
