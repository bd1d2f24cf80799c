#!/usr/bin/env bash
# train_vs_pytorch.sh — training speed of rnntrain against PyTorch on the same
# model, same data and same hyper-parameters, in one run on one machine.
#
#   bench/train_vs_pytorch.sh            # from the repository root
#
# Three models, each at 1 and 2 threads:
#   bigru256-classifier   bidirectional GRU-256, embedding 64, 1 layer,
#                         on data/names_by_nationality.tsv
#   gru256-generator      GRU-256, embedding 64, 1 layer, unconditioned,
#                         on data/us_baby_names.txt
# both with batch 64, Adam, lr 0.003 (cosine schedule), gradient clipping 1.0,
# dropout 0, 10% held out for validation;
#   lstm512x2-textlm      the Shakespeare textlm's shape: 2-layer LSTM-512,
#                         embedding 64, 32 streams x 128-character windows,
#                         state carried, Adam lr 0.002 cosine, clip 5,
#                         dropout 0, on the first TEXT_CHARS (300,000)
#                         characters of data/tinyshakespeare.txt, the last
#                         10% of them held out (bench/train_pytorch_textlm.py
#                         on the PyTorch side);
#   lstm256-tang          the shipped Tang generator's shape (MODELS=tang, not
#                         in the default set): LSTM-256, embedding 128,
#                         batch 32, lr 0.003 cosine, clip 1, poems up to
#                         1,200 characters sorted in runs of 50 batches
#                         (--length-buckets 50), characters seen twice or
#                         more (about 6k), on the first TANG_POEMS (8,000)
#                         poems of data/tang_poems.txt, dropout 0;
#   bigru256-translator   the shipped eng-fra translator's shape (MODELS=translator,
#                         not in the default set): bidirectional GRU-256
#                         encoder-decoder with attention, embedding 128,
#                         1 layer, min-count 4, max-length 20, batch 64, Adam
#                         lr 0.002 cosine, clip 1.0, dropout 0, teacher
#                         forcing 1.0, 5% held out grouped by source
#                         sentence, on the first TRANSLATE_PAIRS (30,000)
#                         lines of data/eng_fra.tsv
#                         (bench/train_pytorch_translator.py on the PyTorch
#                         side); TRANSLATE_EPOCHS (1) epoch(s), each run
#                         bounded by --time-budget TRANSLATE_BUDGET (150 s) on
#                         both sides, so MODELS=translator takes at most
#                         about 4 x 150 s plus start-up and validation:
#
#     MODELS=translator bench/train_vs_pytorch.sh
#
# The figure is training characters per second (see bench/README.md) — for
# the translator target tokens per second (<eos> included, padding not) —:
# the mean over the epochs of each epoch's rate, validation excluded.  A
# translator epoch cut short by the time budget still gives a figure:
# PyTorch's partial-epoch CSV line, and for rnntrain (which writes no CSV
# line for a partial epoch) its last progress line on stderr (printed every
# 30 s: the epoch's tokens so far over its time so far).  ratio = rnntrain /
# pytorch (above 1: rnntrain is faster).
#
# Environment:
#   EPOCHS=2            epochs per run
#   THREADS="1 2"       thread counts to measure
#   MODELS="classifier generator textlm"   which models (also: translator)
#   TRANSLATE_PAIRS=30000   translator: the first N lines of data/eng_fra.tsv
#   TRANSLATE_EPOCHS=1      translator: epochs per run (EPOCHS does not apply)
#   TRANSLATE_BUDGET=150    translator: --time-budget in seconds, both sides (0: none)
#   LIMIT=              if set, train on LIMIT lines drawn (deterministically)
#                       from each data file — for checking the script only,
#                       never for reported figures
#   PYTHON=/usr/bin/python3   the interpreter with Debian's python3-torch
#   KEEP=1              keep the work directory (logs, per-epoch CSVs)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

