#!/usr/bin/env bash
# Reproduces the shipped models from data/: a held-out split of each data
# set (grouped by name, so the test names are never seen in training), the
# training runs, and the evaluations quoted in models/README.md.
#
#   models/train.sh [classifier|generator|us-generator|shakespeare|words|tang|eng-fra ...]   (default: all)
#
# Held-out files and evaluation JSON go to build/models/.  Training uses
# one BLAS thread per model so that runs are reproducible byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/src/train/rnntrain
[ -x "$B" ] || { meson setup build --buildtype=release >/dev/null; meson compile -C build; }
out=build/models
mkdir -p "$out"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

split_names() {
  [ -s "$out/names-train.tsv" ] && return
  $B split --data data/names_by_nationality.tsv --seed 42 --test-fraction 0.1 --dedupe \
    --train-out "$out/names-train.tsv" --test-out "$out/names-test.tsv"
}
split_us() {
  [ -s "$out/us-train.txt" ] && return
  $B split --data data/us_baby_names.txt --seed 42 --test-fraction 0.1 --dedupe \
    --train-out "$out/us-train.txt" --test-out "$out/us-test.txt"
}

# The classifier distils from two teachers: a conditional generator of the
# same names, which classifies by Bayes' rule (p(label | name) ∝
# p(label)·p(name | label)), and a plain biGRU classifier.  Both train with the
# classifier's seed and validation fraction, so that they hold out the names
# the classifier validates on.  Its transfer set: names sampled from the
# generator, three per training name of each nationality, which only the
# teachers label.  Teachers and transfer set that exist are kept.
sample_transfer() { # GENERATOR: name<TAB>nationality lines on stdout
  local k=0 n label left
  cut -f2 "$out/names-train.tsv" | sort | uniq -c | while read -r n label; do
    k=$((k + 1)) left=$((3 * n))
    while [ $left -gt 0 ]; do # rnntrain sample gives at most 10,000 at a time
      $B sample --model "$1" --category "$label" -n $((left > 9000 ? 9000 : left)) \
        --temperature 1 --seed $((1000 * k + left)) | sed -n "/./s/\$/\t$label/p"
      left=$((left - 9000))
    done
  done
}
train_classifier() {
  split_names
  local teacher="$out/names-classifier-teacher.safetensors" plain="$out/names-classifier-plain.safetensors"
  local transfer="$out/names-transfer.tsv"
  [ -s "$teacher" ] || $B generator --conditional --data "$out/names-train.tsv" --out "$teacher" \
    $CLASSIFIER_TEACHER_FLAGS --threads 1 --seed 1 --log "$out/names-classifier-teacher.csv"
  [ -s "$plain" ] || $B classifier --data "$out/names-train.tsv" --out "$plain" \
    $CLASSIFIER_PLAIN_FLAGS --threads 1 --seed 1 --log "$out/names-classifier-plain.csv"
  [ -s "$transfer" ] || { sample_transfer "$teacher" > "$transfer.tmp" && mv "$transfer.tmp" "$transfer"; }
  $B classifier --data "$out/names-train.tsv" --out models/names-classifier.safetensors \
    $CLASSIFIER_FLAGS --teachers "$teacher,$plain" --transfer "$transfer" --threads 1 --seed 1 \
    --log "$out/names-classifier.csv" --plot docs/curves-names-classifier.svg
  $B eval --model models/names-classifier.safetensors --data "$out/names-test.tsv" --json \
    --confusion docs/confusion-names-classifier.svg > "$out/names-classifier.eval.json"
}
train_generator() {
  split_names
  $B generator --conditional --data "$out/names-train.tsv" --out models/names-generator.safetensors \
    $GENERATOR_FLAGS --threads 1 --seed 1 --log "$out/names-generator.csv" --plot docs/curves-names-generator.svg
  $B eval --model models/names-generator.safetensors --data "$out/names-test.tsv" --json \
    > "$out/names-generator.eval.json"
}
# The us-names-generator distils from an ensemble of four larger teachers
# (2-layer LSTM-384, as many regularisation recipes; models/README.md).  They
# train with the student's seed and validation fraction, so that they hold
# out the very names the student validates on: the student's validation loss
# stays a clean guide.  Two train at a time (one thread each); teachers that
# exist are kept.
US_TEACHER_RECIPES=(
  "--weight-dropout 0.3 --locked-dropout --epochs 16"
  "--weight-dropout 0.3 --epochs 16"
  "--weight-dropout 0.4 --locked-dropout --epochs 20"
  "--weight-dropout 0.4 --epochs 20"
)
teachers_us() {
  local t="$out/us-teachers"
  mkdir -p "$t"
  teacher() {
    [ -s "$t/teacher$1.safetensors" ] && return
    $B generator --data "$out/us-train.txt" --out "$t/teacher$1.safetensors" $US_TEACHER_FLAGS \
      ${US_TEACHER_RECIPES[$(($1 - 1))]} --threads 1 --seed 1 --log "$t/teacher$1.csv" 2> "$t/teacher$1.log"
  }
  teacher 1 & teacher 2 & wait
  teacher 3 & teacher 4 & wait
  US_TEACHERS=""
  for k in 1 2 3 4; do
    [ -s "$t/teacher$k.safetensors" ] || { cat "$t/teacher$k.log" >&2; return 1; }
    US_TEACHERS+="${US_TEACHERS:+,}$t/teacher$k.safetensors"
  done
}
train_us() {
  split_us
  teachers_us
  $B generator --data "$out/us-train.txt" --out models/us-names-generator.safetensors \
    $US_FLAGS --teachers "$US_TEACHERS" --threads 1 --seed 1 --log "$out/us-names-generator.csv" --plot docs/curves-us-names-generator.svg
  $B eval --model models/us-names-generator.safetensors --data "$out/us-test.txt" --json \
    > "$out/us-names-generator.eval.json"
}

