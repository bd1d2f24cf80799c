#!/usr/bin/python3
"""
train_pytorch_textlm.py — the PyTorch side of bench/train_vs_pytorch.sh for
a textlm: the loop of src/train/textlm.c in PyTorch, with the same per-epoch
CSV columns as `rnntrain textlm --log` (epoch,steps,train_loss,valid_loss,
valid_accuracy,lr,chars_per_s,elapsed_s; valid_accuracy is 0 for a language model).

    MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_MMAP_THRESHOLD_=1000000000 \\
    /usr/bin/python3 bench/train_pytorch_textlm.py --data data/tinyshakespeare.txt \\
        --cell lstm --layers 2 --hidden 512 --embed 64 --epochs 1 --threads 1 --log t.csv

  * the text read whole; vocabulary <pad> <bos> <eos> then every character
    in code-point order; the last --valid-tail (10%) held out;
  * each epoch: a random offset in [0, T), B contiguous streams of S =
    (n_train - 1 - offset) // B tokens, windows of T (the last one shorter);
    the state carried from window to window, detached, zeros at the epoch's
    start; loss = mean cross-entropy over the window's B x T targets;
    backward, clip_grad_norm_, Adam (0.9/0.999, eps 1e-8) at the cosine
    schedule's rate for the step;
  * dropout between layers and before the head (0 by default);
  * validation: the tail in at most 16 streams read the same way, not timed.

chars_per_s = the epoch's B x T targets over the wall time of its training
loop (batch assembly, forward, backward, clipping, optimiser), as rnntrain
counts them.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--valid-tail", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    text = open(a.data, encoding="utf-8", newline="").read()
    chars = sorted(set(text))
    vocab = ["<pad>", "<bos>", "<eos>"] + chars
    index = {c: i + 3 for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = len(ids)
    n_valid = math.ceil(n * a.valid_tail)
    n_train = n - n_valid
    V, B, T = len(vocab), a.batch_size, a.seq_len

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V, a.embed)
            cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[a.cell]
            self.rnn = cls(a.embed, a.hidden, a.layers, batch_first=True,
                           dropout=a.dropout if a.layers > 1 else 0.0)
            self.drop = nn.Dropout(a.dropout)
            self.head = nn.Linear(a.hidden, V)

        def forward(self, x, state):
            out, state = self.rnn(self.embedding(x), state)
            return self.head(self.drop(out)), state

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    windows_per_epoch = ((n_train - 1 - (T - 1)) // B + T - 1) // T
    total_steps = windows_per_epoch * a.epochs

    def detach(state):
        if state is None:
            return None
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    def streams(start, length, b):
        S = (length - 1) // b
        x = ids[start:start + b * S].view(b, S)
        y = ids[start + 1:start + 1 + b * S].view(b, S)
        return x, y, S

    log = open(a.log, "w") if a.log else None
    if log:
        log.write("epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n")
    t_start = time.perf_counter()
    gen = torch.Generator().manual_seed(a.seed)
    step = 0
    print("train_pytorch_textlm: %d characters (%d train, %d valid), vocab %d, %s %dx%d, %d parameters, "
          "%d streams x %d" % (n, n_train, n_valid, V, a.cell, a.layers, a.hidden,
                               sum(p.numel() for p in model.parameters()), B, T), flush=True)
    for epoch in range(1, a.epochs + 1):
        model.train()
        offset = int(torch.randint(T, (1,), generator=gen))
        x_all, y_all, S = streams(offset, n_train - offset, B)
        state, total, count = None, 0.0, 0
        t0 = time.perf_counter()
        for w in range(0, S, T):
            x, y = x_all[:, w:w + T], y_all[:, w:w + T]
            lr = a.lr * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad()
            logits, state = model(x, detach(state))
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            loss.backward()
            if a.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            total += float(loss) * x.numel()
            count += x.numel()
        secs = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            bv = 16
            while bv > 1 and (n_valid - 1) // bv < 2:
                bv -= 1
            xv, yv, Sv = streams(n_train, n_valid, bv)
            vstate, vt, vc = None, 0.0, 0
            for w in range(0, Sv, T):
                lg, vstate = model(xv[:, w:w + T], vstate)
                vt += float(F.cross_entropy(lg.reshape(-1, V), yv[:, w:w + T].reshape(-1))) * xv[:, w:w + T].numel()
                vc += xv[:, w:w + T].numel()
        print("epoch %d/%d  train %.4f  valid %.4f  %.0f chars/s  %.1fs" %
              (epoch, a.epochs, total / count, vt / vc, count / secs, secs), flush=True)
        if log:
            log.write("%d,%d,%.6f,%.6f,0,%.6g,%.0f,%.2f\n" % (epoch, step, total / count, vt / vc, lr,
                                                             count / secs, time.perf_counter() - t_start))
            log.flush()


if __name__ == "__main__":
    main()
