#!/usr/bin/python3
"""
train_pytorch.py — the PyTorch side of bench/train_vs_pytorch.sh.

Trains the model of ../shared/DESIGN.md (nn.Embedding -> nn.GRU/LSTM/RNN with
batch_first=True -> nn.Linear head) on the same data, with the same batching,
optimiser and schedule as `rnntrain`, and writes the same per-epoch CSV as
`rnntrain --log` (epoch,steps,train_loss,valid_loss,valid_accuracy,lr,
chars_per_s,elapsed_s), so the two can be compared column by column.

Run with Debian's python3-torch (torch 1.13):

    MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \\
    /usr/bin/python3 bench/train_pytorch.py classifier --data data/names_by_nationality.tsv \\
        --cell gru --hidden 256 --embed 64 --bidirectional --epochs 2 --threads 1 --log cls.csv

What it does, step for step as src/train/train.c and src/train/dataset.c do:

  * reads the file (.tsv: name<TAB>label; otherwise one item per line),
    normalises each name (ascii-fold: NFD, combining marks U+0300-U+036F
    dropped, as src/util/text.c), drops duplicate (text, label) pairs
    keeping the first (an unconditioned generator ignores labels, so it keeps
    each text once);
  * vocabulary: <pad>=0, <bos>=1, <eos>=2, then every character in code-point
    order; labels in byte order;
  * holds out `--valid-fraction` of the distinct texts for validation,
    grouped by text and stratified by label, round(fraction * m) per label
    (the same counts as rnntrain; which texts are held out differs, as the
    random generators differ);
  * every epoch: shuffles the training items, cuts batches of --batch-size,
    pads each batch to its longest item, runs forward, backward,
    clip_grad_norm_, Adam (betas 0.9/0.999, eps 1e-8, no weight decay) with
    the learning rate of the cosine schedule for that step (or constant);
  * classifier: pack_padded_sequence(enforce_sorted=False) and the final
    hidden state (cat of h_n[-2], h_n[-1] when bidirectional); mean
    cross-entropy per item;
  * generator: input <bos> c1..cL, targets c1..cL <eos>, the padded batch
    through the RNN unpacked (a forward RNN's valid steps do not depend on
    the padding after them), the head on every position, padded targets
    ignored (ignore_index), mean cross-entropy per predicted token;
  * after each epoch, the validation loss in batches of max(batch, 256),
    without gradients; not timed.

chars_per_s counts what rnntrain counts (fill_batch in src/train/train.c):
the steps fed per item — a classifier item's name length, a generator item's
name length + 1 (<bos> c1..cL) — summed over the training items of the
epoch, over the wall time of the epoch's training loop (batch assembly,
forward, backward, clipping, optimiser step; not the shuffle, not
validation).
"""

import argparse
import math
import os
import random
import sys
import time
import unicodedata

SPECIALS = ["<pad>", "<bos>", "<eos>"]
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
IGNORE = -100


def parse_args():
    ap = argparse.ArgumentParser(
        description="Train the DESIGN.md model in PyTorch the way rnntrain does, "
        "and log per-epoch training throughput (chars/s).")
    ap.add_argument("task", choices=["classifier", "generator"])
    ap.add_argument("--data", required=True, help="training data (.tsv or one item per line)")
    ap.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="gru")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--bidirectional", action="store_true", help="classifier only")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip, 0 = off")
    ap.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    ap.add_argument("--valid-fraction", type=float, default=0.1)
    ap.add_argument("--normalize", choices=["none", "ascii-fold"], default="ascii-fold")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads, and OMP/OpenBLAS threads")
    ap.add_argument("--log", help="write per-epoch figures as CSV (rnntrain's columns)")
    ap.add_argument("--min-count", type=int, default=1,
                    help="as rnntrain's: rarer characters read as <unk> (> 1 adds it)")
    ap.add_argument("--time-budget", type=float, default=0,
                    help="stop training after this many seconds (then validate once more), 0 = none")
    ap.add_argument("--length-buckets", type=int, default=0,
                    help="as rnntrain's: sort items by length within runs of this many batches, "
                         "batches in a random order; 0 = off")
    ap.add_argument("--out", help="write the best model by validation (--select) as an rnnserve "
                                  "safetensors file, for rnntrain eval")
    ap.add_argument("--select", choices=["loss", "accuracy"], default="loss",
                    help="the epoch --out keeps: lowest validation loss (as rnntrain), or, for a "
                         "classifier, highest validation accuracy (the later epoch on a tie)")
    a = ap.parse_args()
    if a.task == "generator" and a.bidirectional:
        ap.error("a generator cannot be bidirectional")
    if a.threads < 1:
        ap.error("--threads must be at least 1")
    return a


