#!/usr/bin/python3
"""
translate_vs_tutorial.py — the shipped translator against the PyTorch
seq2seq tutorial's model (issue 11's quality bar), side by side, in one run.

    /usr/bin/python3 bench/translate_vs_tutorial.py --train TRAIN.tsv --test TEST.tsv \\
        --model models/eng-fra.safetensors [--epochs 80] [--time-budget S] [--threads 1]

TRAIN/TEST are `rnntrain split --pairs --data data/eng_fra.tsv --test-fraction
0.05 --seed 1` (grouped by source sentence: no test sentence was trained on).

Choosing between candidate models on validation pairs, without the tutorial
model (no training; the same scores on both sets):

    /usr/bin/python3 bench/translate_vs_tutorial.py --skip-tutorial \
        --test build/models/eng-fra-valid.tsv --model A.safetensors --model B.safetensors \
        [--full-vocabulary] [--replace-unknown]

The tutorial model (pytorch.org/tutorials/intermediate/seq2seq_translation_tutorial,
English -> French here): normalizeString (ASCII-folded, lower-cased, "."
"!" "?" split off, every other non-letter a space), the filter (English
starting with "i am", "i m", "he is", ... and both sides under 10 words),
EncoderRNN (embedding, GRU-128, dropout 0.1) and AttnDecoderRNN with
BahdanauAttention, Adam 1e-3, batch 32, NLLLoss, teacher forcing, trained on
the filtered training pairs for --epochs (the tutorial's 80) or until
--time-budget.  One addition: an <unk> word for test words its vocabulary
lacks (the tutorial has none and would fail on them).

Scores: corpus BLEU-4 (NLTK corpus_bleu, DESIGN.md's definition) of greedy
translations, one per distinct test source sentence, every translation of it
in the test file a reference, both outputs and references normalised the
tutorial's way.  Two sets: the test pairs that pass the tutorial's filter,
and all test pairs (the whole file's kind).  The shipped model translates
with `rnntrain translate --beam-size 1` (greedy) from the raw sentence.
"""
import argparse
import os
import re
import subprocess
import sys
import time
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F
from nltk.translate.bleu_score import corpus_bleu

SOS, EOS, UNK = 0, 1, 2
MAX_LENGTH = 10
ENG_PREFIXES = ("i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ",
                "we are", "we re ", "they are", "they re ")


def unicode_to_ascii(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def normalize_string(s):
    s = unicode_to_ascii(s.lower().strip())
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z!?]+", r" ", s)
    return s.strip()


def keep(eng, fra):
    return (len(eng.split(" ")) < MAX_LENGTH and len(fra.split(" ")) < MAX_LENGTH
            and eng.startswith(ENG_PREFIXES))


def read_pairs(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                pairs.append((cols[0], cols[1]))
    return pairs


class Lang:
    def __init__(self):
        self.index = {}
        self.words = ["SOS", "EOS", "<unk>"]

    def add(self, sentence):
        for w in sentence.split(" "):
            if w not in self.index:
                self.index[w] = len(self.words)
                self.words.append(w)

    def ids(self, sentence):
        return [self.index.get(w, UNK) for w in sentence.split(" ")]


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x):
        return self.gru(self.dropout(self.embedding(x)))


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys))).squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights, keys), weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, dropout_p=0.1):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS)
        decoder_hidden = encoder_hidden
        outputs = []
        for i in range(MAX_LENGTH):
            out, decoder_hidden = self.step(decoder_input, decoder_hidden, encoder_outputs)
            outputs.append(out)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # teacher forcing
            else:
                decoder_input = out.topk(1)[1].squeeze(-1).detach()
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1), decoder_hidden

    def step(self, x, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(x))
        query = hidden.permute(1, 0, 2)
        context, _ = self.attention(query, encoder_outputs)
        output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
        return self.out(output), hidden


