#!/usr/bin/env bash
# rnntrain end to end: train → eval → sample → info on a small dataset,
# byte-identical determinism, and every bad-input case refused with a clear
# message, a non-zero exit and no model file written or replaced.
# usage: test_cli.sh RNNTRAIN DATA_DIR
set -u
RNNTRAIN=$1
DATA=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# a small real dataset: the first 60 names of five nationalities
for n in Japanese Russian Italian Czech Greek; do grep -P "\t$n\$" "$DATA/names_by_nationality.tsv" | head -60; done > "$work/names.tsv"
head -400 "$DATA/us_baby_names.txt" > "$work/us.txt"
small=(--hidden 16 --embed 8 --epochs 3 --batch-size 16 --threads 1 --seed 5)

# every subcommand: --help prints its usage and flags on stdout and exits 0; an
# unknown flag exits 2 with one line naming it
for c in classifier generator textlm translator translate eval sample info split plot shortlist calibrate; do
  out=$("$RNNTRAIN" "$c" --help 2>/dev/null); code=$?
  msg=$("$RNNTRAIN" "$c" --no-such-flag 1 2>&1 >/dev/null); code2=$?
  if [ $code -eq 0 ] && echo "$out" | head -1 | grep -q "^usage: rnntrain $c " && echo "$out" | grep -q "^  --" &&
     [ $code2 -eq 2 ] && [ "$msg" = "rnntrain $c: unknown flag \"--no-such-flag\" (see --help)" ]; then
    ok "$c --help and an unknown flag"
  else
    bad "$c --help (exit $code: $(echo "$out" | head -2)) / unknown flag (exit $code2: $msg)"
  fi
done

# --- success paths ---
if "$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/c.safetensors" --cell gru --bidirectional "${small[@]}" 2> "$work/log" && [ -s "$work/c.safetensors" ]; then
  ok "classifier trains and writes a model"
else
  bad "classifier trains and writes a model"; cat "$work/log"
fi
out=$("$RNNTRAIN" eval --model "$work/c.safetensors" --data "$work/names.tsv" --json)
if python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j['n']==300 and 0<=j['accuracy']<=1 and 0<=j['macro_f1']<=1 and j['top3_accuracy']>=j['accuracy'] and j['nll']>0 and len(j['confusion']['matrix'])==5 and sum(map(sum,j['confusion']['matrix']))==300 and set(j['per_label'])=={'Japanese','Russian','Italian','Czech','Greek'}" "$out"; then
  ok "eval --json of a classifier has every figure"
else
  bad "eval --json of a classifier has every figure: $out"
fi
# per_text: one text under all five labels (right whatever the prediction),
# one with a single label on two rows
first=$(head -1 "$work/names.tsv" | cut -f1)
second=$(sed -n 100p "$work/names.tsv")
{ for n in Japanese Russian Italian Czech Greek; do printf '%s\t%s\n' "$first" "$n"; done; echo "$second"; echo "$second"; } > "$work/ambiguous.tsv"
out=$("$RNNTRAIN" eval --model "$work/c.safetensors" --data "$work/ambiguous.tsv" --json)
if python3 -c "
import json,sys
j=json.loads(sys.argv[1]); t=j['per_text']; u=t['unambiguous']['accuracy']
assert j['n']==7 and t['n']==2 and t['unambiguous']['n']==1 and u in (0,1)
assert abs(t['accuracy_any_label']-(1+u)/2)<1e-12 and abs(j['accuracy']-(1+2*u)/7)<1e-12
" "$out"; then
  ok "eval --json groups rows by text: any-label and unambiguous figures"
else
  bad "eval per_text: $out"
fi
if "$RNNTRAIN" generator --conditional --data "$work/names.tsv" --out "$work/g.safetensors" --cell lstm "${small[@]}" 2> "$work/log"; then
  ok "conditional generator trains"
else
  bad "conditional generator trains"; cat "$work/log"
fi
out=$("$RNNTRAIN" eval --model "$work/g.safetensors" --data "$work/names.tsv" --json)
if python3 -c "import json,sys,math; j=json.loads(sys.argv[1]); assert j['n']==300 and abs(j['perplexity']-math.exp(j['nll_per_token']))<1e-6*j['perplexity'] and j['tokens']>300" "$out"; then
  ok "eval --json of a generator gives nll_per_token and perplexity"
else
  bad "eval --json of a generator: $out"
fi
out=$("$RNNTRAIN" sample --model "$work/g.safetensors" --category Japanese --prefix Ka -n 4 --seed 9 --json)
if python3 -c "import json,sys; j=json.loads(sys.argv[1]); s=j['samples']; assert len(s)==4 and all(x['text'].startswith('Ka') and x['log_prob']<0 and x['category']=='Japanese' for x in s)" "$out"; then
  ok "sample honours prefix, category and count"
else
  bad "sample: $out"
fi
a=$("$RNNTRAIN" sample --model "$work/g.safetensors" --model "$work/g.safetensors" -n 3 2>&1)
[ $? -ne 0 ] && echo "$a" | grep -q "given twice" && ok "a flag given twice is refused" || bad "a flag given twice: $a"
s1=$("$RNNTRAIN" sample --model "$work/g.safetensors" -n 5 --seed 11 --temperature 0.9)
s2=$("$RNNTRAIN" sample --model "$work/g.safetensors" -n 5 --seed 11 --temperature 0.9)
[ "$s1" = "$s2" ] && ok "the same seed samples the same texts" || bad "seeded sampling differs"
g1=$("$RNNTRAIN" sample --model "$work/g.safetensors" --category Greek -n 3 --temperature 0 --seed 1)
g2=$("$RNNTRAIN" sample --model "$work/g.safetensors" --category Greek -n 3 --temperature 0 --seed 2)
[ "$g1" = "$g2" ] && [ "$(echo "$g1" | sort -u | wc -l)" -eq 1 ] && ok "temperature 0 is greedy and ignores the seed" || bad "greedy: $g1 / $g2"
if "$RNNTRAIN" info --model "$work/c.safetensors" | grep -q "checks *ok"; then ok "info validates the file"; else bad "info"; fi
out=$("$RNNTRAIN" info --model "$work/c.safetensors" --json)
python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j['task']=='classifier' and j['bidirectional'] is True and j['training']['dataset']=='names.tsv' and len(j['training']['dataset_sha256'])==64" "$out" && ok "info --json carries the training metadata" || bad "info --json: $out"
if "$RNNTRAIN" generator --data "$work/us.txt" --out "$work/us.safetensors" --cell rnn "${small[@]}" 2> "$work/log" && "$RNNTRAIN" eval --model "$work/us.safetensors" --data "$work/us.txt" > /dev/null; then
  ok "unconditioned generator on a .txt trains and evaluates"
else
  bad "unconditioned generator"; cat "$work/log"
fi
printf 'Abe\tJapanese\nAbe\tJapanese\n' >> "$work/names.tsv" # a repeated row
"$RNNTRAIN" split --data "$work/names.tsv" --train-out "$work/a.tsv" --test-out "$work/b.tsv" --test-fraction 0.2 --seed 3 2> /dev/null
if [ -z "$(comm -12 <(cut -f1 "$work/a.tsv" | sort -u) <(cut -f1 "$work/b.tsv" | sort -u))" ] && [ "$(cat "$work/a.tsv" "$work/b.tsv" | wc -l)" -eq "$(wc -l < "$work/names.tsv")" ] && [ "$(grep -c Greek "$work/b.tsv")" -ge 10 ]; then
  ok "split keeps every text on one side, every row, and stratifies labels"
else
  bad "split"
fi
"$RNNTRAIN" split --data "$work/names.tsv" --train-out "$work/a.tsv" --test-out "$work/b.tsv" --test-fraction 0.2 --seed 3 --dedupe 2> /dev/null
[ "$(cat "$work/a.tsv" "$work/b.tsv" | wc -l)" -eq "$(sort -u "$work/names.tsv" | wc -l)" ] && ok "split --dedupe writes each row once" || bad "split --dedupe"
sed -i '$d' "$work/names.tsv"; sed -i '$d' "$work/names.tsv"