EPOCHS=${EPOCHS:-2}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-"classifier generator textlm"}
TEXT_CHARS=${TEXT_CHARS:-300000}
TANG_POEMS=${TANG_POEMS:-8000}
TRANSLATE_PAIRS=${TRANSLATE_PAIRS:-30000}
TRANSLATE_EPOCHS=${TRANSLATE_EPOCHS:-1}
TRANSLATE_BUDGET=${TRANSLATE_BUDGET:-150}
LIMIT=${LIMIT:-}
PYTHON=${PYTHON:-/usr/bin/python3}
RNNTRAIN=$ROOT/build/src/train/rnntrain

die() { echo "train_vs_pytorch.sh: $*" >&2; exit 1; }

case $EPOCHS in '' | *[!0-9]* | 0) die "EPOCHS must be a positive integer, not '$EPOCHS'" ;; esac
if [ -n "$LIMIT" ]; then
    case $LIMIT in *[!0-9]* | 0) die "LIMIT must be a positive integer, not '$LIMIT'" ;; esac
fi
for t in $THREADS; do
    case $t in *[!0-9]* | 0) die "THREADS must be positive integers, not '$t'" ;; esac
done
for m in $MODELS; do
    case $m in classifier | generator | textlm | tang | translator) ;; *) die "MODELS: unknown model '$m' (classifier, generator, textlm, tang, translator)" ;; esac
done
case $TRANSLATE_PAIRS in '' | *[!0-9]* | 0) die "TRANSLATE_PAIRS must be a positive integer, not '$TRANSLATE_PAIRS'" ;; esac
case $TRANSLATE_EPOCHS in '' | *[!0-9]* | 0) die "TRANSLATE_EPOCHS must be a positive integer, not '$TRANSLATE_EPOCHS'" ;; esac
case $TRANSLATE_BUDGET in '' | *[!0-9]*) die "TRANSLATE_BUDGET must be a whole number of seconds, not '$TRANSLATE_BUDGET'" ;; esac

# --- PyTorch must be there ---------------------------------------------------
if [ ! -x "$PYTHON" ]; then
    die "$PYTHON not found; install Debian's PyTorch: apt-get install python3-torch"
fi
if ! TORCH_VERSION=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    die "$PYTHON cannot import torch; install Debian's PyTorch: apt-get install python3-torch
(the python3 on PATH may be another interpreter without torch; this script uses $PYTHON)"
fi

# --- rnntrain, built if missing ----------------------------------------------
if [ ! -x "$RNNTRAIN" ]; then
    command -v meson >/dev/null || die "rnntrain is not built and meson is missing (apt-get install meson ninja-build)"
    echo "building rnntrain ..." >&2
    [ -d build ] || meson setup build >&2
    meson compile -C build >&2
    [ -x "$RNNTRAIN" ] || die "the build did not produce $RNNTRAIN"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    echo "train_vs_pytorch.sh: warning: load average $LOAD_START before starting; the" \
         "figures (2 threads above all) are only meaningful on an otherwise idle machine" >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/train_vs_pytorch.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "work directory kept: $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi

# LIMIT: a deterministic sample of the data file's lines (validation runs only);
# the extension is kept, as rnntrain reads .tsv as name<TAB>label.
dataset() {
    local src=$1
    if [ -z "$LIMIT" ]; then
        echo "$ROOT/$src"
        return
    fi
    local base dst
    base=$(basename "$src")
    dst=$WORK/limit-$LIMIT-$base
    if [ ! -f "$dst" ]; then
        shuf -n "$LIMIT" --random-source=<(yes) "$ROOT/$src" >"$dst"
    fi
    echo "$dst"
}

# mean of the chars_per_s column of an rnntrain-style CSV
mean_rate() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "chars_per_s") c = i; next }
             c && $c != "" { s += $c; n++ }
             END { if (!c || n == 0) exit 1; printf "%.0f\n", s / n }' "$1"
}