# The Shakespeare textlm: char-rnn's recipe on the first 90% of the text,
# validated on the last 10% (nanoGPT's split).  A long run (hours on two
# cores): it writes a checkpoint every 5 minutes and resumes from it, so it
# can be given in pieces (SHAKESPEARE_BUDGET=SECONDS stops each piece);
# models/shakespeare.safetensors is the best epoch so far at any time.  Two
# BLAS threads, so a re-run is close to, not byte for byte, the shipped file.
train_shakespeare() {
  local tail="$out/shakespeare-valid.txt"
  python3 -c 'import math, sys
t = open(sys.argv[1], encoding="utf-8", newline="").read()
open(sys.argv[2], "w", encoding="utf-8", newline="").write(t[len(t) - math.ceil(len(t) * 0.1):])' \
    data/tinyshakespeare.txt "$tail"
  $B textlm --data data/tinyshakespeare.txt --out models/shakespeare.safetensors $SHAKESPEARE_FLAGS \
    --threads 2 --seed 1 --log "$out/shakespeare.csv" --plot docs/curves-shakespeare.svg --checkpoint "$out/shakespeare.ckpt.safetensors" \
    --resume ${SHAKESPEARE_BUDGET:+--time-budget "$SHAKESPEARE_BUDGET"}
  $B eval --model models/shakespeare.safetensors --data "$tail" --json > "$out/shakespeare.eval.json"
}

# The word-level Shakespeare textlm: the same split, words seen 3 times or
# more, <unk> for the rest.
train_words() {
  $B textlm --data data/tinyshakespeare.txt --tokenizer word --min-count 3 \
    --out models/shakespeare-words.safetensors $WORDS_FLAGS --threads 2 --seed 1 \
    --log "$out/shakespeare-words.csv" --plot docs/curves-shakespeare-words.svg
}

# The Tang poem generator: a poem a line, up to 1,200 characters, 5% of
# the poems held out (never trained on) for the figure; the run of
# bench/tang_vs_pytorch.sh (the same split, flags and seed).
split_tang() {
  [ -s "$out/tang-train.txt" ] && return
  $B split --data data/tang_poems.txt --seed 42 --test-fraction 0.05 --dedupe \
    --train-out "$out/tang-train.txt" --test-out "$out/tang-test.txt"
}
train_tang() {
  split_tang
  $B generator --data "$out/tang-train.txt" --out models/tang-poems.safetensors $TANG_FLAGS \
    --threads 2 --seed 1 --log "$out/tang-poems.csv" --plot docs/curves-tang-poems.svg
  $B eval --model models/tang-poems.safetensors --data "$out/tang-test.txt" --json \
    > "$out/tang-poems.eval.json"
}

# The English -> French translator: 5% of the pairs held out (grouped by
# English sentence, so no test sentence is trained on), rnntrain holding out
# 5% of the rest for validation the same way.  About 8 minutes an epoch on
# two cores; resumable (ENG_FRA_BUDGET=SECONDS stops each piece).  Two BLAS
# threads, so a re-run is close to, not byte for byte, the shipped file.
split_eng_fra() {
  [ -s "$out/eng-fra-train.tsv" ] && return
  $B split --pairs --data data/eng_fra.tsv --seed 1 --test-fraction 0.05 \
    --train-out "$out/eng-fra-train.tsv" --test-out "$out/eng-fra-test.tsv"
}
train_eng_fra() {
  split_eng_fra
  $B translator --data "$out/eng-fra-train.tsv" --out models/eng-fra.safetensors $ENG_FRA_FLAGS \
    --threads 2 --seed 1 --log docs/curves-eng-fra.csv --plot docs/curves-eng-fra.svg --checkpoint "$out/eng-fra.ckpt.safetensors" \
    --valid-out "$out/eng-fra-valid.tsv" \
    --resume ${ENG_FRA_BUDGET:+--time-budget "$ENG_FRA_BUDGET"}
  # its shortlist of target words (IBM Model 1 on the training pairs; the
  # sizes chosen on a validation split of them: models/README.md)
  $B shortlist --model models/eng-fra.safetensors --data "$out/eng-fra-train.tsv" $ENG_FRA_SHORTLIST_FLAGS
  # decoding choices are scored on the validation pairs; the test pairs once
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-valid.tsv" --json \
    > "$out/eng-fra.valid.eval.json"
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-valid.tsv" --replace-unknown --json \
    > "$out/eng-fra.valid.replace.eval.json"
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-test.tsv" --json \
    > "$out/eng-fra.eval.json"
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-test.tsv" --beam-size 4 --json \
    > "$out/eng-fra.beam4.eval.json"
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-test.tsv" --full-vocabulary --json \
    > "$out/eng-fra.full.eval.json"
  $B eval --model models/eng-fra.safetensors --data "$out/eng-fra-test.tsv" --beam-size 4 --full-vocabulary \
    --json > "$out/eng-fra.full.beam4.eval.json"
}

