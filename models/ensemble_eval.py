#!/usr/bin/python3
"""
ensemble_eval.py — how well would an ensemble of models score?  The figure
that tells whether distilling from them (rnntrain --teachers) is worth it.

Run by hand (never needed to build, serve or test), with Debian's
python3-torch:

    /usr/bin/python3 models/ensemble_eval.py DATA.txt|DATA.tsv MODEL.safetensors...

Loads each model with the strict reader and the DESIGN.md model of
tests/parity (check_rnntrain_model.py), reads DATA as `rnntrain eval` does
(every row as the file has it), and prints each model's figure and the
ensemble's: the mean of the models' predicted distributions, as rnntrain's
distillation averages its teachers.  Generator: nll_per_token over
<bos> c1 … cL → c1 … cL <eos>.  Classifier: accuracy, macro-F1 and nll.
The models must share their outputs (vocabulary or labels) in the same order.
"""

import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "parity"))
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import check_rnntrain_model as c  # noqa: E402


@torch.no_grad()
def log_probs(model, info, ids, labels):
    """Generator: log p(target) at every predicted position, flat.
    Classifier: (n, K) log-probabilities."""
    out = []
    for s, e in c.batches(len(ids)):
        if info["task"] == "generator":
            tok, tgt, lengths = c.generator_batch(ids[s:e], info["vocab"])
            cats = torch.tensor(labels[s:e]) if info["categories"] else None
            lp = F.log_softmax(model(tok, lengths, cats).double(), -1)
            keep = tgt != -100
            out.append(lp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)[keep])
        else:
            tok, lengths = c.classifier_batch(ids[s:e])
            out.append(F.log_softmax(model(tok, lengths).double(), -1))
    return torch.cat(out)


def classifier_figures(lp, y):
    pred = lp.argmax(1)
    f1s = []
    for k in range(lp.shape[1]):
        tp = int(((pred == k) & (y == k)).sum())
        support, predicted = int((y == k).sum()), int((pred == k).sum())
        if support or predicted:
            p = tp / predicted if predicted else 0.0
            r = tp / support if support else 0.0
            f1s.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return (f"accuracy {float((pred == y).double().mean()):.4f}  "
            f"macro_f1 {sum(f1s) / len(f1s):.4f}  "
            f"nll {float(-lp.gather(1, y.unsqueeze(1)).mean()):.4f}")


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    data, paths = sys.argv[1], sys.argv[2:]
    rows = c.read_rows(data)
    all_lp, outputs, task, labels = [], None, None, None
    for path in paths:
        meta, tensors, _ = c.read_model(path)
        model, info = c.build_model(meta, tensors)
        names = info["labels"] if info["task"] == "classifier" else info["vocab"]
        if outputs is not None and (names != outputs or info["task"] != task):
            print(f"{path}: not the task and outputs of {paths[0]}", file=sys.stderr)
            return 1
        outputs, task = names, info["task"]
        ids, labels = c.encode(rows, info, data)
        all_lp.append(log_probs(model, info, ids, labels))
    mean = torch.logsumexp(torch.stack(all_lp), 0) - math.log(len(all_lp))
    for path, lp in list(zip(paths, all_lp)) + [(f"ensemble of {len(paths)}", mean)]:
        if task == "generator":
            print(f"{path}: nll_per_token {float(-lp.mean()):.4f}")
        else:
            print(f"{path}: {classifier_figures(lp, torch.tensor(labels))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