def tensors(pairs, src, tgt):
    n = len(pairs)
    x = torch.zeros((n, MAX_LENGTH), dtype=torch.long)
    y = torch.zeros((n, MAX_LENGTH), dtype=torch.long)
    for i, (e, f) in enumerate(pairs):
        a = src.ids(e) + [EOS]
        b = tgt.ids(f) + [EOS]
        x[i, :len(a)] = torch.tensor(a)
        y[i, :len(b)] = torch.tensor(b)
    return x, y


def train_tutorial(pairs, epochs, budget, hidden=128):
    src, tgt = Lang(), Lang()
    for e, f in pairs:
        src.add(e)
        tgt.add(f)
    x, y = tensors(pairs, src, tgt)
    enc = EncoderRNN(len(src.words), hidden)
    dec = AttnDecoderRNN(hidden, len(tgt.words))
    eo = torch.optim.Adam(enc.parameters(), lr=0.001)
    do = torch.optim.Adam(dec.parameters(), lr=0.001)
    crit = nn.NLLLoss()
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(pairs))
        total = 0.0
        for at in range(0, len(pairs), 32):
            idx = perm[at:at + 32]
            eo.zero_grad()
            do.zero_grad()
            eout, ehid = enc(x[idx])
            dout, _ = dec(eout, ehid, y[idx])
            loss = crit(dout.view(-1, dout.size(-1)), y[idx].view(-1))
            loss.backward()
            eo.step()
            do.step()
            total += float(loss)
        elapsed = time.perf_counter() - t0
        print("tutorial epoch %d/%d  loss %.4f  %.0fs" % (epoch, epochs, total / (len(pairs) / 32),
                                                           elapsed), flush=True)
        if budget and elapsed > budget:
            print("tutorial: --time-budget reached after epoch %d" % epoch, flush=True)
            break
    enc.eval()
    dec.eval()
    return enc, dec, src, tgt, epoch, time.perf_counter() - t0


def tutorial_translate(model, sentences):
    enc, dec, src, tgt = model[:4]
    out = []
    with torch.no_grad():
        for at in range(0, len(sentences), 256):
            chunk = sentences[at:at + 256]
            x = torch.zeros((len(chunk), MAX_LENGTH), dtype=torch.long)
            for i, s in enumerate(chunk):
                a = (src.ids(s) + [EOS])[:MAX_LENGTH]
                x[i, :len(a)] = torch.tensor(a)
            eout, ehid = enc(x)
            dout, _ = dec(eout, ehid)
            ids = dout.argmax(-1)
            for row in ids.tolist():
                words = []
                for t in row:
                    if t == EOS:
                        break
                    words.append(tgt.words[t])
                out.append(" ".join(words))
    return out


