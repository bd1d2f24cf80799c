#!/usr/bin/env bash
# classifier_bar.sh — issue 14's bar for the names classifier, side by side
# in one run: the shipped classifier against the best single network that
# bench/train_pytorch.py trains, on the same held-out names.
#
#   bench/classifier_bar.sh                       # about 5 minutes on one core
#   PT_RECIPES="gru:--epochs 2" bench/classifier_bar.sh   # a quick check of the script
#
# 1. The split of models/train.sh: rnntrain split --seed 42 --test-fraction
#    0.1 --dedupe of data/names_by_nationality.tsv (grouped by name: no
#    held-out name is in a training row; stratified by nationality).
# 2. PyTorch's candidates, each trained on the training file by
#    bench/train_pytorch.py (nn.GRU / nn.LSTM, packed sequences, Adam,
#    cosine schedule, its own grouped 10% validation split), one thread,
#    seed 1: by default a bidirectional GRU-256 and a bidirectional LSTM-256,
#    embedding 64, 8 epochs at lr 3e-3 (the settings models/README.md
#    records).  Each keeps the epoch of its best validation accuracy
#    (--select accuracy: the metric of the bar, so the choice favours
#    PyTorch) and is written in the model format.  The candidate with the
#    best validation accuracy is PyTorch's network; the held-out figures
#    never choose.
# 3. Both scored by the same protocol: rnntrain eval --json on every
#    (name, nationality) row of the held-out file (the model file alone,
#    as /classify serves it: softmax(logits / T) for the shipped one).
# 4. Prints accuracy, macro-F1 (and nll, ECE) of each, and the two margins
#    against the bar: accuracy >= +1.5 points, macro-F1 >= +5 points.
#
# Environment:
#   MODEL=models/names-classifier.safetensors   the classifier to judge
#   PT_RECIPES="gru:--epochs 8 --lr 3e-3;lstm:--epochs 8 --lr 3e-3"
#                    PyTorch's candidates, CELL:EXTRA-FLAGS separated by ';'
#                    (always bidirectional, hidden 256, embedding 64)
#   PYTHON=/usr/bin/python3   the interpreter with Debian's python3-torch
#   WORK=DIR         keep the work files there (default: a temporary
#                    directory, kept; its path is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=$ROOT/build/src/train/rnntrain
MODEL=${MODEL:-models/names-classifier.safetensors}
PT_RECIPES=${PT_RECIPES:-"gru:--epochs 8 --lr 3e-3;lstm:--epochs 8 --lr 3e-3"}
PYTHON=${PYTHON:-/usr/bin/python3}
WORK=${WORK:-$(mktemp -d /tmp/classifier_bar.XXXXXX)}
mkdir -p "$WORK"

die() { echo "classifier_bar.sh: $*" >&2; exit 1; }
[ -x "$B" ] || die "build rnntrain first (meson compile -C build)"
[ -s "$MODEL" ] || die "no classifier $MODEL"
"$PYTHON" -c 'import torch' 2>/dev/null || die "$PYTHON cannot import torch (apt-get install python3-torch)"

echo "work directory: $WORK"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
$B split --data data/names_by_nationality.tsv --seed 42 --test-fraction 0.1 --dedupe \
  --train-out "$WORK/train.tsv" --test-out "$WORK/test.tsv"

# PyTorch's candidates, one after the other on one thread
best="" best_acc=-1
IFS=';' read -ra recipes <<< "$PT_RECIPES"
for k in "${!recipes[@]}"; do
  cell=${recipes[$k]%%:*} extra=${recipes[$k]#*:}
  [[ ${recipes[$k]} == *:* ]] || extra=""
  name="pytorch-$k-$cell"
  # shellcheck disable=SC2086
  OPENBLAS_NUM_THREADS=1 MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
    "$PYTHON" bench/train_pytorch.py classifier --data "$WORK/train.tsv" --cell "$cell" \
    --bidirectional --hidden 256 --embed 64 $extra --threads 1 --seed 1 --select accuracy \
    --out "$WORK/$name.safetensors" --log "$WORK/$name.csv" 2> "$WORK/$name.log" ||
    { cat "$WORK/$name.log" >&2; die "train_pytorch.py failed for $cell $extra"; }
  acc=$(tail -n +2 "$WORK/$name.csv" | cut -d, -f5 | sort -g | tail -1)
  $B eval --model "$WORK/$name.safetensors" --data "$WORK/test.tsv" --json > "$WORK/$name.eval.json"
  echo "pytorch candidate $k: bidirectional $cell-256 $extra: $(grep -o 'kept epoch [0-9]*' "$WORK/$name.log"), validation accuracy $acc"
  if awk -v a="$acc" -v b="$best_acc" 'BEGIN { exit !(a > b) }'; then
    best=$name best_acc=$acc
  fi
done
echo "pytorch's network (best validation accuracy): $best"

cp "$WORK/$best.eval.json" "$WORK/pytorch.eval.json"
$B eval --model "$MODEL" --data "$WORK/test.tsv" --json > "$WORK/shipped.eval.json"

"$PYTHON" - "$WORK/pytorch.eval.json" "$WORK/shipped.eval.json" "$MODEL" "$best" "$WORK" <<'EOF'
import glob, json, os, sys
pt, ours = (json.load(open(p)) for p in sys.argv[1:3])
print(f"\nheld-out rows: {ours['n']} (every (name, nationality) row of the test file)")
print(f"{'':40} {'accuracy':>9} {'macro_f1':>9} {'nll':>7} {'ece':>7}")
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[5], "pytorch-*.eval.json"))):
    name = os.path.basename(path)[: -len(".eval.json")]
    rows.append((name + (" (chosen)" if name == sys.argv[4] else ""), json.load(open(path))))
for name, j in rows + [(f"shipped: {os.path.basename(sys.argv[3])[:-12]}", ours)]:
    print(f"{name[:40]:40} {j['accuracy']:9.4f} {j['macro_f1']:9.4f} {j['nll']:7.4f} {j['ece']:7.4f}")
d_acc = 100 * (ours["accuracy"] - pt["accuracy"])
d_f1 = 100 * (ours["macro_f1"] - pt["macro_f1"])
print(f"\naccuracy: shipped - pytorch = {d_acc:+.2f} points (bar >= +1.5: "
      f"{'met' if d_acc >= 1.5 else 'NOT met'})")
print(f"macro-F1: shipped - pytorch = {d_f1:+.2f} points (bar >= +5: "
      f"{'met' if d_f1 >= 5 else 'NOT met'})")
print(f"calibration of the shipped model: temperature {ours['temperature']:.4f}, held-out ECE "
      f"{ours['ece']:.4f} (target <= 0.03: {'met' if ours['ece'] <= 0.03 else 'NOT met'})")
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
