#!/usr/bin/python3
"""
ensemble_eval.py — how well would an ensemble of models score?  The figure
that tells whether distilling from them (rnntrain --teachers) is worth it.

Run by hand (never needed to build, serve or test), with Debian's
python3-torch:

    /usr/bin/python3 models/ensemble_eval.py [--prior TRAIN.tsv] DATA.txt|DATA.tsv MODEL.safetensors...

Loads each model with the strict reader and the DESIGN.md model of
tests/parity (check_rnntrain_model.py), reads DATA as `rnntrain eval` does
(every row as the file has it), and prints each model's figure and the
ensemble's: the mean of the models' predicted distributions, as rnntrain's
distillation averages its teachers.  Generator: nll_per_token over
<bos> c1 … cL → c1 … cL <eos>.  Classifier: accuracy, macro-F1 and nll,
and the per_text figures of `rnntrain eval` (any-label accuracy over
distinct names; accuracy and macro-F1 over the names with one label).

Generators must share their vocabulary; classifiers their labels, matched
by name.  With --prior, a conditional generator joins a classifier
ensemble as a Bayes classifier, p(label | name) ∝ p(label)·p(name | label),
p(label) from the label counts (+1) of TRAIN.tsv, as rnntrain's Bayes
teacher computes it (give it the training file, never DATA).
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
def log_probs(model, info, ids, labels, per_row=False):
    """Generator: log p(target) at every predicted position, flat, or with
    per_row their sum per row (log p(<bos> text <eos>)).  Classifier: (n, K)
    log-probabilities."""
    out = []
    for s, e in c.batches(len(ids)):
        if info["task"] == "generator":
            tok, tgt, lengths = c.generator_batch(ids[s:e], info["vocab"])
            cats = torch.tensor(labels[s:e]) if info["categories"] else None
            lp = F.log_softmax(model(tok, lengths, cats).double(), -1)
            keep = tgt != -100
            at = lp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            out.append((at * keep).sum(1) if per_row else at[keep])
        else:
            tok, lengths = c.classifier_batch(ids[s:e])
            out.append(F.log_softmax(model(tok, lengths).double(), -1))
    return torch.cat(out)


def bayes_log_posterior(model, info, ids, labels, prior_counts):
    """(n, K) log p(label | text) over labels (names), by Bayes' rule."""
    cats = info["categories"]
    missing = [name for name in labels if name not in cats]
    if missing:
        raise c.Fault(f"the generator has no category {missing[0]!r}")
    score = torch.zeros(len(ids), len(labels), dtype=torch.double)
    for k, name in enumerate(labels):
        lp = log_probs(model, info, ids, [cats.index(name)] * len(ids), per_row=True)
        score[:, k] = lp + math.log(prior_counts.get(name, 0) + 1)
    return F.log_softmax(score, 1)


def f1_mean(pred, y, K):
    f1s = []
    for k in range(K):
        tp = int(((pred == k) & (y == k)).sum())
        support, predicted = int((y == k).sum()), int((pred == k).sum())
        if support or predicted:
            p = tp / predicted if predicted else 0.0
            r = tp / support if support else 0.0
            f1s.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return sum(f1s) / len(f1s)


def classifier_figures(lp, y, texts):
    """Per row, then per distinct text as rnntrain eval's per_text."""
    pred = lp.argmax(1)
    labels_of, first = {}, {}
    for i, t in enumerate(texts):
        labels_of.setdefault(t, set()).add(int(y[i]))
        first.setdefault(t, i)
    any_right = sum(int(pred[i]) in labels_of[t] for t, i in first.items()) / len(first)
    one = [i for t, i in first.items() if len(labels_of[t]) == 1]
    yu, pu = y[one], pred[one]
    return (f"accuracy {float((pred == y).double().mean()):.4f}  "
            f"macro_f1 {f1_mean(pred, y, lp.shape[1]):.4f}  "
            f"nll {float(-lp.gather(1, y.unsqueeze(1)).mean()):.4f}  |  per text: any-label "
            f"{any_right:.4f}, unambiguous accuracy {float((pu == yu).double().mean()):.4f} "
            f"macro_f1 {f1_mean(pu, yu, lp.shape[1]):.4f}")


def main():
    args = sys.argv[1:]
    prior_counts = None
    if len(args) >= 2 and args[0] == "--prior":
        prior_counts = {}
        for _, _, label in c.read_rows(args[1]):
            prior_counts[label] = prior_counts.get(label, 0) + 1
        args = args[2:]
    if len(args) < 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    data, paths = args[0], args[1:]
    rows = c.read_rows(data)
    models = []
    for path in paths:
        meta, tensors, _ = c.read_model(path)
        models.append((path, *c.build_model(meta, tensors)))
    tasks = {info["task"] for _, _, info in models}
    task = "classifier" if "classifier" in tasks else "generator"
    outputs = next(info["labels"] if task == "classifier" else info["vocab"]
                   for _, _, info in models if info["task"] == task)
    all_lp, y = [], None
    for path, model, info in models:
        if task == "classifier" and info["task"] == "generator":
            if prior_counts is None or not info["categories"]:
                print(f"{path}: a generator joins a classifier ensemble only if conditional, "
                      "with --prior", file=sys.stderr)
                return 1
            ids, _ = c.encode([(line, text, None) for line, text, _ in rows],
                              {**info, "categories": []}, data)
            all_lp.append(bayes_log_posterior(model, info, ids, outputs, prior_counts))
            continue
        names = info["labels"] if task == "classifier" else info["vocab"]
        if sorted(names) != sorted(outputs) or (task == "generator" and names != outputs):
            print(f"{path}: not the outputs of the ensemble's first {task}", file=sys.stderr)
            return 1
        ids, labels = c.encode(rows, info, data)
        lp = log_probs(model, info, ids, labels)
        if task == "classifier":  # columns in the order of outputs, by name
            lp = lp[:, [names.index(name) for name in outputs]]
            y = torch.tensor([outputs.index(label) for _, _, label in rows])
        all_lp.append(lp)
    mean = torch.logsumexp(torch.stack(all_lp), 0) - math.log(len(all_lp))
    texts = [text for _, text, _ in rows]
    for path, lp in list(zip(paths, all_lp)) + [(f"ensemble of {len(paths)}", mean)]:
        if task == "generator":
            print(f"{path}: nll_per_token {float(-lp.mean()):.4f}")
        else:
            print(f"{path}: {classifier_figures(lp, y, texts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
