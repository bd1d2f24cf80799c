#!/usr/bin/python3
"""
make_textlm_golden.py — PyTorch reference for a textlm's truncated BPTT:
windows read one after another with the state carried and detached.

Run by hand (CI only reads the committed files):

    /usr/bin/python3 tests/parity/make_textlm_golden.py      # writes tests/parity/golden/

For each cell in rnn, lstm, gru it writes

    golden/textlm_{cell}.model.safetensors   a 2-layer textlm of DESIGN.md
        (the tensors of an unconditioned generator, task "textlm");
    golden/textlm_{cell}.expect.safetensors  three consecutive windows of
        B streams: window{w}.tokens, window{w}.targets (B, T), and what
        PyTorch makes of each from the previous window's final state,
        detached (zeros before the first): window{w}.loss,
        window{w}.grad.<param> (that window's gradients alone),
        window{w}.h_n (L, B, H) and, for an LSTM, window{w}.c_n.

Exactly the loop of src/train/textlm.c: logits = head(rnn(emb(x), state)),
loss = mean cross-entropy over the B x T targets, state = state_n.detach().
Uses the model and the safetensors writer of make_golden.py.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

SEED = 20261202
WINDOWS = 3
B, T = 3, 5
LAYERS = 2


def make_case(outdir, cell, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    V = len(mg.VOCAB)
    model = mg.Model("textlm", cell, V, mg.EMBEDDING_DIM, mg.HIDDEN_SIZE, LAYERS, False, V)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # one running text of B streams, the token after each window included
    text = torch.randint(3, V, (B, WINDOWS * T + 1), generator=gen, dtype=torch.int32)

    expect = {}
    carried = None
    for w in range(WINDOWS):
        x = text[:, w * T:(w + 1) * T]
        y = text[:, w * T + 1:(w + 1) * T + 1]
        model.zero_grad()
        out, st = model.rnn(model.embedding(x.long()), carried)
        logits = model.head(out)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1).long())
        loss.backward()
        expect[f"window{w}.tokens"] = x.contiguous()
        expect[f"window{w}.targets"] = y.contiguous()
        expect[f"window{w}.loss"] = loss.detach().reshape(1)
        for n, p in model.named_parameters():
            expect[f"window{w}.grad.{n}"] = p.grad.detach().clone()
        if cell == "lstm":
            expect[f"window{w}.h_n"] = st[0].detach().clone()
            expect[f"window{w}.c_n"] = st[1].detach().clone()
            carried = (st[0].detach(), st[1].detach())
        else:
            expect[f"window{w}.h_n"] = st.detach().clone()
            carried = st.detach()

    meta = {
        "format": "rnnserve/1",
        "task": "textlm",
        "cell": cell,
        "num_layers": str(LAYERS),
        "hidden_size": str(mg.HIDDEN_SIZE),
        "embedding_dim": str(mg.EMBEDDING_DIM),
        "category_dim": "0",
        "bidirectional": "false",
        "vocab": json.dumps(mg.VOCAB, ensure_ascii=False, separators=(",", ":")),
        "normalize": "none",
        "training": "{}",
    }
    mg.write(os.path.join(outdir, f"textlm_{cell}.model.safetensors"), list(state.items()), meta)
    mg.write(os.path.join(outdir, f"textlm_{cell}.expect.safetensors"), list(expect.items()),
             {"windows": str(WINDOWS), "B": str(B), "T": str(T),
              "generated_by": "tests/parity/make_textlm_golden.py",
              "torch": torch.__version__})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "golden"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for i, cell in enumerate(["rnn", "lstm", "gru"]):
        make_case(args.out, cell, SEED + 10 * i)
        print(f"textlm_{cell}: written")


if __name__ == "__main__":
    main()
