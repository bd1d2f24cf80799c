#!/usr/bin/python3
"""
make_translator_golden.py — PyTorch reference for the translator of
DESIGN.md (an encoder-decoder with additive attention, src/nn/seq2seq.c).

Run by hand (CI only reads the committed files):

    /usr/bin/python3 tests/parity/make_translator_golden.py   # writes tests/parity/golden/

For each case (cell, layers, bidirectional encoder) it writes

    golden/translator_{case}.model.safetensors   the DESIGN.md Translator's
        state_dict (encoder.embedding.weight, encoder.rnn.*, encoder.bridge.*
        when bidirectional, decoder.embedding.weight, decoder.attention.Wa/
        Ua/Va.*, decoder.rnn.*, decoder.head.*) with its metadata;
    golden/translator_{case}.expect.safetensors  a padded batch (src,
        src_len, tgt_in, tgt_out with -1 on padding: I32) and what PyTorch
        makes of it with teacher forcing: loss (the mean cross-entropy over
        the non-padding targets), logits (B, T, Vt), attention (B, T, S)
        and grad.<tensor> for every tensor; greedy_shortlist.ids (B, 8) and
        .log_prob (B): greedy over a shortlist (make_case); greedy.ids (B, 8): each source
        decoded greedily (the argmax but <pad> and <bos>, until <eos>; -1
        after it), as a model saved from PyTorch must translate in C.

The encoder reads a packed sequence (pack_padded_sequence, so padding never
touches the state); the decoder's initial state is the encoder's final
state per layer, or tanh(bridge([fwd; bwd])) when bidirectional (an LSTM's
cell state goes through the same bridge); each step's attention is
softmax(Va(tanh(Wa h + Ua K))) over the real source tokens, with h the top
layer's state before the step, and the decoder reads [embedding(y); a K].
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

SEED = 20261203
B, S, T = 3, 6, 5
E, H = 5, 6
SRC_LEN = [6, 3, 4]
TGT_LEN = [5, 2, 4]
GREEDY_MAX = 8
SL_COMMON = 5  # the shortlist of greedy_shortlist.*: see make_case
SRC_VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "i", "am", "cold", "you", "are", "."]
TGT_VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "j", "ai", "froid", "tu", "es", "as", "."]
CASES = [("gru", 1, False), ("gru", 2, True), ("lstm", 2, False), ("lstm", 1, True),
         ("rnn", 1, True)]


class Translator(nn.Module):
    def __init__(self, cell, layers, bidirectional):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]
        D = 2 if bidirectional else 1
        self.cell, self.layers, self.D = cell, layers, D
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(len(SRC_VOCAB), E)
        self.encoder.rnn = rnn(E, H, layers, batch_first=True, bidirectional=bidirectional)
        if bidirectional:
            self.encoder.bridge = nn.Linear(2 * H, H)
        self.decoder = nn.Module()
        self.decoder.embedding = nn.Embedding(len(TGT_VOCAB), E)
        self.decoder.attention = nn.Module()
        self.decoder.attention.Wa = nn.Linear(H, H)
        self.decoder.attention.Ua = nn.Linear(H * D, H)
        self.decoder.attention.Va = nn.Linear(H, 1)
        self.decoder.rnn = rnn(E + H * D, H, layers, batch_first=True)
        self.decoder.head = nn.Linear(H, len(TGT_VOCAB))

    def initial(self, final):
        """(L·D, B, H) final encoder states → (L, B, H) decoder initial states."""
        if self.D == 1:
            return final
        L = self.layers
        pairs = torch.cat([final[0::2], final[1::2]], dim=2)  # (L, B, 2H): [fwd; bwd]
        return torch.tanh(self.encoder.bridge(pairs))

    def forward(self, src, src_len, tgt_in):
        emb = self.encoder.embedding(src.long())
        packed = pack_padded_sequence(emb, src_len.long(), batch_first=True, enforce_sorted=False)
        out, state = self.encoder.rnn(packed)
        K, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        if self.cell == "lstm":
            state = (self.initial(state[0]), self.initial(state[1]))
        else:
            state = self.initial(state)
        mask = torch.arange(src.shape[1])[None, :] >= src_len[:, None].long()
        UK = self.decoder.attention.Ua(K)  # (B, S, H)
        logits, atts = [], []
        for t in range(tgt_in.shape[1]):
            top = (state[0] if self.cell == "lstm" else state)[-1]  # (B, H)
            q = self.decoder.attention.Wa(top)
            scores = self.decoder.attention.Va(torch.tanh(q[:, None, :] + UK)).squeeze(-1)
            a = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=1)  # (B, S)
            ctx = torch.bmm(a[:, None, :], K).squeeze(1)
            x = torch.cat([self.decoder.embedding(tgt_in[:, t].long()), ctx], dim=1)
            o, state = self.decoder.rnn(x[:, None, :], state)
            logits.append(self.decoder.head(o[:, 0]))
            atts.append(a)
        return torch.stack(logits, 1), torch.stack(atts, 1)


def batch(gen):
    src = torch.zeros((B, S), dtype=torch.int32)
    tgt_in = torch.zeros((B, T), dtype=torch.int32)
    tgt_out = torch.full((B, T), -1, dtype=torch.int32)
    for b in range(B):
        n = SRC_LEN[b]
        src[b, :n - 1] = torch.randint(3, len(SRC_VOCAB), (n - 1,), generator=gen)
        src[b, n - 1] = 2  # <eos>
        m = TGT_LEN[b]
        ys = torch.randint(3, len(TGT_VOCAB), (m,), generator=gen)
        ys[m - 1] = 2
        tgt_out[b, :m] = ys
        tgt_in[b, 0] = 1  # <bos>
        tgt_in[b, 1:m] = ys[:m - 1]
    return src, torch.tensor(SRC_LEN, dtype=torch.int32), tgt_in, tgt_out


def make_case(outdir, cell, layers, bidirectional, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Translator(cell, layers, bidirectional)
    with torch.no_grad():  # larger weights than the default: a more demanding check
        for p in model.parameters():
            p.mul_(1.5)
    src, src_len, tgt_in, tgt_out = batch(gen)
    logits, att = model(src, src_len, tgt_in)
    V = len(TGT_VOCAB)
    loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1).long(), ignore_index=-1)
    model.zero_grad()
    loss.backward()
    name = "%s_%s%d" % (cell, "bi" if bidirectional else "l", layers)
    state = model.state_dict()
    meta = {"format": "rnnserve/1", "task": "translator", "cell": cell,
            "num_layers": str(layers), "hidden_size": str(H), "embedding_dim": str(E),
            "bidirectional": "true" if bidirectional else "false",
            "src_vocab": json.dumps(SRC_VOCAB), "tgt_vocab": json.dumps(TGT_VOCAB),
            "src_normalize": "none", "tgt_normalize": "none", "tokenizer": "word",
            "training": json.dumps({"golden": "tests/parity/make_translator_golden.py",
                                    "seed": seed})}
    mg.write(os.path.join(outdir, "translator_%s.model.safetensors" % name),
             [(k, v.float()) for k, v in state.items()], meta)
    grads = dict(model.named_parameters())
    ex = [("src", src), ("src_len", src_len), ("tgt_in", tgt_in), ("tgt_out", tgt_out),
          ("loss", loss.detach().reshape(1)), ("logits", logits.detach()),
          ("attention", att.detach())]
    ex += [("grad." + k, grads[k].grad) for k in state]
    # greedy decoding of each source from PyTorch, as the daemon must do it:
    # the argmax of every step but <pad> and <bos>, until <eos> or GREEDY_MAX
    with torch.no_grad():
        ids = torch.full((B, GREEDY_MAX), -1, dtype=torch.int32)
        for b in range(B):
            y = [1]
            for t in range(GREEDY_MAX):
                lg, _ = model(src[b:b + 1, :SRC_LEN[b]], src_len[b:b + 1],
                              torch.tensor([y], dtype=torch.int32))
                z = lg[0, -1].clone()
                z[0] = z[1] = float("-inf")
                nxt = int(z.argmax())
                if nxt == 2:
                    break
                ids[b, t] = nxt
                y.append(nxt)
    ex += [("greedy.ids", ids)]
    # the same over a shortlist (include/rnnserve/shortlist.h): target ids
    # below SL_COMMON and, per source id s, SL_COMMON + s % (Vt - SL_COMMON);
    # the softmax over those ids only (<pad> and <bos> in it, never chosen);
    # the ids and the log-probability of the whole output, <eos> included
    with torch.no_grad():
        sl_ids = torch.full((B, GREEDY_MAX), -1, dtype=torch.int32)
        sl_lp = torch.zeros(B, dtype=torch.float64)
        vt = len(TGT_VOCAB)
        for b in range(B):
            srcs = [int(x) for x in src[b, :SRC_LEN[b]]]
            cand = sorted(set(range(SL_COMMON)) | {SL_COMMON + x % (vt - SL_COMMON) for x in srcs})
            y, lp = [1], 0.0
            for t in range(GREEDY_MAX):
                lg, _ = model(src[b:b + 1, :SRC_LEN[b]], src_len[b:b + 1],
                              torch.tensor([y], dtype=torch.int32))
                z = torch.log_softmax(lg[0, -1][cand].double(), dim=0)
                z[0] = z[1] = float("-inf")  # cand starts 0, 1
                k = int(z.argmax())
                lp += float(z[k])
                if cand[k] == 2:
                    break
                sl_ids[b, t] = cand[k]
                y.append(cand[k])
            sl_lp[b] = lp
    ex += [("greedy_shortlist.ids", sl_ids), ("greedy_shortlist.log_prob", sl_lp.float())]
    mg.write(os.path.join(outdir, "translator_%s.expect.safetensors" % name), ex,
             {"case": name})
    print("translator_%s: loss %.6f, %d tensors" % (name, float(loss), len(state)))


def main():
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
    torch.set_num_threads(1)
    for i, (cell, layers, bi) in enumerate(CASES):
        make_case(outdir, cell, layers, bi, SEED + i)


if __name__ == "__main__":
    main()
