#!/usr/bin/python3
"""
make_bayes_golden.py — the expected soft targets of a conditional generator
teaching a classifier (rnntrain --teachers, src/train/distill.c), computed
with PyTorch.  Run by hand with Debian's python3-torch; CI needs only the
committed output.

    /usr/bin/python3 tests/parity/make_bayes_golden.py

Reads golden/lstm_generator_cond.model.safetensors (categories Czech, Greek,
Irish) and golden/bayes.tsv (texts labelled Greek or Irish only, so that the
student's labels map to categories 1 and 2 by name), and writes
golden/bayes.expect.tsv: for each row, the text and the posterior over the
student's labels (sorted, as rnntrain sorts them)

    p(label | text) ∝ (count of label in bayes.tsv + 1) · p(<bos> text <eos> | label)

with p(... | label) the generator's product of next-token probabilities.
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import check_rnntrain_model as c  # noqa: E402


def main():
    golden = os.path.join(HERE, "golden")
    data = os.path.join(golden, "bayes.tsv")
    meta, tensors, _ = c.read_model(os.path.join(golden, "lstm_generator_cond.model.safetensors"))
    model, info = c.build_model(meta, tensors)
    rows = c.read_rows(data)
    labels = sorted({r[2] for r in rows})
    ids, _ = c.encode([(line, text, None) for line, text, _ in rows], dict(info, categories=None),
                      data)
    prior = torch.tensor([math.log(1 + sum(r[2] == l for r in rows)) for l in labels],
                         dtype=torch.double)
    score = torch.zeros(len(rows), len(labels), dtype=torch.double)
    with torch.no_grad():
        tokens, targets, lengths = c.generator_batch(ids, info["vocab"])
        for k, label in enumerate(labels):
            cats = torch.full((len(rows),), info["categories"].index(label))
            lp = F.log_softmax(model(tokens, lengths, cats).double(), -1)
            keep = (targets != -100).double()
            score[:, k] = (lp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * keep).sum(1)
    posterior = F.softmax(score + prior, 1)
    with open(os.path.join(golden, "bayes.expect.tsv"), "w") as f:
        for (_, text, _), p in zip(rows, posterior):
            f.write(text + "".join(f"\t{float(x):.12f}" for x in p) + "\n")


if __name__ == "__main__":
    main()