# --- determinism: same seed, one thread → identical bytes ---
export SOURCE_DATE_EPOCH=1700000000
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/d1.safetensors" --cell lstm --dropout 0.2 --weight-dropout 0.2 --locked-dropout "${small[@]}" 2> /dev/null
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/d2.safetensors" --cell lstm --dropout 0.2 --weight-dropout 0.2 --locked-dropout "${small[@]}" 2> /dev/null
cmp -s "$work/d1.safetensors" "$work/d2.safetensors" && ok "same seed and one thread write byte-identical files" || bad "determinism"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/d3.safetensors" --cell lstm --dropout 0.2 --weight-dropout 0.2 --locked-dropout --hidden 16 --embed 8 --epochs 3 --batch-size 16 --threads 1 --seed 6 2> /dev/null
cmp -s "$work/d1.safetensors" "$work/d3.safetensors" && bad "another seed gives another model" || ok "another seed gives another model"
out=$("$RNNTRAIN" info --model "$work/d1.safetensors" --json)
python3 -c "import json,sys; h=json.loads(sys.argv[1])['training']['hyperparameters']; assert abs(h['weight_dropout']-0.2)<1e-12 and abs(h['dropout']-0.2)<1e-12 and h['locked_dropout'] is True" "$out" && ok "the training metadata records the dropouts" || bad "dropouts in the metadata: $out"

# --- distillation: teachers' mean distribution mixed into the targets ---
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/s0.safetensors" --cell gru "${small[@]}" 2> /dev/null
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/t0.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors,$work/d1.safetensors" --distill 0 2> /dev/null
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/t7.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors,$work/d1.safetensors" --distill 0.7 2> "$work/log"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/t7b.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors,$work/d1.safetensors" --distill 0.7 2> /dev/null
nll() { "$RNNTRAIN" eval --model "$1" --data "$work/names.tsv" --json | python3 -c "import json,sys; print(repr(json.load(sys.stdin)['nll']))"; }
[ "$(nll "$work/s0.safetensors")" = "$(nll "$work/t0.safetensors")" ] && ok "--distill 0 trains exactly as without teachers" || bad "--distill 0 differs from no teachers"
[ "$(nll "$work/s0.safetensors")" != "$(nll "$work/t7.safetensors")" ] && grep -q "distilling from 2 teachers" "$work/log" && ok "--distill 0.7 trains towards the teachers" || bad "--distill 0.7: $(cat "$work/log")"
cmp -s "$work/t7.safetensors" "$work/t7b.safetensors" && ok "distillation is deterministic too" || bad "distillation determinism"
out=$("$RNNTRAIN" info --model "$work/t7.safetensors" --json)
python3 -c "
import json,sys
d=json.loads(sys.argv[1])['training']['distillation']; t=d['teachers']
assert abs(d['weight']-0.7)<1e-12 and [x['file'] for x in t]==['c.safetensors','d1.safetensors']
assert [x['sha256'] for x in t]==sys.argv[2:]
" "$out" $(sha256sum "$work/c.safetensors" "$work/d1.safetensors" | cut -d' ' -f1) && ok "the metadata records the teachers and their sha256" || bad "distillation metadata: $out"
# out of fold: a teacher does not teach the texts of its DATA
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/o1.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors:$work/names.tsv" --distill 0.7 2> /dev/null
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/o2.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors:$work/us.txt" --distill 0.7 2> /dev/null
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/o3.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors" --distill 0.7 2> /dev/null
# (the same targets as no teacher, up to float rounding in how they mix)
close() { python3 -c "import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > float(sys.argv[3]))" "$@"; }
close "$(nll "$work/o1.safetensors")" "$(nll "$work/s0.safetensors")" 1e-6 && ! close "$(nll "$work/o3.safetensors")" "$(nll "$work/s0.safetensors")" 1e-4 && ok "a teacher that saw every text teaches none (hard targets)" || bad "MODEL:DATA covering every text"
[ "$(nll "$work/o2.safetensors")" = "$(nll "$work/o3.safetensors")" ] && [ "$(nll "$work/o2.safetensors")" != "$(nll "$work/s0.safetensors")" ] && ok "a teacher that saw none of the texts teaches all" || bad "MODEL:DATA covering no text"
"$RNNTRAIN" info --model "$work/o2.safetensors" --json | python3 -c "import json,sys; t=json.load(sys.stdin)['training']['distillation']['teachers']; assert t[0]['not_teaching']=='us.txt'" && ok "the metadata records the data a teacher does not teach" || bad "not_teaching in the metadata"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/b.safetensors" --cell gru "${small[@]}" --teachers "$work/g.safetensors" 2> "$work/log"
[ -s "$work/b.safetensors" ] && [ "$(nll "$work/b.safetensors")" != "$(nll "$work/s0.safetensors")" ] && ok "a conditional generator teaches a classifier (Bayes' rule over its categories)" || bad "Bayes teacher: $(cat "$work/log")"
if "$RNNTRAIN" generator --conditional --data "$work/names.tsv" --out "$work/gs.safetensors" --cell gru "${small[@]}" --teachers "$work/g.safetensors" 2> "$work/log"; then
  ok "a conditional generator distils from a conditional teacher of another cell"
else
  bad "conditional generator distillation"; cat "$work/log"
fi
# a transfer set: extra texts that only the teachers label (names sampled
# from the conditional generator, as models/train.sh makes them), never a
# validation text
for n in Japanese Russian Italian Czech Greek; do "$RNNTRAIN" sample --model "$work/g.safetensors" --category $n -n 20 --seed 3 | sed -n "/./s/\$/\t$n/p"; done > "$work/more.tsv"
cut -f1 "$work/more.tsv" > "$work/more.txt"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/x1.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors" --distill 0.7 --transfer "$work/more.txt" 2> "$work/log"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/x2.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors" --distill 0.7 --transfer "$work/more.tsv" 2> /dev/null
out=$("$RNNTRAIN" info --model "$work/x1.safetensors" --json)
python3 -c "
import json,sys
j=json.loads(sys.argv[1])['training']; t=j['distillation']['transfer']
assert t['file']=='more.txt' and t['sha256']==sys.argv[2] and t['items']==int(sys.argv[3]) > 0, t
" "$out" "$(sha256sum "$work/more.txt" | cut -d' ' -f1)" "$(($(wc -l < "$work/more.txt") - $(sed -n 's/.* \([0-9]*\) dropped as validation texts/\1/p' "$work/log")))" \
  && [ "$(nll "$work/x1.safetensors")" != "$(nll "$work/o3.safetensors")" ] \
  && ok "--transfer trains on the extra texts too, and the metadata records them" || bad "--transfer: $(cat "$work/log") $out"
[ "$(nll "$work/x1.safetensors")" = "$(nll "$work/x2.safetensors")" ] && ok "a classifier's transfer set ignores its labels (.txt and .tsv train alike)" || bad "--transfer .txt and .tsv differ"
# the training texts themselves as a transfer set: exactly the validation texts are dropped
cut -f1 "$work/names.tsv" | sort -u > "$work/self.txt"
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/x3.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors" --transfer "$work/self.txt" 2> "$work/log"
valid=$(sed -n 's/.*train, \([0-9]*\) valid).*/\1/p' "$work/log")
grep -q "transfer set $work/self.txt: $(wc -l < "$work/self.txt") texts, $valid dropped as validation texts" "$work/log" \
  && "$RNNTRAIN" info --model "$work/x3.safetensors" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['training']['distillation']['transfer']['items']==$(wc -l < "$work/self.txt")-$valid" \
  && ok "transfer texts that are validation texts are dropped ($valid of them)" || bad "transfer and validation: $(cat "$work/log")"
