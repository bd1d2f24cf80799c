#!/usr/bin/python3
"""
train_pytorch_translator.py — the PyTorch side of bench/train_vs_pytorch.sh
for a translator: the loop of `rnntrain translator` (src/train/translator_cmd.c,
src/nn/seq2seq.c) in PyTorch, with the same per-epoch CSV columns as
`rnntrain --log` (epoch,steps,train_loss,valid_loss,valid_accuracy,lr,
chars_per_s,elapsed_s; valid_accuracy is 0, chars_per_s counts target tokens).

    head -n 30000 data/eng_fra.tsv > /tmp/ef30k.tsv
    MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \\
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
    /usr/bin/python3 bench/train_pytorch_translator.py --data /tmp/ef30k.tsv \\
        --cell gru --bidirectional --hidden 256 --embed 128 --min-count 4 \\
        --max-length 20 --batch-size 64 --lr 2e-3 --dropout 0 --epochs 1 \\
        --threads 1 --time-budget 150 --log t.csv

What it does, as rnntrain translator does it:

  * the pairs file: one `source<TAB>target` a line (a third column is
    ignored, empty lines skipped); each side lower-cased and cut into words
    with punctuation split off (bench/translator_torch.py mirrors
    src/util/sentence.c and src/util/words.c), the target with French
    elision (j' qu' l' ... cut off their word);
  * pairs with more than --max-length tokens on either side skipped;
  * --valid-fraction (5%) held out grouped by source sentence, by the same
    procedure and random generator (PCG32) as rs_pairs_split_grouped, so
    both programs hold out the same pairs;
  * each side's vocabulary <pad> <bos> <eos> <unk>, then the words of the
    training pairs seen at least --min-count times, most frequent first
    (ties in byte order);
  * the source reads x1 .. xn <eos>; the decoder reads <bos> y1 .. ym and
    predicts y1 .. ym <eos>, padding ignored; loss = mean cross-entropy over
    the batch's target tokens;
  * each epoch: shuffle, sort runs of 64 batches by length, take the
    batches in a random order (Python's random with --seed: a different
    sequence from rnntrain's, the same procedure);
  * the Translator of ../shared/DESIGN.md (bench/translator_torch.py): the
    encoder reads a packed sequence, the decoder steps with attention over
    the real source tokens, teacher forcing 1.0; dropout on both embeddings'
    outputs and before the head; Adam (0.9/0.999, eps 1e-8) at the cosine
    schedule's rate for each step, clip_grad_norm_ (--clip, 1.0);
  * validation: all validation pairs in length order, batches of
    --batch-size, teacher-forced, without dropout; not timed.

chars_per_s = the epoch's target tokens (<eos> included, padding not: what
rs_s2s_target_count counts) over the wall time of its training loop (batch
assembly, forward, loss, backward, clipping, optimiser), as rnntrain counts
them; the shuffle and sort before the epoch and the validation are not
timed.  --time-budget S stops after the step that passes S seconds of
training (counted, like rnntrain's, from the start of the first epoch); the
partial epoch then gets its CSV line with the rate of the steps it ran (a
validation pass too, untimed).  rnntrain writes no line for a partial epoch.
"""
import argparse
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from translator_torch import BOS, EOS, PAD, SPECIALS, UNK, Translator, sentence_tokens  # noqa: E402

BUCKET_RUN = 64
M64 = (1 << 64) - 1