# rnntrain's last progress line's rate ("epoch 1/1  step N/M  loss L  R tokens/s  ETA …",
# printed every 30 s without a terminal): the figure of an epoch the time
# budget cut short, for which rnntrain writes no CSV line
progress_rate() {
    awk '/^epoch [0-9]+\/[0-9]+  step / { for (i = 1; i < NF; i++) if ($(i + 1) == "tokens/s") r = $i }
         END { if (r == "") exit 1; print r }' "$1"
}

# per-epoch chars_per_s, space-separated
epoch_rates() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "chars_per_s") c = i; next }
             { printf "%s%s", sep, $c; sep = " " } END { print "" }' "$1"
}

# run NAME LOG CMD... : runs CMD with stderr to LOG, fails loudly with its tail
run() {
    local name=$1 log=$2
    shift 2
    echo "  $name ..." >&2
    if ! "$@" >"$log" 2>&1; then
        echo "train_vs_pytorch.sh: $name failed; last lines of $log:" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
}

common_rnntrain=(--cell gru --hidden 256 --embed 64 --layers 1 --epochs "$EPOCHS" --batch-size 64
                 --lr 0.003 --schedule cosine --optimizer adam --clip 1 --dropout 0
                 --input-dropout 0 --weight-decay 0 --valid-fraction 0.1 --seed 1)
common_pytorch=(--cell gru --hidden 256 --embed 64 --layers 1 --epochs "$EPOCHS" --batch-size 64
                --lr 0.003 --schedule cosine --clip 1 --valid-fraction 0.1 --seed 1)

ROWS=()
DETAILS=()
NOTES=()
for model in $MODELS; do
    case $model in
    classifier)
        name=bigru256-classifier
        data=$(dataset data/names_by_nationality.tsv)
        extra=(--bidirectional)
        ;;
    generator)
        name=gru256-generator
        data=$(dataset data/us_baby_names.txt)
        extra=()
        ;;
    textlm)
        name=lstm512x2-textlm
        data=$WORK/shakespeare-$TEXT_CHARS.txt
        "$PYTHON" -c 'import sys; t = open(sys.argv[1], encoding="utf-8", newline="").read()