# transfer texts that no teacher teaches (all in its MODEL:DATA) have no label: none is used
"$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/x4.safetensors" --cell gru "${small[@]}" --teachers "$work/c.safetensors:$work/more.txt" --transfer "$work/more.txt" 2> "$work/log"
"$RNNTRAIN" info --model "$work/x4.safetensors" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['training']['distillation']['transfer']['items']==0" \
  && grep -q "+ 0 transfer texts" "$work/log" && ok "transfer texts no teacher teaches are left out" || bad "untaught transfer texts: $(cat "$work/log")"
if "$RNNTRAIN" generator --conditional --data "$work/names.tsv" --out "$work/gx.safetensors" --cell gru "${small[@]}" --teachers "$work/g.safetensors" --transfer "$work/more.tsv" 2> "$work/log"; then
  ok "a conditional generator distils with a transfer set of categorised names"
else
  bad "conditional generator with --transfer"; cat "$work/log"
fi

# --- bad input: message, non-zero exit, model untouched ---
cp "$work/c.safetensors" "$work/keep.safetensors"
expect_refusal() { # name, expected message fragment, args...
  local name=$1 frag=$2; shift 2
  local before after msg code
  before=$(sha256sum "$work/keep.safetensors")
  msg=$("$RNNTRAIN" "$@" 2>&1 >/dev/null); code=$?
  after=$(sha256sum "$work/keep.safetensors")
  if [ $code -ne 0 ] && echo "$msg" | grep -qF -- "$frag" && [ "$before" = "$after" ] && ! ls "$work"/keep.safetensors.tmp.* >/dev/null 2>&1; then
    ok "$name"
  else
    bad "$name (exit $code, message: $msg)"
  fi
}
printf 'Abe\tJapanese\nNoTabHere\nSato\tJapanese\n' > "$work/notab.tsv"
printf 'Abe\tJapanese\n\xff\xfe\tJapanese\n' > "$work/utf8.tsv"
printf 'Abe\tJapanese\n\tJapanese\n' > "$work/emptyname.tsv"
printf 'Abe\tJapanese\tx\n' > "$work/twotabs.tsv"
: > "$work/empty.tsv"
printf 'Abe\tJapanese\nAbe\tFrench\n' > "$work/unknownlabel.tsv"
# accents fold (Abé reads as Abe); a CJK character has nothing to fold to
printf 'Abé\tJapanese\nAb王\tJapanese\n' > "$work/accent.tsv"
long=$(printf 'a%.0s' $(seq 1 70))
printf 'Abe\tJapanese\n%s\tJapanese\n' "$long" > "$work/long.tsv"
train=(classifier --out "$work/keep.safetensors" "${small[@]}")
expect_refusal "missing data file" "cannot open" "${train[@]}" --data "$work/nope.tsv"
expect_refusal "line without a tab names file:line" "notab.tsv:2: expected text<TAB>label" "${train[@]}" --data "$work/notab.tsv"
expect_refusal "invalid UTF-8 names file:line" "utf8.tsv:2: invalid UTF-8" "${train[@]}" --data "$work/utf8.tsv"
expect_refusal "empty name names file:line" "emptyname.tsv:2: empty text" "${train[@]}" --data "$work/emptyname.tsv"
expect_refusal "two tabs names file:line" "twotabs.tsv:1: expected text<TAB>label, found more than one tab" "${train[@]}" --data "$work/twotabs.tsv"
expect_refusal "over-long text names file:line" "long.tsv:2: text is 70 characters long" "${train[@]}" --data "$work/long.tsv"
expect_refusal "empty dataset" "the dataset is empty" "${train[@]}" --data "$work/empty.tsv"
expect_refusal "classifier on a .txt" "needs a .tsv" "${train[@]}" --data "$work/us.txt"
expect_refusal "unknown flag" "unknown flag \"--hiden\"" classifier --data "$work/names.tsv" --out "$work/keep.safetensors" --hiden 5
expect_refusal "value out of range" "--hidden must be between 1 and 2048" classifier --data "$work/names.tsv" --out "$work/keep.safetensors" --hidden 0
expect_refusal "not a number" "--lr: \"fast\" is not a number" classifier --data "$work/names.tsv" --out "$work/keep.safetensors" --lr fast
expect_refusal "bad choice" "--cell: \"transformer\" is not one of rnn, lstm, gru" classifier --data "$work/names.tsv" --out "$work/keep.safetensors" --cell transformer
expect_refusal "missing value" "--epochs needs a value" classifier --data "$work/names.tsv" --out "$work/keep.safetensors" --epochs
expect_refusal "eval: label the model does not know" "unknownlabel.tsv:2: label \"French\" is not one the model knows" eval --model "$work/keep.safetensors" --data "$work/unknownlabel.tsv"
expect_refusal "eval: character the model cannot read" "accent.tsv:2: characters the model cannot read: \"王\"" eval --model "$work/keep.safetensors" --data "$work/accent.tsv"
expect_refusal "sample: category the model does not know" "category \"Martian\" is not one the model knows" sample --model "$work/g.safetensors" --category Martian
expect_refusal "sample from a classifier" "not a generator" sample --model "$work/keep.safetensors"
expect_refusal "sample: temperature out of range" "--temperature must be between 0 and 5" sample --model "$work/g.safetensors" --temperature 9
printf 'garbage' > "$work/garbage.safetensors"
expect_refusal "a corrupt model file" "garbage.safetensors: truncated" info --model "$work/garbage.safetensors"
# a weight that is not a finite number: every command that loads the model refuses it
set_weight() { # model, copy, tensor, element, float32 bits
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, tensor, element, bits = sys.argv[1:]
b = bytearray(open(src, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
at = 8 + n + json.loads(b[8:8 + n])[tensor]['data_offsets'][0] + 4 * int(element)
b[at:at + 4] = struct.pack('<I', int(bits, 16))
open(dst, 'wb').write(b)
PY
}
set_weight "$work/c.safetensors" "$work/nan.safetensors" rnn.weight_hh_l0 3 7fc00000
set_weight "$work/g.safetensors" "$work/inf.safetensors" head.bias 2 ff800000
expect_refusal "eval: a weight is NaN" "nan.safetensors: tensor 'rnn.weight_hh_l0' holds NaN at element 3" eval --model "$work/nan.safetensors" --data "$work/names.tsv"
expect_refusal "info: a weight is NaN" "nan.safetensors: tensor 'rnn.weight_hh_l0' holds NaN at element 3" info --model "$work/nan.safetensors"
expect_refusal "sample: a weight is -inf" "inf.safetensors: tensor 'head.bias' holds -inf at element 2" sample --model "$work/inf.safetensors"
expect_refusal "a teacher holding NaN" "nan.safetensors: tensor 'rnn.weight_hh_l0' holds NaN at element 3" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors,$work/nan.safetensors"
expect_refusal "unknown command" "unknown command" frobnicate
expect_refusal "--distill without teachers" "--distill needs --teachers" "${train[@]}" --data "$work/names.tsv" --distill 0.5
expect_refusal "a missing teacher" "nope.safetensors" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors,$work/nope.safetensors"
expect_refusal "an empty teacher in the list" "an empty file name in the list" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors,,$work/d1.safetensors"
expect_refusal "MODEL: without DATA" "is not MODEL:DATA" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors:"
expect_refusal "a missing DATA of a teacher" "nope.tsv" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors:$work/nope.tsv"
expect_refusal "a teacher of another task" "a generator cannot teach a classifier" "${train[@]}" --data "$work/names.tsv" --teachers "$work/us.safetensors"
expect_refusal "a conditional teacher for an unconditioned student" "the teacher is conditional, the student not conditional" generator --data "$work/us.txt" --out "$work/keep.safetensors" "${small[@]}" --teachers "$work/g.safetensors"
expect_refusal "a teacher without the student's characters" "the teacher's vocabulary has no" generator --data "$work/names.tsv" --out "$work/keep.safetensors" "${small[@]}" --teachers "$work/us.safetensors"
sed 's/\tGreek$/\tFrench/' "$work/names.tsv" > "$work/french.tsv"
expect_refusal "--transfer without teachers" "--transfer needs --teachers" "${train[@]}" --data "$work/names.tsv" --transfer "$work/more.txt"
expect_refusal "a missing transfer set" "nope.txt: cannot open" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors" --transfer "$work/nope.txt"
printf 'Abe\n\nSato\n' > "$work/transfer-empty-line.txt"
expect_refusal "a bad transfer line names file:line" "transfer-empty-line.txt:2: empty text" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors" --transfer "$work/transfer-empty-line.txt"
printf 'Abe\nAb王\n' > "$work/transfer-cjk.txt"
expect_refusal "a transfer text a teacher cannot read names the transfer file" "transfer-cjk.txt:2: characters the model cannot read" "${train[@]}" --data "$work/names.tsv" --teachers "$work/c.safetensors" --transfer "$work/transfer-cjk.txt"
expect_refusal "a conditional generator's transfer set needs categories" "a conditional generator's transfer set is a .tsv" generator --conditional --data "$work/names.tsv" --out "$work/keep.safetensors" "${small[@]}" --teachers "$work/g.safetensors" --transfer "$work/more.txt"
expect_refusal "a transfer category the student lacks" "french.tsv:241: category \"French\" is not in the training data" generator --conditional --data "$work/names.tsv" --out "$work/keep.safetensors" "${small[@]}" --teachers "$work/g.safetensors" --transfer "$work/french.tsv"
expect_refusal "a teacher without the student's labels" "the teacher has no label \"French\"" "${train[@]}" --data "$work/french.tsv" --teachers "$work/c.safetensors"
expect_refusal "a conditional generator without the student's labels" "the teacher has no category \"French\"" "${train[@]}" --data "$work/french.tsv" --teachers "$work/g.safetensors"
# a failed run into a missing directory leaves nothing behind
msg=$("$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/missing/dir/m.safetensors" "${small[@]}" 2>&1); code=$?
[ $code -ne 0 ] && echo "$msg" | grep -q "cannot create" && ok "unwritable output is an error" || bad "unwritable output: $msg"

# --- textlm: one running text, state carried between windows ---
head -c 60000 "$DATA/tinyshakespeare.txt" > "$work/shake.txt"
tl0=(--hidden 24 --layers 2 --embed 8 --batch-size 8 --seq-len 32 --threads 1 --dropout 0.1)
tl=("${tl0[@]}" --epochs 2 --seed 3)
if SOURCE_DATE_EPOCH=0 "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t1.safetensors" "${tl[@]}" 2> "$work/log" &&
   grep -q "valid_tail\|textlm" <("$RNNTRAIN" info --model "$work/t1.safetensors" 2>&1); then
  ok "textlm trains and writes a model of task textlm"
else
  bad "textlm trains: $(tail -3 "$work/log")"
fi
# a run stopped again and again (time budget, then SIGTERM) and resumed from
# its checkpoint gives the same bytes as a run never stopped
rm -f "$work/tck.safetensors"
SOURCE_DATE_EPOCH=0 "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t2.safetensors" "${tl[@]}" \
  --checkpoint "$work/tck.safetensors" --time-budget 0.1 2> "$work/log"
stops=1
for _ in $(seq 60); do
  [ -f "$work/t2.safetensors" ] && cmp -s "$work/t1.safetensors" "$work/t2.safetensors" && break
  SOURCE_DATE_EPOCH=0 "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t2.safetensors" "${tl[@]}" \
    --checkpoint "$work/tck.safetensors" --resume --time-budget 0.1 2>> "$work/log"
  stops=$((stops + 1))
done
# SIGTERM in the second epoch of six
long=("${tl0[@]}" --epochs 6 --seed 3)
SOURCE_DATE_EPOCH=0 "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t4.safetensors" "${long[@]}" 2>> "$work/log"
( SOURCE_DATE_EPOCH=0 exec "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t3.safetensors" "${long[@]}" \
    --checkpoint "$work/tck3.safetensors" 2> "$work/term.log" ) &
tpid=$!
for _ in $(seq 200); do grep -q "^epoch 1/6 " "$work/term.log" && break; sleep 0.02; done
kill -TERM "$tpid"; wait "$tpid"; term_code=$?
cat "$work/term.log" >> "$work/log"
SOURCE_DATE_EPOCH=0 "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t3.safetensors" "${long[@]}" \
  --checkpoint "$work/tck3.safetensors" --resume 2>> "$work/log"
if cmp -s "$work/t1.safetensors" "$work/t2.safetensors" && [ "$stops" -ge 3 ] &&
   cmp -s "$work/t4.safetensors" "$work/t3.safetensors" && [ "$term_code" -ne 0 ] &&
   grep -q "continue with --resume" "$work/log"; then
  ok "textlm: stopped $stops times by --time-budget, or by SIGTERM, and resumed: the same model bytes"
else
  bad "textlm resume: stops $stops, SIGTERM exit $term_code; $(tail -4 "$work/log")"
fi
# the classifier shares the loop: stopped by --time-budget and resumed, with
# --average's ring in the checkpoint, it writes the bytes of a run never stopped
# (0.05 s a run, up to 200 runs: at 0.03 s a busy machine needed more than 80)
cp "$DATA/names_by_nationality.tsv" "$work/cls-small.tsv"
cl=(--hidden 24 --embed 8 --epochs 3 --average 2 --batch-size 16 --threads 1 --seed 5)
SOURCE_DATE_EPOCH=0 "$RNNTRAIN" classifier --data "$work/cls-small.tsv" --out "$work/c1.safetensors" "${cl[@]}" 2> "$work/log"
rm -f "$work/cck.safetensors" "$work/c2.safetensors"
cstops=0
for _ in $(seq 200); do
  [ -f "$work/c2.safetensors" ] && grep -q "^mean of the last 2" "$work/clog" 2>/dev/null && break
  SOURCE_DATE_EPOCH=0 "$RNNTRAIN" classifier --data "$work/cls-small.tsv" --out "$work/c2.safetensors" "${cl[@]}" \
    --checkpoint "$work/cck.safetensors" --resume --time-budget 0.05 2>> "$work/clog"
  cstops=$((cstops + 1))
done
if cmp -s "$work/c1.safetensors" "$work/c2.safetensors" && [ "$cstops" -ge 3 ]; then
  ok "classifier: stopped $cstops times by --time-budget and resumed (with --average): the same model bytes"
else
  bad "classifier resume: $cstops runs; $(tail -4 "$work/clog")"
fi
expect_refusal "textlm: resume with other flags" "made with other data or flags" textlm --data "$work/shake.txt" --out "$work/keep.safetensors" "${tl0[@]}" --epochs 2 --seed 4 --checkpoint "$work/tck.safetensors" --resume
printf 'First line\nsecond \xe2\x82 line\n' > "$work/bad-utf8.txt"
expect_refusal "textlm: invalid UTF-8 names line and byte" "bad-utf8.txt:2: byte 8 of the line (19 of the file): invalid UTF-8" textlm --data "$work/bad-utf8.txt" --out "$work/keep.safetensors"
: > "$work/empty.txt"
expect_refusal "textlm: an empty corpus" "empty.txt: the file is empty" textlm --data "$work/empty.txt" --out "$work/keep.safetensors"
head -c 3000 "$DATA/tinyshakespeare.txt" > "$work/short.txt"
expect_refusal "textlm: a corpus shorter than one window per stream" "short.txt: 3000 characters is too short" textlm --data "$work/short.txt" --out "$work/keep.safetensors"
expect_refusal "textlm: a vocabulary over the limit" "distinct tokens, over --max-vocab 20" textlm --data "$work/shake.txt" --out "$work/keep.safetensors" --max-vocab 20
expect_refusal "textlm: --valid-tail out of range" "--valid-tail must be between 0.001 and 0.5" textlm --data "$work/shake.txt" --out "$work/keep.safetensors" --valid-tail 0.7
expect_refusal "textlm: --resume without --checkpoint" "--resume needs --checkpoint" textlm --data "$work/shake.txt" --out "$work/keep.safetensors" --resume
out=$("$RNNTRAIN" eval --model "$work/t1.safetensors" --data "$work/shake.txt" --json 2> "$work/log")
if python3 -c "
import json,sys,math
j=json.loads(sys.argv[1]); assert j['tokens']==59999 and 0<j['nll_per_token']<5 and abs(j['perplexity']-math.exp(j['nll_per_token']))<1e-6*j['perplexity']
" "$out"; then
  ok "eval of a textlm: nll_per_token over every character after the first"
else
  bad "eval of a textlm: $out $(cat "$work/log")"
fi

# --init-from: a trained model's weights as the start (the optimiser afresh)
expect_refusal "textlm --init-from a model of another shape" "not a textlm of this shape and vocabulary" textlm --data "$work/shake.txt" --out "$work/keep.safetensors" --hidden 20 --layers 2 --embed 8 --epochs 1 --init-from "$work/t1.safetensors"
v_before=$(python3 -c "import json,struct,sys; b=open(sys.argv[1],'rb').read(); n=struct.unpack('<Q',b[:8])[0]; print(json.loads(json.loads(b[8:8+n])['__metadata__']['training'])['validation']['nll_per_token'])" "$work/t1.safetensors")
if "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/t5.safetensors" "${tl0[@]}" --epochs 1 --seed 3 --init-from "$work/t1.safetensors" 2> "$work/log" &&
   v_after=$(grep -o "valid [0-9.]*" "$work/log" | head -1 | cut -d' ' -f2) &&
   python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); assert b < a + 0.05, (a, b)" "$v_before" "$v_after"; then
  ok "textlm --init-from starts where the model was (valid $v_before before, $v_after after one more epoch)"
else
  bad "textlm --init-from: before $v_before after ${v_after:-?}: $(tail -2 "$work/log")"
fi

# word-level textlm: words and punctuation as tokens, rare words <unk>
if "$RNNTRAIN" textlm --data "$work/shake.txt" --out "$work/words.safetensors" "${tl0[@]}" --epochs 1 --tokenizer word --min-count 2 2> "$work/log" &&
   "$RNNTRAIN" info --model "$work/words.safetensors" | grep -q "^vocabulary .* words: <pad> <bos> <eos> <unk>" &&
   out=$("$RNNTRAIN" eval --model "$work/words.safetensors" --data "$work/shake.txt" --json) &&
   python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert 5000 < j['tokens'] < 20000 and j['unknown_tokens'] > 0" "$out" &&
   text=$("$RNNTRAIN" sample --model "$work/words.safetensors" --prompt "First Citizen:" --max-tokens 30 -n 1 --seed 2) &&
   [ -n "$text" ] && ! printf '%s' "$text" | grep -q " ,"; then
  ok "textlm --tokenizer word: trains, evaluates by words ($(echo "$out" | cut -c1-60)...), samples text without a space before a comma"
else
  bad "word textlm: $(tail -2 "$work/log") $out / $text"
fi

# --- long items: --max-chars raises the bound, --length-buckets batches by length ---
long_items=$(for i in $(seq 1 40); do printf 'abcdefghij%.0s' $(seq 1 $((i % 9 + 1))); echo; done)
printf '%s\n' "$long_items" > "$work/long.txt"
expect_refusal "an item over --max-chars names its line" "long.txt:6: text is 70 characters long, at most 64" generator --data "$work/long.txt" --out "$work/keep.safetensors" "${small[@]}"
if "$RNNTRAIN" generator --data "$work/long.txt" --out "$work/long.safetensors" "${small[@]}" --max-chars 100 --length-buckets 2 2> "$work/log" &&
   out=$("$RNNTRAIN" eval --model "$work/long.safetensors" --data "$work/long.txt" --json) &&
   python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j['n']==40 and j['tokens']==sum((i%9+1)*10+1 for i in range(1,41))" "$out"; then
  ok "items of up to 90 characters train with --max-chars 100 --length-buckets 2, and eval reads them all"
else
  bad "long items: $(tail -2 "$work/log") $out"
fi

# --- faults while writing the model: the previous file survives ---
# The model is written to <out>.tmp.<pid> and renamed over <out> only when
# complete and synced (src/model/safetensors.c).  A run killed with SIGKILL
# at its second write(2) into that file (strace injects the signal; the
# first write is 4 KB of a 95 KB model), and a run on a full disk (a real
# tmpfs, in a mount namespace of its own), must leave the previous model
# byte for byte; the disk-full run must say why; the next good run removes
# the dead run's temporary file.
big=(--hidden 64 --embed 16 --epochs 1 --threads 1)
if "$RNNTRAIN" generator --data "$work/us.txt" --out "$work/prev.safetensors" "${big[@]}" --seed 1 2> "$work/log"; then
  prev_sum=$(sha256sum < "$work/prev.safetensors")
  ( kill -STOP "$BASHPID"; exec "$RNNTRAIN" generator --data "$work/us.txt" --out "$work/prev.safetensors" "${big[@]}" --seed 2 ) 2> "$work/killed.log" &
  pid=$!
  tmp="$work/prev.safetensors.tmp.$pid"
  strace -p "$pid" -P "$tmp" -e trace=write -e inject=write:signal=KILL:when=2 -o "$work/strace.log" 2> "$work/strace.err" &
  spid=$!
  for _ in $(seq 50); do grep -q "attached" "$work/strace.err" 2>/dev/null && break; sleep 0.1; done
  kill -CONT "$pid"
  wait "$pid"; code=$?
  wait "$spid"
  if [ "$code" -eq 137 ] && grep -q "killed by SIGKILL" "$work/strace.log" && [ -s "$tmp" ] &&
     [ "$(sha256sum < "$work/prev.safetensors")" = "$prev_sum" ]; then
    ok "SIGKILL in the middle of writing leaves the previous model intact ($(stat -c %s "$tmp") bytes of the new one were written)"
  else
    bad "SIGKILL while writing: exit $code, $(cat "$work/strace.err" "$work/strace.log" 2>/dev/null | tail -3)"
  fi
  if "$RNNTRAIN" generator --data "$work/us.txt" --out "$work/prev.safetensors" "${big[@]}" --seed 3 2> "$work/log" &&
     [ ! -e "$tmp" ] && "$RNNTRAIN" info --model "$work/prev.safetensors" > /dev/null; then
    ok "the next run replaces the model and removes the killed run's temporary file"
  else
    bad "after a killed run: $(ls "$work" | grep tmp) $(tail -2 "$work/log")"
  fi
  # full disk: a tmpfs with room for the previous model and a third of another
  size=$(stat -c %s "$work/prev.safetensors")
  cat > "$work/full-disk.sh" <<SH
set -u
mount -t tmpfs -o size=$((size * 4 / 3 / 4096 * 4096 + 4096)) tmpfs "$work/disk" || exit 99
cp "$work/prev.safetensors" "$work/disk/m.safetensors"
"$RNNTRAIN" generator --data "$work/us.txt" --out "$work/disk/m.safetensors" ${big[*]} --seed 4 2> "$work/full.log"
echo "exit \$?" >> "$work/full.log"
sha256sum < "$work/disk/m.safetensors" > "$work/full.sum"
ls "$work/disk" > "$work/full.ls"
SH
  mkdir -p "$work/disk"
  if unshare -rm bash "$work/full-disk.sh" 2> "$work/unshare.err"; then
    if grep -q "^exit 1$" "$work/full.log" && grep -q "No space left on device; .*m.safetensors is unchanged" "$work/full.log" &&
       [ "$(cat "$work/full.sum")" = "$(sha256sum < "$work/prev.safetensors")" ] && [ "$(cat "$work/full.ls")" = "m.safetensors" ]; then
      ok "a full disk: the previous model intact, no temporary file left, and the error says why: $(grep 'No space' "$work/full.log")"
    else
      bad "full disk: $(cat "$work/full.log") files: $(cat "$work/full.ls" 2>/dev/null)"
    fi
  else
    bad "full disk: cannot make a tmpfs in a mount namespace (unshare -rm): $(cat "$work/unshare.err")"
  fi
else
  bad "a model to keep for the fault tests"; cat "$work/log"
fi

# --- translator: sentence pairs, an encoder-decoder with attention ---
head -3000 "$DATA/eng_fra.tsv" > "$work/pairs.tsv"
tr0=(--hidden 16 --embed 8 --batch-size 16 --threads 1 --min-count 1 --max-length 8)
if SOURCE_DATE_EPOCH=0 "$RNNTRAIN" translator --data "$work/pairs.tsv" --out "$work/tr1.safetensors" "${tr0[@]}" --epochs 2 --bidirectional --seed 3 2> "$work/log" &&
   grep -q "pairs (.* over --max-length 8 skipped)" "$work/log" && [ -s "$work/tr1.safetensors" ]; then
  ok "translator trains: $(grep -o '[0-9]* pairs ([0-9]* over --max-length 8 skipped), [0-9]* train, [0-9]* valid' "$work/log")"
else
  bad "translator trains: $(tail -3 "$work/log")"
fi
# --valid-out: the validation pairs (as many as the log says, lines of the file, in its
# order), and the same model as without it
nvalid=$(grep -o '[0-9]* valid;' "$work/log" | grep -o '[0-9]*')
SOURCE_DATE_EPOCH=0 "$RNNTRAIN" translator --data "$work/pairs.tsv" --out "$work/tr3.safetensors" "${tr0[@]}" --epochs 2 --bidirectional --seed 3 \
  --valid-out "$work/valid.tsv" 2> "$work/vlog"
if [ -n "$nvalid" ] && [ "$(wc -l < "$work/valid.tsv")" -eq "$nvalid" ] && cmp -s "$work/tr1.safetensors" "$work/tr3.safetensors" &&
   [ "$(grep -Fxf "$work/valid.tsv" "$work/pairs.tsv" | wc -l)" -ge "$nvalid" ] &&
   grep -Fxf "$work/valid.tsv" "$work/pairs.tsv" | cmp -s - "$work/valid.tsv"; then
  ok "translator --valid-out: the $nvalid validation pairs, lines of the file in its order; the same model bytes"
else
  bad "translator --valid-out: $(wc -l < "$work/valid.tsv" 2>/dev/null) lines for $nvalid valid; $(tail -2 "$work/vlog")"
fi
# --valid-data: validation from another file (the split above, given back): the same
# counts, no warning; a file sharing source sentences with --data is reported; a bad
# line of it names that file and writes no model
ntrain=$(grep -o '[0-9]* train,' "$work/log" | grep -o '[0-9]*')
grep -vxFf "$work/valid.tsv" "$work/pairs.tsv" > "$work/train-only.tsv"
if "$RNNTRAIN" translator --data "$work/train-only.tsv" --valid-data "$work/valid.tsv" --out "$work/trv.safetensors" "${tr0[@]}" --epochs 1 --seed 3 2> "$work/vdlog" &&
   grep -q " $ntrain train, $nvalid valid;" "$work/vdlog" && ! grep -q warning "$work/vdlog" &&
   "$RNNTRAIN" info --model "$work/trv.safetensors" --json | /usr/bin/env python3 -c '
import json, sys
t = json.load(sys.stdin)["training"]
assert t["valid_dataset"] == "valid.tsv" and len(t["valid_dataset_sha256"]) == 64, t
assert t["pairs"] == int(sys.argv[1]) and t["valid_dataset_pairs"] == int(sys.argv[2]), t
assert t["pairs_over_max_length"] == int(sys.argv[3]) and t["valid_dataset_pairs_over_max_length"] == 0, t
' "$(wc -l < "$work/train-only.tsv")" "$(wc -l < "$work/valid.tsv")" "$(grep -o '([0-9]* over' "$work/log" | grep -o '[0-9]*')"; then
  ok "translator --valid-data: $ntrain train, $nvalid valid pairs as the split had them, no warning; the training metadata names the file and counts each file's pairs apart"
else
  bad "translator --valid-data: $(head -3 "$work/vdlog")"
fi
head -40 "$work/valid.tsv" > "$work/valid-shared.tsv"
head -40 "$work/pairs.tsv" >> "$work/valid-shared.tsv"
nshared=$(head -40 "$work/pairs.tsv" | cut -f1 | sort -u | wc -l)
if "$RNNTRAIN" translator --data "$work/train-only.tsv" --valid-data "$work/valid-shared.tsv" --out "$work/trv2.safetensors" "${tr0[@]}" --epochs 1 --seed 3 2> "$work/vdlog2" &&
   grep -q "warning: $nshared source sentences of --valid-data also in --data" "$work/vdlog2"; then
  ok "translator --valid-data sharing $nshared source sentences with --data: $(grep warning "$work/vdlog2")"
else
  bad "translator --valid-data shared sources (expected $nshared): $(head -3 "$work/vdlog2")"
fi
{ head -5 "$work/valid.tsv"; printf 'no tab here\n'; } > "$work/valid-bad.tsv"
rm -f "$work/trv3.safetensors"
if ! "$RNNTRAIN" translator --data "$work/train-only.tsv" --valid-data "$work/valid-bad.tsv" --out "$work/trv3.safetensors" "${tr0[@]}" --epochs 1 2> "$work/vdlog3" &&
   grep -q "valid-bad.tsv:6: no tab" "$work/vdlog3" && [ ! -e "$work/trv3.safetensors" ]; then
  ok "translator --valid-data with a bad line: $(cat "$work/vdlog3"), no model"
else
  bad "translator --valid-data bad line: $(cat "$work/vdlog3")"
fi
# stopped by --time-budget again and again and resumed: the bytes of an unstopped run
rm -f "$work/trck.safetensors" "$work/tr2.safetensors"
tstops=0
for _ in $(seq 60); do
  [ -f "$work/tr2.safetensors" ] && grep -q "weights of epoch 2" "$work/trlog" 2>/dev/null && break
  SOURCE_DATE_EPOCH=0 "$RNNTRAIN" translator --data "$work/pairs.tsv" --out "$work/tr2.safetensors" "${tr0[@]}" --epochs 2 --bidirectional --seed 3 \
    --checkpoint "$work/trck.safetensors" --resume --time-budget 0.05 2>> "$work/trlog"
  tstops=$((tstops + 1))
done
if cmp -s "$work/tr1.safetensors" "$work/tr2.safetensors" && [ "$tstops" -ge 3 ]; then
  ok "translator: stopped $tstops times by --time-budget and resumed: the same model bytes"
else
  bad "translator resume: $tstops runs; $(tail -3 "$work/trlog")"
fi
# translate: a line a sentence; n-best lines with log-probabilities
printf 'I am cold.\nGo.\n\n' | "$RNNTRAIN" translate --model "$work/tr1.safetensors" --beam-size 3 > "$work/tout" 2> "$work/tlog"
nb=$(printf 'I am cold.\n' | "$RNNTRAIN" translate --model "$work/tr1.safetensors" --beam-size 3 --n-best 3 2>/dev/null | grep -c $'^-[0-9.]*\t')
if [ "$(wc -l < "$work/tout")" -eq 3 ] && grep -q "line 3: no word to translate" "$work/tlog" && [ "$nb" -eq 3 ]; then
  ok "translate: a line per sentence (an empty one for an empty line, named on stderr), n-best with log-probabilities"
else
  bad "translate: $(wc -l < "$work/tout") lines / $(cat "$work/tlog") / n-best lines $nb"
fi
# translate as a script's coprocess: a line written, its answer read while stdin stays
# open (a chunked reader that waited for more lines would leave both sides waiting)
coproc TRC { "$RNNTRAIN" translate --model "$work/tr1.safetensors" 2>/dev/null; }
echo "I am cold." >&"${TRC[1]}"
if read -t 20 -r a1 <&"${TRC[0]}" && echo "Go." >&"${TRC[1]}" && read -t 20 -r a2 <&"${TRC[0]}"; then
  ok "translate answers each line while its input stays open (\"$a1\", \"$a2\")"
else
  bad "translate held a line of an open pipe unanswered for 20 s"
fi
exec {TRC[1]}>&-
wait "$TRC_PID" 2>/dev/null
# eval: nll and BLEU as JSON
if "$RNNTRAIN" eval --model "$work/tr1.safetensors" --data "$work/pairs.tsv" --json > "$work/tr.json" 2> "$work/log" &&
   /usr/bin/env python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["task"]=="translator" and j["pairs"]==3000 and 0<=j["bleu"]<=100 and j["nll_per_token"]>0' "$work/tr.json"; then
  ok "eval on a translator: $(cat "$work/tr.json")"
else
  bad "eval on a translator: $(cat "$work/tr.json") $(tail -2 "$work/log")"
fi
# info on a translator: the daemon's checks, both vocabularies, the metadata
if "$RNNTRAIN" info --model "$work/tr1.safetensors" > "$work/tinfo" 2>&1 &&
   grep -q "^task *translator$" "$work/tinfo" && grep -q "^network *bidirectional gru encoder, gru decoder with attention" "$work/tinfo" &&
   grep -q "^source *[0-9]* words: <pad> <bos> <eos> <unk>" "$work/tinfo" && grep -q "^checks *ok" "$work/tinfo" &&
   "$RNNTRAIN" info --model "$work/tr1.safetensors" --json | /usr/bin/env python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["task"]=="translator" and j["name"]=="tr1" and j["bidirectional"] is True and j["src_vocab_size"]>4 and j["training"]["pairs"]==3000 and j["checks"]=="ok" and j["shortlist"] is None'; then
  ok "info on a translator: $(grep '^network' "$work/tinfo")"
else
  bad "info on a translator: $(cat "$work/tinfo")"
fi
# cut 100 bytes into the tensor data: the header (and its task) still reads
n=$(/usr/bin/env python3 -c 'import struct,sys; print(8 + struct.unpack("<Q", open(sys.argv[1], "rb").read(8))[0] + 100)' "$work/tr1.safetensors")
head -c "$n" "$work/tr1.safetensors" > "$work/trtrunc.safetensors"
msg=$("$RNNTRAIN" info --model "$work/trtrunc.safetensors" 2>&1); code=$?
if [ $code -eq 1 ] && echo "$msg" | grep -q "trtrunc.safetensors: tensor '.*' has data_offsets .* outside the data buffer of 100 bytes"; then
  ok "info on a truncated translator: $msg"
else
  bad "info on a truncated translator (exit $code): $msg"
fi
# --init-from: fine-tuning keeps the model's shape and vocabularies (new words are
# <unk>) and starts from its weights: with a learning rate of 1e-7 the result scores
# as the model does (a random start would be near ln V nats a token)
sed -n '3001,3600p' "$DATA/eng_fra.tsv" > "$work/more.tsv"
if "$RNNTRAIN" translator --data "$work/more.tsv" --out "$work/ft.safetensors" --batch-size 16 --threads 1 --max-length 8 \
     --epochs 1 --seed 3 --lr 1e-7 --init-from "$work/tr1.safetensors" 2> "$work/ftlog" &&
   "$RNNTRAIN" eval --model "$work/tr1.safetensors" --data "$work/more.tsv" --json > "$work/ev1.json" 2>/dev/null &&
   "$RNNTRAIN" eval --model "$work/ft.safetensors" --data "$work/more.tsv" --json > "$work/ev2.json" 2>/dev/null &&
   "$RNNTRAIN" info --model "$work/tr1.safetensors" --json > "$work/i1.json" && "$RNNTRAIN" info --model "$work/ft.safetensors" --json > "$work/i2.json" &&
   /usr/bin/env python3 -c '
import json, sys
e1, e2, i1, i2 = (json.load(open(f)) for f in sys.argv[1:5])
assert abs(e1["nll_per_token"] - e2["nll_per_token"]) < 1e-3, (e1, e2)
for k in ("cell", "hidden_size", "embedding_dim", "bidirectional", "src_vocab_size", "tgt_vocab_size"):
    assert i1[k] == i2[k], k
assert i2["training"]["init_from"]["model"] == "tr1.safetensors" and len(i2["training"]["init_from"]["sha256"]) == 64
assert "min_count" not in i2["training"]["hyperparameters"]
' "$work/ev1.json" "$work/ev2.json" "$work/i1.json" "$work/i2.json"; then
  ok "translator --init-from: the model's shape, vocabularies and weights (nll $(grep -o '"nll_per_token":[0-9.]*' "$work/ev2.json" | cut -c17-24) as before), named in the metadata"
else
  bad "translator --init-from: $(tail -2 "$work/ftlog") $(cat "$work/ev1.json" "$work/ev2.json" 2>/dev/null)"
fi
expect_refusal "translator --init-from with another shape" "--hidden: the --init-from model has hidden 16" translator --data "$work/more.tsv" --out "$work/keep.safetensors" --init-from "$work/tr1.safetensors" --hidden 32
expect_refusal "translator --init-from with --min-count" "--min-count: the vocabularies are the --init-from model's" translator --data "$work/more.tsv" --out "$work/keep.safetensors" --init-from "$work/tr1.safetensors" --min-count 2
expect_refusal "translator --init-from a model that is not a translator" "metadata 'task' is not translator" translator --data "$work/more.tsv" --out "$work/keep.safetensors" --init-from "$work/keep.safetensors"
if "$RNNTRAIN" eval --model "$work/tr1.safetensors" --help 2>&1 | grep -q "^  --beam-size"; then
  ok "eval --help with a translator lists its decoding flags"
else
  bad "eval --help with a translator: $("$RNNTRAIN" eval --model "$work/tr1.safetensors" --help 2>&1 | head -2)"
fi
# shortlist: IBM Model 1 on the pairs, written beside the model or over it
# (atomically); the shortlisted model translates over it by default and as
# before with --full-vocabulary
printf 'I am cold.\nYou are cold.\nGo.\n' > "$work/tsent"
if "$RNNTRAIN" shortlist --model "$work/tr1.safetensors" --data "$work/pairs.tsv" --out "$work/tr1s.safetensors" \
     --common 6 --per-word 3 2> "$work/slog" &&
   grep -q 'entries over [0-9]* source words (at most 3 each); wrote' "$work/slog" &&
   "$RNNTRAIN" translate --model "$work/tr1.safetensors" < "$work/tsent" > "$work/t_full" 2>/dev/null &&
   "$RNNTRAIN" translate --model "$work/tr1s.safetensors" --full-vocabulary < "$work/tsent" > "$work/t_full2" 2>/dev/null &&
   "$RNNTRAIN" translate --model "$work/tr1s.safetensors" < "$work/tsent" > "$work/t_sl" 2>/dev/null &&
   cmp -s "$work/t_full" "$work/t_full2" && [ "$(wc -l < "$work/t_sl")" -eq 3 ] &&
   "$RNNTRAIN" eval --model "$work/tr1s.safetensors" --data "$work/pairs.tsv" --json 2>/dev/null | grep -q '"shortlist":true' &&
   cp "$work/tr1.safetensors" "$work/tr1x.safetensors" &&
   "$RNNTRAIN" shortlist --model "$work/tr1x.safetensors" --data "$work/pairs.tsv" --common 6 --per-word 3 2>/dev/null &&
   cmp -s "$work/tr1x.safetensors" "$work/tr1s.safetensors" && ! ls "$work"/tr1x.safetensors.tmp.* >/dev/null 2>&1; then
  ok "shortlist: $(tail -1 "$work/slog" | cut -c1-120); --full-vocabulary translates as the model without it; in place, the same bytes"
else
  bad "shortlist: $(cat "$work/slog") / $(paste -d'|' "$work/t_full" "$work/t_full2" "$work/t_sl" 2>/dev/null | tr '\n' ' ')"
fi
printf 'Go.\tVa !\nno tab here\n' > "$work/notab.tsv"
expect_refusal "translator: a line without a tab names file and line" "notab.tsv:2: no tab between the source and the target sentence" translator --data "$work/notab.tsv" --out "$work/keep.safetensors"
printf 'Go.\tVa !\n\t Va !\n' > "$work/emptyside.tsv"
expect_refusal "translator: an empty side" "emptyside.tsv:2: the source sentence is empty" translator --data "$work/emptyside.tsv" --out "$work/keep.safetensors"
printf 'Go.\tVa !\nCaf\xc3\tcafe\n' > "$work/badutf.tsv"
expect_refusal "translator: invalid UTF-8" "badutf.tsv:2: invalid UTF-8" translator --data "$work/badutf.tsv" --out "$work/keep.safetensors"
expect_refusal "translator: no pair within --max-length" "0 pairs left after --max-length 1 (3000 over it)" translator --data "$work/pairs.tsv" --out "$work/keep.safetensors" --max-length 1
expect_refusal "translate: a model that is not a translator" "metadata 'task' is not translator" translate --model "$work/keep.safetensors"
expect_refusal "shortlist: a model that is not a translator" "metadata 'task' is not translator" shortlist --model "$work/keep.safetensors" --data "$work/pairs.tsv"
cp "$work/tr1.safetensors" "$work/tr1y.safetensors"
msg=$("$RNNTRAIN" shortlist --model "$work/tr1y.safetensors" --data "$work/notab.tsv" 2>&1); code=$?
if [ $code -ne 0 ] && echo "$msg" | grep -qF "notab.tsv:2: no tab" && cmp -s "$work/tr1.safetensors" "$work/tr1y.safetensors"; then
  ok "shortlist: a bad pairs line names file and line, the model untouched"
else
  bad "shortlist: a bad pairs line (exit $code, message: $msg)"
fi

# --- pictures of training: --plot (every task's loop) and eval --confusion ---
if "$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/plot.safetensors" "${small[@]}" --plot "$work/curves.svg" --log "$work/plot.csv" 2> "$work/log" &&
   "$RNNTRAIN" plot --log "$work/plot.csv" --out "$work/from-log.svg" --title "from the log" 2>> "$work/log" &&
   "$RNNTRAIN" eval --model "$work/plot.safetensors" --data "$work/names.tsv" --confusion "$work/confusion.svg" > /dev/null 2>> "$work/log" &&
   /usr/bin/env python3 - "$work/curves.svg" "$work/confusion.svg" "$work/from-log.svg" <<'PY' 2>> "$work/log"
import sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
curves = ET.parse(sys.argv[1]).getroot()                 # well-formed XML, or this raises
assert curves.tag == ns + "svg"
paths = [p for p in curves.iter(ns + "path") if p.get("class") == "curve"]
assert [p.get("data-series") for p in paths] == ["training loss", "validation loss", "learning rate"], paths
for p in paths:                                           # one point per epoch: M x y L x y ...
    assert p.get("d").count("L") == 2, p.get("d")
texts = {t.get("class"): t.text for t in curves.iter(ns + "text") if t.get("class")}
assert texts["x-label"] == "epoch" and texts["y-label"].startswith("loss"), texts
conf = ET.parse(sys.argv[2]).getroot()
cells = [r for r in conf.iter(ns + "rect") if r.get("class") == "cell"]
assert len(cells) == 25, len(cells)                       # five nationalities
rows = [t.text for t in conf.iter(ns + "text") if t.get("class") == "row-label"]
assert sorted(rows) == ["Czech", "Greek", "Italian", "Japanese", "Russian"], rows
titles = [c.find(ns + "title").text for c in cells]
assert all(" as " in t and " of " in t for t in titles), titles[:2]
replot = ET.parse(sys.argv[3]).getroot()                  # rnntrain plot: the same curves from the CSV
again = {p.get("data-series"): p.get("d") for p in replot.iter(ns + "path") if p.get("class") == "curve"}
assert again == {p.get("data-series"): p.get("d") for p in paths}, again
PY
then
  ok "--plot draws three curves of three epochs with axis labels, rnntrain plot the same from the --log CSV; --confusion a 5x5 matrix with names and counts on hover"
else
  bad "plots: $(tail -5 "$work/log")"
fi
printf 'epoch,steps\n1,2\n' > "$work/notalog.csv"
expect_refusal "rnntrain plot: a CSV without the loop's columns" "notalog.csv:1: no column train_loss" plot --log "$work/notalog.csv" --out "$work/no.svg"
# a record that kept only some epochs' losses (nan for the others): points where there are figures, one line through them
printf 'epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n1,10,2.5,2.0,0,0.003,nan,nan\n2,20,nan,nan,0,0.002,nan,nan\n3,30,1.5,1.8,0,0.001,nan,nan\n4,40,1.2,nan,0,0,nan,nan\n' > "$work/sparse.csv"
if "$RNNTRAIN" plot --log "$work/sparse.csv" --out "$work/sparse.svg" 2> "$work/log" &&
   /usr/bin/env python3 - "$work/sparse.svg" <<'PY' 2>> "$work/log"
import sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
d = {p.get("data-series"): p.get("d") for p in root.iter(ns + "path") if p.get("class") == "curve"}
points = {k: [c.find(ns + "title").text for c in root.iter(ns + "circle") if c.find(ns + "title").text.startswith(k + ",")] for k in d}
assert [v.count("M") for v in d.values()] == [1, 1, 1], d
assert d["training loss"].count("L") == 2 and d["validation loss"].count("L") == 1 and d["learning rate"].count("L") == 3, d
assert [t.split(",")[1].split(":")[0] for t in points["training loss"]] == [" epoch 1", " epoch 3", " epoch 4"], points
assert len(points["validation loss"]) == 2 and len(points["learning rate"]) == 4, points
PY
then
  ok "rnntrain plot: epochs without a figure (nan) get no point, and the line joins the epochs on either side"
else
  bad "rnntrain plot of a sparse log: $(tail -5 "$work/log")"
fi
expect_refusal "eval --confusion on a generator" "--confusion is for classifiers" eval --model "$work/us.safetensors" --data "$work/us.txt" --confusion "$work/no.svg"

# --- calibration: a classifier's temperature, fitted after training, applied by eval ---
if "$RNNTRAIN" classifier --data "$work/names.tsv" --out "$work/cal.safetensors" "${small[@]}" 2> "$work/log" &&
   grep -q "^calibrated on the validation names: temperature" "$work/log" &&
   "$RNNTRAIN" eval --model "$work/cal.safetensors" --data "$work/names.tsv" --json > "$work/cal.json" &&
   "$RNNTRAIN" calibrate --model "$work/cal.safetensors" --data "$work/names.tsv" --out "$work/cal2.safetensors" 2>> "$work/log" &&
   "$RNNTRAIN" eval --model "$work/cal2.safetensors" --data "$work/names.tsv" --json > "$work/cal2.json" &&
   /usr/bin/env python3 - "$work/cal.json" "$work/cal2.json" <<'PY' 2>> "$work/log"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["temperature"] != 1 and 0 <= a["ece"] <= 1 and 0 <= a["ece_uncalibrated"] <= 1, a
assert a["accuracy"] == b["accuracy"] and a["confusion"] == b["confusion"]  # T never changes a ranking
# refitted on these very rows, the NLL there can only go down from the uncalibrated one
assert b["nll"] <= b["nll_uncalibrated"] + 1e-12 and b["temperature"] != a["temperature"], b
PY
then
  ok "classifier calibrated after training ($(grep -o 'temperature [0-9.]*' "$work/log" | head -1)); eval reports temperature and ECE before/after; rnntrain calibrate refits without changing a prediction"
else
  bad "calibration: $(tail -4 "$work/log")"
fi
expect_refusal "calibrate: not a classifier" "a classifier, calibrated on a .tsv with labels" calibrate --model "$work/us.safetensors" --data "$work/names.tsv" --out "$work/keep.safetensors"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