# The hyper-parameters of the shipped models (chosen on the validation split
# that rnntrain holds out of the training file; see models/README.md).
CLASSIFIER_TEACHER_FLAGS=${CLASSIFIER_TEACHER_FLAGS:-"--cell lstm --layers 2 --hidden 256 --embed 64 --category-dim 16 --dropout 0.3 --input-dropout 0.1 --lr 3e-3 --epochs 16 --average 3 --valid-fraction 0.1"}
CLASSIFIER_PLAIN_FLAGS=${CLASSIFIER_PLAIN_FLAGS:-"--cell gru --bidirectional --hidden 128 --embed 64 --dropout 0.3 --weight-decay 1e-4 --lr 3e-3 --epochs 10 --average 3"}
CLASSIFIER_FLAGS=${CLASSIFIER_FLAGS:-"--cell gru --bidirectional --hidden 128 --embed 64 --dropout 0.3 --weight-decay 1e-4 --lr 3e-3 --epochs 10 --average 3 --class-weight-power 0.3 --distill 0.8"}
GENERATOR_FLAGS=${GENERATOR_FLAGS:-"--cell lstm --layers 2 --hidden 256 --embed 64 --category-dim 16 --dropout 0.3 --input-dropout 0.1 --lr 3e-3 --epochs 16 --average 3 --valid-fraction 0.02"}
US_TEACHER_FLAGS=${US_TEACHER_FLAGS:-"--cell lstm --layers 2 --hidden 384 --embed 64 --dropout 0.4 --input-dropout 0.15 --lr 3e-3 --average 3 --valid-fraction 0.02"}
WORDS_FLAGS=${WORDS_FLAGS:-"--cell lstm --layers 2 --hidden 256 --embed 128 --dropout 0.3 --batch-size 32 --seq-len 64 --lr 2e-3 --epochs 12"}
TANG_FLAGS=${TANG_FLAGS:-"--cell lstm --layers 1 --hidden 256 --embed 128 --batch-size 32 --lr 3e-3 --epochs 5 --clip 1 --length-buckets 50 --max-chars 1200 --min-count 2 --valid-fraction 0.05 --normalize none --dropout 0.1"}
SHAKESPEARE_FLAGS=${SHAKESPEARE_FLAGS:-"--cell lstm --layers 2 --hidden 512 --embed 64 --dropout 0.25 --batch-size 32 --seq-len 128 --lr 2e-3 --epochs 30 --checkpoint-every 300"}
ENG_FRA_FLAGS=${ENG_FRA_FLAGS:-"--cell gru --bidirectional --hidden 256 --embed 128 --min-count 2 --max-length 20 --dropout 0.2 --batch-size 64 --lr 2e-3 --epochs 11 --average 3"}
ENG_FRA_SHORTLIST_FLAGS=${ENG_FRA_SHORTLIST_FLAGS:-"--common 1000 --per-word 50 --min-prob 0.001"}
US_FLAGS=${US_FLAGS:-"--cell lstm --layers 2 --hidden 256 --embed 64 --dropout 0.15 --input-dropout 0.05 --weight-dropout 0.15 --locked-dropout --lr 3e-3 --epochs 20 --average 3 --valid-fraction 0.02 --distill 0.8"}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(classifier generator us-generator shakespeare words tang eng-fra)
for t in "${targets[@]}"; do
  case "$t" in
    classifier) time train_classifier ;;
    generator) time train_generator ;;
    us-generator) time train_us ;;
    shakespeare) time train_shakespeare ;;
    tang) time train_tang ;;
    words) time train_words ;;
    eng-fra) time train_eng_fra ;;
    *) echo "unknown model $t (classifier, generator, us-generator, shakespeare, words, tang, eng-fra)" >&2; exit 2 ;;
  esac
done
