#!/usr/bin/python3
"""
ensemble_eval.py — how well would an ensemble of models score?  The figure
that tells whether distilling from them (rnntrain --teachers) is worth it.

Run by hand (never needed to build, serve or test), with Debian's
python3-torch:

    /usr/bin/python3 models/ensemble_eval.py [--prior TRAIN.tsv] [--fit-bias VALID.tsv]
        DATA.txt|DATA.tsv MODEL.safetensors...

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

With --fit-bias VALID.tsv (classifiers; VALID must be rows none of the
models trained on, such as the classifier's own validation split), per-label
log-offsets b are added to the ensemble's log-probabilities, argmax(log p +
b), fitted on VALID to maximise macro-F1, two ways: "coordinate" (each label
in turn, b_k in -3..3 by 0.1, four rounds, a tie to the smaller |b_k|) and
"bagged" (the same over -1..1 by 0.25, two rounds, averaged over 16
bootstrap resamples of VALID).  For each it prints the 2-fold
cross-validated figures on VALID (fitted on one half, scored on the other)
and DATA's figures with b fitted on all of VALID.
"""

import math
import os
import random
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


def ensemble(rows, data, models, task, outputs, prior_counts):
    """Each model's log-probabilities over rows, and the gold label ids."""
    all_lp, y = [], None
    for path, model, info in models:
        if task == "classifier" and info["task"] == "generator":
            if prior_counts is None or not info["categories"]:
                raise c.Fault(f"{path}: a generator joins a classifier ensemble only if "
                              "conditional, with --prior")
            ids, _ = c.encode([(line, text, None) for line, text, _ in rows],
                              {**info, "categories": []}, data)
            all_lp.append(bayes_log_posterior(model, info, ids, outputs, prior_counts))
            continue
        names = info["labels"] if task == "classifier" else info["vocab"]
        if sorted(names) != sorted(outputs) or (task == "generator" and names != outputs):
            raise c.Fault(f"{path}: not the outputs of the ensemble's first {task}")
        ids, labels = c.encode(rows, info, data)
        lp = log_probs(model, info, ids, labels)
        if task == "classifier":  # columns in the order of outputs, by name
            lp = lp[:, [names.index(name) for name in outputs]]
        all_lp.append(lp)
    if task == "classifier":
        y = torch.tensor([outputs.index(label) for _, _, label in rows])
    return all_lp, y


def fit_bias(lp, y, grid, rounds):
    """Per-label offsets b maximising macro-F1 of argmax(lp + b), by
    coordinate ascent over grid (a tie keeps the smaller |b_k|)."""
    K = lp.shape[1]
    b = torch.zeros(K, dtype=torch.double)
    best = f1_mean((lp + b).argmax(1), y, K)
    for _ in range(rounds):
        for k in range(K):
            for g in sorted(grid, key=abs):
                trial = b.clone()
                trial[k] = g
                f = f1_mean((lp + trial).argmax(1), y, K)
                if f > best:
                    best, b = f, trial
    return b


def fit_coordinate(lp, y):
    return fit_bias(lp, y, [k / 10 for k in range(-30, 31)], 4)


def fit_bagged(lp, y, n=16):
    rng, total = random.Random(1), torch.zeros(lp.shape[1], dtype=torch.double)
    for _ in range(n):
        idx = torch.tensor([rng.randrange(len(y)) for _ in range(len(y))])
        total += fit_bias(lp[idx], y[idx], [k / 4 for k in range(-4, 5)], 2)
    return total / n


def short(lp, y):
    pred = lp.argmax(1)
    return (f"accuracy {float((pred == y).double().mean()):.4f}  "
            f"macro_f1 {f1_mean(pred, y, lp.shape[1]):.4f}")


def main():
    args = sys.argv[1:]
    prior_counts, valid = None, None
    while len(args) >= 2 and args[0] in ("--prior", "--fit-bias"):
        if args[0] == "--prior":
            prior_counts = {}
            for _, _, label in c.read_rows(args[1]):
                prior_counts[label] = prior_counts.get(label, 0) + 1
        else:
            valid = args[1]
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
    if valid and task != "classifier":
        print("--fit-bias is for classifiers", file=sys.stderr)
        return 2
    outputs = next(info["labels"] if task == "classifier" else info["vocab"]
                   for _, _, info in models if info["task"] == task)
    try:
        all_lp, y = ensemble(rows, data, models, task, outputs, prior_counts)
    except c.Fault as e:
        print(e, file=sys.stderr)
        return 1
    mean = torch.logsumexp(torch.stack(all_lp), 0) - math.log(len(all_lp))
    texts = [text for _, text, _ in rows]
    for path, lp in list(zip(paths, all_lp)) + [(f"ensemble of {len(paths)}", mean)]:
        if task == "generator":
            print(f"{path}: nll_per_token {float(-lp.mean()):.4f}")
        else:
            print(f"{path}: {classifier_figures(lp, y, texts)}")
    if valid:
        vrows = c.read_rows(valid)
        vlp, vy = ensemble(vrows, valid, models, task, outputs, prior_counts)
        vmean = torch.logsumexp(torch.stack(vlp), 0) - math.log(len(vlp))
        order = list(range(len(vy)))
        random.Random(7).shuffle(order)
        halves = [torch.tensor(sorted(order[h::2])) for h in range(2)]
        print(f"\nper-label offsets fitted on {valid} ({len(vy)} rows); without: "
              f"{short(vmean, vy)} on it")
        for name, fit in (("coordinate", fit_coordinate), ("bagged", fit_bagged)):
            cv = []
            for h in range(2):
                fitted, scored = halves[h], halves[1 - h]
                b = fit(vmean[fitted], vy[fitted])
                cv.append(((vmean[scored] + b).argmax(1), vy[scored]))
            pred, gold = torch.cat([p for p, _ in cv]), torch.cat([g for _, g in cv])
            cv_none = torch.cat([vmean[halves[1 - h]].argmax(1) for h in range(2)])
            b = fit(vmean, vy)
            print(f"{name}: 2-fold on {valid}: accuracy "
                  f"{float((cv_none == gold).double().mean()):.4f} -> "
                  f"{float((pred == gold).double().mean()):.4f}, macro_f1 "
                  f"{f1_mean(cv_none, gold, len(outputs)):.4f} -> "
                  f"{f1_mean(pred, gold, len(outputs)):.4f}")
            print(f"  {data} with b fitted on all of it: {short(mean + b, y)}")
            print("  b: " + " ".join(f"{label} {float(v):+.2f}" for label, v in zip(outputs, b)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