open(sys.argv[2], "w", encoding="utf-8", newline="").write(t[:int(sys.argv[3])])' \
            "$ROOT/data/tinyshakespeare.txt" "$data" "$TEXT_CHARS"
        ;;
    tang)
        name=lstm256-tang
        data=$WORK/tang-$TANG_POEMS.txt
        head -n "$TANG_POEMS" "$ROOT/data/tang_poems.txt" >"$data"
        ;;
    translator)
        name=bigru256-translator
        data=$WORK/eng_fra-$TRANSLATE_PAIRS.tsv
        head -n "$TRANSLATE_PAIRS" "$ROOT/data/eng_fra.tsv" >"$data"
        ;;
    esac
    for t in $THREADS; do
        echo "$name, $t thread(s), $([ "$model" = translator ] && echo "$TRANSLATE_EPOCHS" || echo "$EPOCHS") epoch(s), $(basename "$data"):" >&2
        r_csv=$WORK/$name-t$t-rnntrain.csv
        p_csv=$WORK/$name-t$t-pytorch.csv
        if [ "$model" = translator ]; then
            echo "  (at most ${TRANSLATE_BUDGET}s of training per side; 0 = no budget)" >&2
            tr_flags=(--cell gru --bidirectional --layers 1 --hidden 256 --embed 128 --min-count 4
                      --max-length 20 --batch-size 64 --lr 0.002 --clip 1 --dropout 0
                      --valid-fraction 0.05 --epochs "$TRANSLATE_EPOCHS" --seed 1
                      --time-budget "$TRANSLATE_BUDGET")
            run rnntrain "$WORK/$name-t$t-rnntrain.log" \
                env OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$RNNTRAIN" translator --data "$data" --out "$WORK/$name-t$t.safetensors" \
                "${tr_flags[@]}" --teacher-forcing 1 --schedule cosine --optimizer adam \
                --weight-decay 0 --threads "$t" --log "$r_csv"
            run pytorch "$WORK/$name-t$t-pytorch.log" \
                env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
                OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$PYTHON" "$ROOT/bench/train_pytorch_translator.py" --data "$data" \
                "${tr_flags[@]}" --threads "$t" --log "$p_csv"
        elif [ "$model" = tang ]; then
            # the shipped Tang generator's shape and flags (models/train.sh TANG_FLAGS),
            # dropout 0: LSTM-256, embedding 128, 6k characters, poems to 1,200
            # characters in length buckets
            tang_flags=(--cell lstm --layers 1 --hidden 256 --embed 128 --batch-size 32 --lr 0.003
                        --epochs "$EPOCHS" --clip 1 --seed 1 --length-buckets 50 --min-count 2
                        --valid-fraction 0.05 --normalize none)
            run rnntrain "$WORK/$name-t$t-rnntrain.log" \
                env OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$RNNTRAIN" generator --data "$data" --out "$WORK/$name-t$t.safetensors" \
                "${tang_flags[@]}" --max-chars 1200 --dropout 0 --input-dropout 0 --schedule cosine \
                --threads "$t" --log "$r_csv"
            run pytorch "$WORK/$name-t$t-pytorch.log" \
                env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
                OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$PYTHON" "$ROOT/bench/train_pytorch.py" generator --data "$data" \
                "${tang_flags[@]}" --schedule cosine --threads "$t" --log "$p_csv"
        elif [ "$model" = textlm ]; then
            text_flags=(--cell lstm --layers 2 --hidden 512 --embed 64 --dropout 0 --epochs "$EPOCHS"
                        --batch-size 32 --seq-len 128 --lr 0.002 --clip 5 --valid-tail 0.1 --seed 1)
            run rnntrain "$WORK/$name-t$t-rnntrain.log" \
                env OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$RNNTRAIN" textlm --data "$data" --out "$WORK/$name-t$t.safetensors" \
                "${text_flags[@]}" --threads "$t" --log "$r_csv"
            run pytorch "$WORK/$name-t$t-pytorch.log" \
                env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
                OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$PYTHON" "$ROOT/bench/train_pytorch_textlm.py" --data "$data" \
                "${text_flags[@]}" --threads "$t" --log "$p_csv"
        else
            run rnntrain "$WORK/$name-t$t-rnntrain.log" \
                env OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$RNNTRAIN" "$model" --data "$data" --out "$WORK/$name-t$t.safetensors" \
                "${common_rnntrain[@]}" "${extra[@]}" --threads "$t" --log "$r_csv"
            run pytorch "$WORK/$name-t$t-pytorch.log" \
                env MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \
                OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                "$PYTHON" "$ROOT/bench/train_pytorch.py" "$model" --data "$data" \
                "${common_pytorch[@]}" "${extra[@]}" --threads "$t" --log "$p_csv"
        fi
        if [ "$model" = translator ] && ! mean_rate "$r_csv" >/dev/null 2>&1; then
            # the budget stopped rnntrain inside its first epoch: no CSV line
            r=$(progress_rate "$WORK/$name-t$t-rnntrain.log") ||
                die "$name, $t thread(s): rnntrain finished no epoch within TRANSLATE_BUDGET=${TRANSLATE_BUDGET}s and printed no progress line (it prints one every 30 s); raise TRANSLATE_BUDGET or lower TRANSLATE_PAIRS"
            NOTES+=("$name, $t thread(s): rnntrain's epoch was cut by the ${TRANSLATE_BUDGET}s budget; its figure is its last progress line's")
        else
            r=$(mean_rate "$r_csv") || die "no chars_per_s in $r_csv"
        fi
        p=$(mean_rate "$p_csv") || die "no chars_per_s in $p_csv"
        if [ "$model" = translator ] && grep -q 'stopped by --time-budget' "$WORK/$name-t$t-pytorch.log"; then
            NOTES+=("$name, $t thread(s): PyTorch's last epoch was cut by the ${TRANSLATE_BUDGET}s budget: $(grep -o 'after [0-9]* of [0-9]* steps' "$WORK/$name-t$t-pytorch.log" | tail -1)")
        fi
        ratio=$(awk -v r="$r" -v p="$p" 'BEGIN { printf "%.2f", (p > 0 ? r / p : 0) }')
        ROWS+=("$(printf '%-20s %7s %17s %16s %6s' "$name" "$t" "$r" "$p" "$ratio")")
        DETAILS+=("$(printf '%-20s %7s  rnntrain [%s]  pytorch [%s]' "$name" "$t" \
            "$(epoch_rates "$r_csv")" "$(epoch_rates "$p_csv")")")
        DETAILS+=("$(printf '%-20s %7s  %s' '' '' "$(grep -m1 '^rnntrain' "$WORK/$name-t$t-rnntrain.log")")")
        DETAILS+=("$(printf '%-20s %7s  %s' '' '' "$(grep -m1 '^train_pytorch' "$WORK/$name-t$t-pytorch.log")")")
        r_valid=$(tail -n +2 "$r_csv" | tail -1 | cut -d, -f4)
        DETAILS+=("$(printf '%-20s %7s  valid: rnntrain %s  pytorch %s' '' '' \
            "${r_valid:-(no complete epoch)}" "$(tail -1 "$p_csv" | cut -d, -f4)")")
    done