class Pcg32:
    """rs_rng (src/util/rng.c): PCG32 XSH RR, seeded as rnntrain seeds it."""

    def __init__(self, seed):
        self.state = 0
        self.inc = ((seed << 1) | 1) & M64
        self.u32()
        self.state = (self.state + (0x853c49e6748fea9b ^ seed)) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        x = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((x >> rot) | (x << ((-rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        threshold = ((1 << 32) - n) % n
        while True:
            r = self.u32()
            if r >= threshold:
                return r % n

    def shuffle(self, v):
        for i in range(len(v) - 1, 0, -1):
            j = self.below(i + 1)
            v[i], v[j] = v[j], v[i]


def read_pairs(path):
    """[(source tokens, target tokens)] as rs_pairs_load reads them."""
    pairs = []
    with open(path, "rb") as f:
        for no, raw in enumerate(f, 1):
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            if b"\t" not in line:
                sys.exit("%s:%d: no tab between the source and the target sentence" % (path, no))
            src, rest = line.split(b"\t", 1)
            tgt = rest.split(b"\t", 1)[0]
            try:
                s = sentence_tokens(src.decode("utf-8"), False)
                t = sentence_tokens(tgt.decode("utf-8"), True)
            except UnicodeDecodeError:
                sys.exit("%s:%d: invalid UTF-8" % (path, no))
            if not s or not t:
                sys.exit("%s:%d: the %s sentence is empty" % (path, no, "source" if not s else "target"))
            pairs.append((s, t))
    if not pairs:
        sys.exit("%s: no sentence pairs" % path)
    return pairs


def split_grouped(src_ids, keep, fraction, seed):
    """rs_pairs_split_grouped: (train, valid) pair indices, every pair of a
    source sentence on the same side."""
    keyed = []
    for i in keep:
        h = 1469598103934665603
        for tok in src_ids[i]:
            h = ((h ^ tok) * 1099511628211) & M64
        keyed.append((h, i))
    keyed.sort()
    starts = [g for g in range(len(keyed)) if g == 0 or keyed[g][0] != keyed[g - 1][0]]
    starts.append(len(keyed))
    groups = len(starts) - 1
    order = list(range(groups))
    Pcg32(seed).shuffle(order)
    want = math.ceil(fraction * len(keep))
    in_valid = [False] * groups
    got = 0
    for g in order:
        if got >= want:
            break
        in_valid[g] = True
        got += starts[g + 1] - starts[g]
    train, valid = [], []
    for g in range(groups):
        for k in range(starts[g], starts[g + 1]):
            (valid if in_valid[g] else train).append(keyed[k][1])
    return train, valid


def build_vocab(pairs, side, train, min_count):
    count = {}
    for i in train:
        for w in pairs[i][side]:
            count[w] = count.get(w, 0) + 1
    words = sorted((w for w, c in count.items() if c >= min_count),
                   key=lambda w: (-count[w], w.encode("utf-8")))
    return SPECIALS + words


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="sentence pairs: source<TAB>target")
    ap.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="gru")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=20)
    ap.add_argument("--valid-fraction", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--time-budget", type=float, default=0.0,
                    help="stop after this many seconds of training (0 = none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", help="per-epoch CSV, rnntrain --log's columns")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    pairs = read_pairs(a.data)
    # source token ids in order of first appearance (rs_pairs' token table):
    # the split hashes them
    table = {}
    src_ids = [[table.setdefault(w, len(table)) for w in s] for s, _ in pairs]
    keep = [i for i, (s, t) in enumerate(pairs) if len(s) <= a.max_length and len(t) <= a.max_length]
    skipped = len(pairs) - len(keep)
    if len(keep) < 2:
        sys.exit("%s: %d pairs left after --max-length %d" % (a.data, len(keep), a.max_length))
    train, valid = split_grouped(src_ids, keep, a.valid_fraction, a.seed ^ 0x5eed)
    if not train or not valid:
        sys.exit("%s: too few distinct source sentences to hold out a validation set" % a.data)
    src_vocab = build_vocab(pairs, 0, train, a.min_count)
    tgt_vocab = build_vocab(pairs, 1, train, a.min_count)
    s_id = {w: i for i, w in enumerate(src_vocab) if i > UNK}
    t_id = {w: i for i, w in enumerate(tgt_vocab) if i > UNK}
    enc_src = {i: [s_id.get(w, UNK) for w in pairs[i][0]] + [EOS] for i in keep}
    enc_tgt = {i: [t_id.get(w, UNK) for w in pairs[i][1]] for i in keep}

    def pair_len(i):
        return (len(enc_src[i]) * 256 + len(enc_tgt[i]), i)  # translator_cmd.c's pair_len, then index

    valid.sort(key=pair_len)
    model = Translator(a.cell, a.layers, a.bidirectional, len(src_vocab), len(tgt_vocab),
                       a.embed, a.hidden, a.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print("train_pytorch_translator: %d pairs (%d over --max-length %d skipped), %d train, %d valid; "
          "vocab %d source, %d target; %s%s %dx%d, %d parameters"
          % (len(pairs), skipped, a.max_length, len(train), len(valid), len(src_vocab),
             len(tgt_vocab), "bidirectional " if a.bidirectional else "", a.cell, a.layers,
             a.hidden, n_params), flush=True)

    def batch(idx):
        S = max(len(enc_src[i]) for i in idx)
        T = max(len(enc_tgt[i]) for i in idx) + 1
        src = torch.full((len(idx), S), PAD, dtype=torch.long)
        tgt_in = torch.full((len(idx), T), PAD, dtype=torch.long)
        tgt_out = torch.full((len(idx), T), -1, dtype=torch.long)
        lens = []
        for b, i in enumerate(idx):
            x, y = enc_src[i], enc_tgt[i]
            src[b, :len(x)] = torch.tensor(x)
            tgt_in[b, 0] = BOS
            tgt_in[b, 1:len(y) + 1] = torch.tensor(y)
            tgt_out[b, :len(y) + 1] = torch.tensor(y + [EOS])
            lens.append(len(x))
        return src, torch.tensor(lens, dtype=torch.long), tgt_in, tgt_out

    def loss_of(src, lens, tgt_in, tgt_out):
        logits = model(src, lens, tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                               ignore_index=-1)

    def validate():
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for at in range(0, len(valid), a.batch_size):
                src, lens, tgt_in, tgt_out = batch(valid[at:at + a.batch_size])
                c = int((tgt_out >= 0).sum())
                total += float(loss_of(src, lens, tgt_in, tgt_out)) * c
                count += c
        model.train()
        return total / count if count else 0.0

    B = a.batch_size
    n_batches = (len(train) + B - 1) // B
    total_steps = n_batches * a.epochs
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)

    def lr_at(step):
        return a.lr * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))

    log = open(a.log, "w") if a.log else None
    if log:
        log.write("epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n")
    rng = random.Random(a.seed)
    order = list(train)
    step = 0
    t_start = time.perf_counter()
    stopped = False
    model.train()
    for epoch in range(1, a.epochs + 1):
        rng.shuffle(order)
        span = B * BUCKET_RUN
        for at in range(0, len(order), span):
            order[at:at + span] = sorted(order[at:at + span], key=pair_len)
        batch_order = list(range(n_batches))
        rng.shuffle(batch_order)
        total, count, done = 0.0, 0, 0
        t0 = time.perf_counter()
        for bi in batch_order:
            src, lens, tgt_in, tgt_out = batch(order[bi * B:(bi + 1) * B])
            c = int((tgt_out >= 0).sum())
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad()
            loss = loss_of(src, lens, tgt_in, tgt_out)
            loss.backward()
            if a.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            done += 1
            total += float(loss) * c
            count += c
            if a.time_budget > 0 and time.perf_counter() - t_start >= a.time_budget:
                stopped = True
                break
        secs = time.perf_counter() - t0
        vloss = validate()
        print("epoch %d/%d  train %.4f  valid %.4f  %.0f tokens/s  %.1fs%s" %
              (epoch, a.epochs, total / count, vloss, count / secs, secs,
               "  (stopped by --time-budget after %d of %d steps)" % (done, n_batches)
               if stopped else ""), flush=True)
        if log:
            log.write("%d,%d,%.6f,%.6f,0,%.6g,%.0f,%.2f\n" % (epoch, step, total / count, vloss,
                                                            lr_at(step), count / secs,
                                                            time.perf_counter() - t_start))
            log.flush()
        if stopped:
            break


if __name__ == "__main__":
    main()