def bleu(groups, hyps):
    refs = [[normalize_string(f).split() for f in fs] for fs in groups.values()]
    return 100 * corpus_bleu(refs, [normalize_string(h).split() for h in hyps])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train")
    ap.add_argument("--test", required=True)
    ap.add_argument("--model", required=True, action="append",
                    help="a translator file; again for more (each scored on the same pairs)")
    ap.add_argument("--skip-tutorial", action="store_true",
                    help="score only --model (no tutorial model, no --train needed)")
    ap.add_argument("--full-vocabulary", action="store_true",
                    help="rnntrain translate --full-vocabulary (search every target word)")
    ap.add_argument("--replace-unknown", action="store_true",
                    help="rnntrain translate --replace-unknown")
    ap.add_argument("--rnntrain", default="build/src/train/rnntrain")
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--time-budget", type=float, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tutorial-cache",
                    help="a file for the trained tutorial model: loaded if it exists (with the same "
                         "data and epochs), else written after training")
    a = ap.parse_args()
    if not a.skip_tutorial and not a.train:
        ap.error("--train is required unless --skip-tutorial")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    train = [(normalize_string(e), normalize_string(f)) for e, f in read_pairs(a.train or os.devnull)]
    train = [p for p in train if keep(*p)]
    test = read_pairs(a.test)
    # distinct source sentences (raw), with every reference
    whole, subset = {}, {}
    for e, f in test:
        whole.setdefault(e, []).append(f)
        if keep(normalize_string(e), normalize_string(f)):
            subset.setdefault(e, []).append(f)
    print("%stest: %d distinct sources in the tutorial's subset, %d in all"
          % ("" if a.skip_tutorial else "tutorial subset: %d training pairs; " % len(train),
             len(subset), len(whole)), flush=True)

    model = None
    if not a.skip_tutorial:
        key = {"train": os.path.abspath(a.train), "pairs": len(train), "epochs": a.epochs,
               "budget": a.time_budget, "seed": a.seed}
        cached = None
        if a.tutorial_cache and os.path.exists(a.tutorial_cache):
            cached = torch.load(a.tutorial_cache)
            if cached.get("key") != key:
                sys.exit("translate_vs_tutorial.py: %s was trained with %s, not %s"
                         % (a.tutorial_cache, cached.get("key"), key))
        if cached:
            src, tgt = Lang(), Lang()
            src.words, tgt.words = cached["src"], cached["tgt"]
            src.index = {w: i for i, w in enumerate(src.words)}
            tgt.index = {w: i for i, w in enumerate(tgt.words)}
            enc, dec = EncoderRNN(len(src.words), 128), AttnDecoderRNN(128, len(tgt.words))
            enc.load_state_dict(cached["enc"])
            dec.load_state_dict(cached["dec"])
            enc.eval()
            dec.eval()
            model = (enc, dec, src, tgt, cached["epochs_run"], cached["seconds"])
            print("tutorial model: loaded from %s (trained by this script: %d epochs, %.0f s)"
                  % (a.tutorial_cache, model[4], model[5]), flush=True)
        else:
            model = train_tutorial(train, a.epochs, a.time_budget)
            print("tutorial model: %d epochs, %.0f s" % (model[4], model[5]), flush=True)
            if a.tutorial_cache:
                torch.save({"key": key, "src": model[2].words, "tgt": model[3].words,
                            "enc": model[0].state_dict(), "dec": model[1].state_dict(),
                            "epochs_run": model[4], "seconds": model[5]}, a.tutorial_cache)

    flags = (["--full-vocabulary"] if a.full_vocabulary else []) + \
        (["--replace-unknown"] if a.replace_unknown else [])

    def ours(path, sentences):
        r = subprocess.run([a.rnntrain, "translate", "--model", path, "--beam-size", "1"] + flags,
                           input="\n".join(sentences) + "\n", capture_output=True, text=True,
                           check=True)
        lines = r.stdout.split("\n")
        return lines[:len(sentences)]

    if a.skip_tutorial:
        print("\n| model | %s |" % " | ".join("%s (%d sources)" % (name, len(g)) for name, g in
                                              (("tutorial subset", subset), ("whole file", whole))))
        print("|---|---|---|")
        for path in a.model:
            out = dict(zip(list(whole), ours(path, list(whole))))
            print("| %s%s | %s |" % (path, " " + " ".join(flags) if flags else "", " | ".join(
                "%.2f" % bleu(g, [out[s] for s in g]) for g in (subset, whole))))
        return
    rows = []
    for name, groups in (("tutorial subset", subset), ("whole file", whole)):
        sources = list(groups)
        tut = tutorial_translate(model, [normalize_string(s) for s in sources])
        for path in a.model:
            our = ours(path, sources)
            rows.append((name, len(sources), path, bleu(groups, tut), bleu(groups, our)))
            for s, t, o in list(zip(sources, tut, our))[:3]:
                print("  %s\n    tutorial: %s\n    %s:  %s" % (s, t, path, o))
    print("\n| held-out set | sources | model | tutorial GRU-128 BLEU | its BLEU | ratio | difference |")
    print("|---|---|---|---|---|---|---|")
    for name, n, path, t, o in rows:
        print("| %s | %d | %s | %.2f | %.2f | %.2fx | %+.2f |" % (
            name, n, path, t, o, o / t if t else float("inf"), o - t))


if __name__ == "__main__":
    main()