done

# --- report --------------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes)"
fi
openblas=$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo unknown)

case " $MODELS " in
*" translator "*) echo "# rnntrain vs PyTorch: training throughput (characters/s; translator: target tokens/s), mean over a run's epochs ($EPOCHS; translator $TRANSLATE_EPOCHS), validation excluded" ;;
*) echo "# rnntrain vs PyTorch: training throughput (characters/s, mean over $EPOCHS epoch(s), validation excluded)" ;;
esac
echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "commit:    $commit"
echo "cpu:       $cpu"
echo "nproc:     $(nproc)"
echo "load avg:  $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1/5/15 min)"
echo "torch:     $TORCH_VERSION ($PYTHON)"
echo "openblas:  $openblas"
echo "settings:  epochs $EPOCHS, batch 64, Adam lr 0.003 cosine, clip 1.0, dropout 0, valid 10%, seed 1"
echo "           (textlm: 32 streams x 128, lr 0.002 cosine, clip 5, dropout 0, the first $TEXT_CHARS characters, tail 10%)"
case " $MODELS " in *" translator "*)
    echo "           (translator: biGRU-256, embed 128, min-count 4, max-length 20, batch 64, lr 0.002 cosine, clip 1,"
    echo "            dropout 0, the first $TRANSLATE_PAIRS pairs of eng_fra.tsv, 5% valid, $TRANSLATE_EPOCHS epoch(s), budget ${TRANSLATE_BUDGET}s a run;"
    echo "            its figures are target tokens/s, <eos> included, padding not)" ;;
esac
if [ -n "$LIMIT" ]; then
    echo "LIMIT:     $LIMIT lines per data file — a check of the script, not a measurement"
fi
echo
printf '%-20s %7s %17s %16s %6s\n' model threads rnntrain_chars_s pytorch_chars_s ratio
for row in "${ROWS[@]}"; do echo "$row"; done
if [ "${#NOTES[@]}" -gt 0 ]; then
    for row in "${NOTES[@]}"; do echo "note: $row"; done
fi
echo
echo "ratio = rnntrain / pytorch.  Per-epoch chars/s (tokens/s) and each side's data summary:"
for row in "${DETAILS[@]}"; do echo "$row"; done