# ---------------------------------------------------------------------------
# Data, as src/train/dataset.c
# ---------------------------------------------------------------------------

def ascii_fold(s):
    nfd = unicodedata.normalize("NFD", s)
    return "".join(c for c in nfd if not 0x300 <= ord(c) <= 0x36F)


def load(path, tsv, keep_labels, normalize):
    """Items (text, label-string or None) in file order, duplicates dropped."""
    items, seen = [], set()
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n").rstrip("\r")
            if tsv:
                if line.count("\t") != 1:
                    sys.exit("%s:%d: expected text<TAB>label" % (path, lineno))
                text, label = line.split("\t")
            else:
                text, label = line, None
            if normalize == "ascii-fold":
                text = ascii_fold(text)
            if not text:
                sys.exit("%s:%d: empty text" % (path, lineno))
            if not keep_labels:
                label = None
            key = (text, label)
            if key not in seen:
                seen.add(key)
                items.append(key)
    if not items:
        sys.exit("%s: the dataset is empty" % path)
    return items


def split(texts, labels, fraction, seed):
    """(train, valid) item indices: grouped by text, stratified by the label
    of the group's first item in (text, label) order, round(fraction*m) per
    label, as rs_dataset_split."""
    order = sorted(range(len(texts)), key=lambda i: (texts[i], labels[i], i))
    group_of, first = [0] * len(texts), []
    for k, i in enumerate(order):
        if k == 0 or texts[i] != texts[order[k - 1]]:
            first.append(i)
        group_of[i] = len(first) - 1
    rng = random.Random(seed)
    to_valid = [False] * len(first)
    for s in sorted(set(labels)):
        members = [g for g in range(len(first)) if labels[first[g]] == s]
        rng.shuffle(members)
        for g in members[: int(fraction * len(members) + 0.5)]:
            to_valid[g] = True
    train = [i for i in range(len(texts)) if not to_valid[group_of[i]]]
    valid = [i for i in range(len(texts)) if to_valid[group_of[i]]]
    return train, valid


# ---------------------------------------------------------------------------

def main():
    a = parse_args()
    # OpenBLAS (torch's BLAS on Debian) reads its thread count when loaded and
    # torch.set_num_threads does not change it: set it before importing torch.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.nn.utils.rnn import pack_padded_sequence
    except ImportError as e:
        sys.exit("train_pytorch.py: cannot import torch (%s); install Debian's python3-torch "
                 "(apt-get install python3-torch) and run with /usr/bin/python3" % e)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    for var in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        if var not in os.environ:
            print("train_pytorch.py: warning: %s is not set; PyTorch runs much slower "
                  "with glibc's default malloc thresholds" % var, file=sys.stderr)
    blas_threads = "?"
    try:
        import ctypes
        blas_threads = ctypes.CDLL("libopenblas.so.0").openblas_get_num_threads()
    except (OSError, AttributeError):
        pass

    generator = a.task == "generator"
    tsv = a.data.endswith(".tsv")
    if not generator and not tsv:
        sys.exit("train_pytorch.py: a classifier needs a .tsv file (name<TAB>label)")
    raw_rows = sum(1 for _ in open(a.data, encoding="utf-8"))
    items = load(a.data, tsv, keep_labels=not generator, normalize=a.normalize)
    label_names = sorted({lab for _, lab in items}) if not generator else []
    if not generator and len(label_names) < 2:
        sys.exit("train_pytorch.py: a classifier needs at least two labels")
    label_id = {lab: k for k, lab in enumerate(label_names)}
    texts = [t for t, _ in items]
    labels = [label_id[lab] if lab is not None else -1 for _, lab in items]
    counts = {}
    for t in texts:
        for c in t:
            counts[c] = counts.get(c, 0) + 1
    chars = sorted(c for c, n in counts.items() if n >= a.min_count)
    vocab = SPECIALS + chars + (["<unk>"] if a.min_count > 1 else [])
    char_id = {c: len(SPECIALS) + k for k, c in enumerate(chars)}
    if a.min_count > 1:  # as rnntrain --min-count: rare characters read as <unk>, last in the vocabulary
        unk = len(vocab) - 1
        for c in counts:
            char_id.setdefault(c, unk)

    # encode once: (N, max_len) token and target matrices, padded
    seqs = [([BOS_ID] if generator else []) + [char_id[c] for c in t] for t in texts]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    N, max_len = len(seqs), int(lengths.max())
    tokens = torch.full((N, max_len), PAD_ID, dtype=torch.int64)
    targets = torch.full((N, max_len), IGNORE, dtype=torch.int64) if generator else \
        torch.tensor(labels, dtype=torch.int64)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
        if generator:
            targets[i, : len(s)] = torch.tensor(s[1:] + [EOS_ID], dtype=torch.int64)

    train_idx, valid_idx = split(texts, labels, a.valid_fraction, a.seed)
    if not train_idx or not valid_idx:
        sys.exit("train_pytorch.py: too few distinct texts to hold out a validation set")
    train_idx = torch.tensor(train_idx, dtype=torch.int64)
    valid_idx = torch.tensor(valid_idx, dtype=torch.int64)
    epoch_chars = int(lengths[train_idx].sum())

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(vocab), a.embed)
            cell = {"rnn": lambda **k: nn.RNN(nonlinearity="tanh", **k),
                    "lstm": nn.LSTM, "gru": nn.GRU}[a.cell]
            self.rnn = cell(input_size=a.embed, hidden_size=a.hidden, num_layers=a.layers,
                            batch_first=True, bidirectional=a.bidirectional)
            directions = 2 if a.bidirectional else 1
            self.head = nn.Linear(a.hidden * directions, len(vocab) if generator
                                  else len(label_names))

        def forward(self, tok, lens):
            x = self.embedding(tok)
            if generator:
                out, _ = self.rnn(x)
                return self.head(out)  # (B, T, V)
            packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
            _, h = self.rnn(packed)
            if a.cell == "lstm":
                h = h[0]
            feat = torch.cat([h[-2], h[-1]], dim=1) if a.bidirectional else h[-1]
            return self.head(feat)  # (B, K)

    model = Model()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def batch(idx):
        lens = lengths[idx]
        T = int(lens.max())
        tok = tokens[idx, :T]
        tgt = targets[idx, :T] if generator else targets[idx]
        return tok, lens, tgt

    def loss_of(logits, tgt):
        if generator:
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                   ignore_index=IGNORE)
        return F.cross_entropy(logits, tgt)

    def schedule_lr(step, total):
        if a.schedule == "constant" or total <= 0:
            return a.lr
        progress = min(step / total, 1.0)
        return a.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def evaluate():
        model.eval()
        total = weight = correct = 0.0
        eval_b = max(a.batch_size, 256)
        with torch.no_grad():
            for start in range(0, len(valid_idx), eval_b):
                tok, lens, tgt = batch(valid_idx[start: start + eval_b])
                logits = model(tok, lens)
                w = float(lens.sum()) if generator else float(len(lens))
                total += float(loss_of(logits, tgt)) * w
                weight += w
                if not generator:
                    correct += float((logits.argmax(1) == tgt).sum())
        model.train()
        return total / weight, (0.0 if generator else correct / len(valid_idx))

    print("train_pytorch.py %s: %d rows, %d distinct items (%d train, %d valid), vocab %d, "
          "%s%s %dx%d, %d parameters; torch %s, %d threads (OpenBLAS %s)"
          % (a.task, raw_rows, N, len(train_idx), len(valid_idx), len(vocab),
             "bidirectional " if a.bidirectional else "", a.cell, a.layers, a.hidden, n_params,
             torch.__version__, torch.get_num_threads(), blas_threads), file=sys.stderr)

    logf = None
    if a.log:
        logf = open(a.log, "w")
        logf.write("epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n")
    steps_per_epoch = (len(train_idx) + a.batch_size - 1) // a.batch_size
    total_steps = steps_per_epoch * a.epochs
    step, t0 = 0, time.perf_counter()
    gen = torch.Generator().manual_seed(a.seed)
    model.train()
    best_loss, best_score, best_state, stopped = float("inf"), None, None, False
    for epoch in range(1, a.epochs + 1):
        perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
        starts = list(range(0, len(perm), a.batch_size))
        if a.length_buckets > 0:
            run = a.batch_size * a.length_buckets
            for at in range(0, len(perm), run):  # longest first, stable within a length
                chunk = perm[at:at + run]
                order = sorted(range(len(chunk)), key=lambda i: -int(lengths[chunk[i]]))
                perm[at:at + run] = chunk[order]
            starts = [starts[i] for i in torch.randperm(len(starts), generator=gen).tolist()]
        epoch_loss = epoch_weight = 0.0
        te = time.perf_counter()
        for start in starts:
            if a.time_budget > 0 and time.perf_counter() - t0 >= a.time_budget:
                stopped = True
                break
            tok, lens, tgt = batch(perm[start: start + a.batch_size])
            loss = loss_of(model(tok, lens), tgt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, a.clip)
            for g in opt.param_groups:
                g["lr"] = schedule_lr(step, total_steps)
            opt.step()
            step += 1
            w = float(lens.sum()) if generator else float(len(lens))
            epoch_loss += float(loss) * w
            epoch_weight += w
        elapsed = time.perf_counter() - te
        rate = epoch_chars / (elapsed + 1e-9)
        vloss, vacc = evaluate()
        score = vacc if a.select == "accuracy" and not generator else -vloss
        if best_score is None or score > best_score or \
                (a.select == "accuracy" and score == best_score):
            best_score, best_loss, best_epoch = score, vloss, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        line = "epoch %d/%d  train %.4f  valid %.4f" % (epoch, a.epochs,
                                                         epoch_loss / epoch_weight, vloss)
        if not generator:
            line += "  valid accuracy %.4f" % vacc
        print(line + "  %.0f chars/s  %.1fs" % (rate, elapsed), file=sys.stderr)
        if logf:
            logf.write("%d,%d,%.6f,%.6f,%.6f,%.6g,%.0f,%.2f\n"
                       % (epoch, step, epoch_loss / epoch_weight, vloss, vacc,
                          schedule_lr(step, total_steps), rate, time.perf_counter() - t0))
            logf.flush()
        if stopped:
            print("stopped by --time-budget %.0fs in epoch %d" % (a.time_budget, epoch),
                  file=sys.stderr)
            break
    if logf:
        logf.close()
    if a.out and best_state is not None:
        print("kept epoch %d (best validation %s) in %s" % (best_epoch, a.select, a.out),
              file=sys.stderr)
        write_model(a.out, best_state, a, vocab, label_names, generator, best_loss)


def write_model(path, state, a, vocab, label_names, generator, valid_loss):
    """The DESIGN.md file: state_dict tensors under their names, F32, and
    the rnnserve/1 metadata, so rnntrain eval and rnnserve read it."""
    import json
    import struct
    header, chunks, offset = {}, [], 0
    for name, t in state.items():
        raw = t.contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    meta = {"format": "rnnserve/1", "task": "generator" if generator else "classifier",
            "cell": a.cell, "num_layers": str(a.layers), "hidden_size": str(a.hidden),
            "embedding_dim": str(a.embed), "category_dim": "0",
            "bidirectional": "true" if a.bidirectional else "false",
            "vocab": json.dumps(vocab, ensure_ascii=False, separators=(",", ":")),
            "normalize": a.normalize,
            "training": json.dumps({"trainer": "bench/train_pytorch.py",
                                    "validation": {"nll_per_token": valid_loss}})}
    if not generator:
        meta["labels"] = json.dumps(label_names, ensure_ascii=False, separators=(",", ":"))
    header["__metadata__"] = meta
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
