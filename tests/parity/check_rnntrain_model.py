#!/usr/bin/python3
"""
check_rnntrain_model.py — does a model written by `rnntrain` load in PyTorch,
and does PyTorch compute the same figures from it as `rnntrain eval`?

Run by hand (CI never runs it), with Debian's python3-torch (torch 1.13):

    /usr/bin/python3 tests/parity/check_rnntrain_model.py MODEL.safetensors DATA.tsv|DATA.txt
        [--rnntrain build/src/train/rnntrain]

1. Reads MODEL with the strict safetensors reader of make_golden.py (8-byte LE
   header length, JSON header, contiguous F32 data) plus a few more checks
   (no duplicate JSON keys, exactly dtype/shape/data_offsets per tensor, every
   tensor F32, rnnserve/1 metadata).  If `import safetensors.torch` works the
   file is also read with safetensors.torch.load_file and both must give the
   same tensors bit for bit.
2. Builds the model of DESIGN.md from the metadata alone (the Model class of
   make_golden.py: nn.Embedding, optional category_embedding, nn.RNN(tanh) /
   nn.LSTM / nn.GRU batch_first, bidirectional per metadata, head nn.Linear)
   and calls model.load_state_dict(tensors, strict=True): exact names and shapes.
3. Reads DATA (a TSV text<TAB>label, or one text per line; every row as the
   file has it, no deduplication), applies the model's `normalize`
   (ascii-fold = NFD, then drop U+0300..U+036F) and maps characters to ids
   with the `vocab` metadata (unknown -> <unk> if the vocabulary has it, else
   an error, as rnntrain does).
   classifier: the counts behind accuracy and top3_accuracy, and the confusion
     matrix (exact); accuracy, top3_accuracy, macro_f1 and nll = mean
     cross-entropy (rel 1e-4; rnntrain's JSON prints 15 significant digits);
   generator: nll_per_token = mean -ln p over <bos> c1..cL -> c1..cL <eos>
     (conditional: the TSV's 2nd column is the category), tokens (exact),
     perplexity (rel 1e-4);
   and compares them with `rnntrain eval --model MODEL --data DATA --json`.
4. Prints the figures side by side; exits 0 when everything agrees, 1 on any
   mismatch or fault (file, names, shapes, data), 2 on a usage error.
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ left in tests/parity by the import below

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from make_golden import Model, st_read  # noqa: E402  (the reader and the DESIGN.md model)

REL_TOL = 1e-4
BATCH = 256
MAX_CHARS = 64  # RS_DATA_MAX_CHARS


class Fault(Exception):
    pass


# --------------------------------------------------------------------------
# 1. reading the file
# --------------------------------------------------------------------------


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise Fault(f"duplicate JSON keys in the header: {dup}")
    return dict(pairs)


def read_model(path):
    """(metadata, {name: tensor}) from the strict reader, with extra checks."""
    meta, tensors = st_read(path)  # asserts: header length, padding, contiguity, sizes
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=no_duplicates)
    order = [k for k in header if k != "__metadata__"]
    for name in order:
        entry = header[name]
        if set(entry) != {"dtype", "shape", "data_offsets"}:
            raise Fault(f"{name}: header entry has keys {sorted(entry)}")
        if entry["dtype"] != "F32":
            raise Fault(f"{name}: dtype {entry['dtype']}, expected F32")
        if tensors[name].dtype != torch.float32 or list(tensors[name].shape) != entry["shape"]:
            raise Fault(f"{name}: read back as {tensors[name].dtype} {list(tensors[name].shape)}")
        if not torch.isfinite(tensors[name]).all():
            raise Fault(f"{name}: non-finite values")
    return meta, tensors, order


def check_with_safetensors_package(path, tensors):
    try:
        from safetensors.torch import load_file
    except ImportError:
        return "safetensors package not installed: skipped"
    got = load_file(path)
    if set(got) != set(tensors):
        raise Fault(f"safetensors.torch.load_file names differ: {sorted(set(got) ^ set(tensors))}")
    for k in tensors:
        if got[k].dtype != tensors[k].dtype or not torch.equal(got[k], tensors[k]):
            raise Fault(f"safetensors.torch.load_file: {k} differs from the strict reader")
    return "safetensors.torch.load_file: identical tensors"


# --------------------------------------------------------------------------
# 2. the model from the metadata
# --------------------------------------------------------------------------


def meta_int(meta, key):
    v = meta.get(key)
    if v is None or not v.isdigit():
        raise Fault(f"metadata {key!r} = {v!r}, expected a decimal integer")
    return int(v)


def meta_list(meta, key):
    try:
        v = json.loads(meta[key])
    except (KeyError, ValueError) as e:
        raise Fault(f"metadata {key!r}: {e}")
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v) or len(set(v)) != len(v):
        raise Fault(f"metadata {key!r} is not a JSON array of distinct strings")
    return v


def build_model(meta, tensors):
    if meta.get("format") != "rnnserve/1":
        raise Fault(f"metadata format = {meta.get('format')!r}")
    task = meta.get("task")
    if task not in ("classifier", "generator"):
        raise Fault(f"metadata task = {task!r} (this script knows classifier and generator)")
    cell = meta.get("cell")
    if cell not in ("rnn", "lstm", "gru"):
        raise Fault(f"metadata cell = {cell!r}")
    if meta.get("bidirectional") not in ("true", "false"):
        raise Fault(f"metadata bidirectional = {meta.get('bidirectional')!r}")
    bidirectional = meta["bidirectional"] == "true"
    layers = meta_int(meta, "num_layers")
    hidden = meta_int(meta, "hidden_size")
    embed = meta_int(meta, "embedding_dim")
    category_dim = meta_int(meta, "category_dim")
    vocab = meta_list(meta, "vocab")
    for tok in ("<pad>", "<bos>", "<eos>"):
        if tok not in vocab:
            raise Fault(f"vocab has no {tok}")
    labels = meta_list(meta, "labels") if task == "classifier" else None
    categories = meta_list(meta, "categories") if "categories" in meta else None
    if (categories is not None) != (category_dim > 0) or (categories is not None and
                                                           task != "generator"):
        raise Fault(f"categories {'present' if categories else 'absent'} but category_dim = "
                    f"{category_dim} for a {task}")
    if meta.get("normalize") not in ("ascii-fold", "none"):
        raise Fault(f"metadata normalize = {meta.get('normalize')!r}")
    json.loads(meta.get("training", "{}"))  # must at least be JSON
    n_out = len(labels) if task == "classifier" else len(vocab)
    model = Model(task, cell, len(vocab), embed, hidden, layers, bidirectional, n_out,
                  n_categories=len(categories) if categories else 0, category_dim=category_dim)
    model.load_state_dict(tensors, strict=True)  # the promise: exact names and shapes
    model.eval()
    info = dict(task=task, cell=cell, layers=layers, hidden=hidden, embed=embed,
                bidirectional=bidirectional, category_dim=category_dim, vocab=vocab,
                labels=labels, categories=categories, normalize=meta["normalize"])
    return model, info


# --------------------------------------------------------------------------
# 3. data, normalisation, figures
# --------------------------------------------------------------------------


def normalize(text, mode):
    if mode == "none":
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not 0x300 <= ord(c) <= 0x36F)


def read_rows(path):
    """[(line, text, label or None)], like rnntrain's loader (TSV iff *.tsv)."""
    tsv = path.endswith(".tsv")
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8")  # strict: invalid UTF-8 raises
    lines = raw.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for i, line in enumerate(lines, 1):
        if line.endswith("\r"):
            line = line[:-1]
        if tsv:
            parts = line.split("\t")
            if len(parts) != 2:
                raise Fault(f"{path}:{i}: expected text<TAB>label")
            text, label = parts
        else:
            text, label = line, None
        if not text:
            raise Fault(f"{path}:{i}: empty text")
        rows.append((i, text, label))
    return rows


def encode(rows, info, path):
    """ids per row (list of int lists) and label/category ids (or None)."""
    index = {tok: i for i, tok in enumerate(info["vocab"])}
    unk = index.get("<unk>")
    task, want_label = info["task"], info["task"] == "classifier" or info["categories"]
    names = info["labels"] if task == "classifier" else info["categories"]
    ids, label_ids = [], []
    for line, text, label in rows:
        chars = normalize(text, info["normalize"])
        row = []
        for c in chars:
            if c in index:  # a single character never equals "<pad>" etc.
                row.append(index[c])
            elif unk is not None:
                row.append(unk)
            else:
                raise Fault(f"{path}:{line}: character {c!r} (U+{ord(c):04X}) not in the vocab")
        if not row:
            raise Fault(f"{path}:{line}: empty after normalisation")
        if len(row) > MAX_CHARS:
            raise Fault(f"{path}:{line}: {len(row)} characters, rnntrain takes at most {MAX_CHARS}")
        ids.append(row)
        if want_label:
            if label is None:
                raise Fault(f"{path}: this model needs a TSV with "
                            f"{'labels' if task == 'classifier' else 'categories'}")
            if label not in names:
                raise Fault(f"{path}:{line}: {label!r} is not one the model knows")
            label_ids.append(names.index(label))
        else:
            label_ids.append(None)
    return ids, label_ids


def batches(n):
    for start in range(0, n, BATCH):
        yield start, min(n, start + BATCH)


def classifier_batch(rows):
    """Padded (B, T) tokens and lengths of the characters of each row."""
    T = max(len(r) for r in rows)
    tokens = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        tokens[b, :len(r)] = torch.tensor(r)
    return tokens, torch.tensor([len(r) for r in rows])


def generator_batch(rows, vocab):
    """<bos> c1 .. cL -> c1 .. cL <eos>: (B, T) tokens, (B, T) targets with
    -100 on padding, and lengths L + 1."""
    bos, eos = vocab.index("<bos>"), vocab.index("<eos>")
    T = max(len(r) for r in rows) + 1
    tokens = torch.zeros((len(rows), T), dtype=torch.long)
    targets = torch.full((len(rows), T), -100, dtype=torch.long)
    for b, r in enumerate(rows):
        tokens[b, 0] = bos
        tokens[b, 1:len(r) + 1] = torch.tensor(r)
        targets[b, :len(r)] = torch.tensor(r)
        targets[b, len(r)] = eos
    return tokens, targets, torch.tensor([len(r) + 1 for r in rows])


@torch.no_grad()
def classifier_figures(model, info, ids, label_ids):
    K = len(info["labels"])
    nll, correct, top3 = 0.0, 0, 0
    confusion = [[0] * K for _ in range(K)]
    for s, e in batches(len(ids)):
        rows = ids[s:e]
        tokens, lengths = classifier_batch(rows)
        targets = torch.tensor(label_ids[s:e])
        logits = model(tokens, lengths)
        nll += float(F.cross_entropy(logits.double(), targets, reduction="sum"))
        pred = logits.argmax(dim=1)  # first maximum, as rnntrain's strict '>' scan
        for b in range(len(rows)):
            t, p = int(targets[b]), int(pred[b])
            correct += p == t
            top3 += int((logits[b] > logits[b, t]).sum()) < 3
            confusion[t][p] += 1
    n = len(ids)
    f1s = []
    per_label = {}
    for k in range(K):
        tp = confusion[k][k]
        support = sum(confusion[k])
        predicted = sum(confusion[j][k] for j in range(K))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        if support or predicted:
            f1s.append(f1)
        per_label[info["labels"][k]] = support
    return {"n": n, "accuracy": correct / n, "top3_accuracy": top3 / n, "nll": nll / n,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "confusion": confusion}


@torch.no_grad()
def generator_figures(model, info, ids, label_ids):
    total, count = 0.0, 0
    for s, e in batches(len(ids)):
        tokens, targets, lengths = generator_batch(ids[s:e], info["vocab"])
        cats = torch.tensor(label_ids[s:e]) if info["categories"] else None
        logits = model(tokens, lengths, cats)
        V = logits.shape[-1]
        total += float(F.cross_entropy(logits.reshape(-1, V).double(), targets.reshape(-1),
                                       ignore_index=-100, reduction="sum"))
        count += int(lengths.sum())
    nll = total / count
    return {"n": len(ids), "tokens": count, "nll_per_token": nll, "perplexity": math.exp(nll)}


# --------------------------------------------------------------------------
# 4. comparison
# --------------------------------------------------------------------------


def rnntrain_eval(rnntrain, model_path, data_path):
    cmd = [rnntrain, "eval", "--model", model_path, "--data", data_path, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise Fault(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def compare(ours, theirs, exact, relative):
    ok = True
    print(f"  {'figure':<20} {'PyTorch':>22} {'rnntrain eval':>22}  {'rel diff':>9}")
    for key in exact + relative:
        a, b = ours[key], theirs.get(key)
        if key in exact:
            good = a == b
            rel = ""
        else:
            good = b is not None and abs(a - b) <= REL_TOL * max(abs(a), abs(b))
            rel = f"{abs(a - b) / max(abs(a), abs(b), 1e-300):9.2e}" if b is not None else ""
        fa = f"{a:.12g}" if isinstance(a, float) else str(a)
        fb = f"{b:.12g}" if isinstance(b, float) else str(b)
        if len(fa) > 22 or len(fb) > 22:  # the confusion matrix
            print(f"  {key:<20} {'(' + str(len(a)) + 'x' + str(len(a)) + ')':>22} "
                  f"{'':>22}  {'':>9}  {'ok' if good else 'MISMATCH'}")
            if not good:
                print(f"    PyTorch:       {a}\n    rnntrain eval: {b}")
        else:
            print(f"  {key:<20} {fa:>22} {fb:>22}  {rel:>9}  {'ok' if good else 'MISMATCH'}")
        ok &= good
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--rnntrain", default=os.path.join(ROOT, "build", "src", "train", "rnntrain"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    try:
        meta, tensors, order = read_model(args.model)
        st_note = check_with_safetensors_package(args.model, tensors)
        model, info = build_model(meta, tensors)
        rows = read_rows(args.data)
        ids, label_ids = encode(rows, info, args.data)
    except (Fault, AssertionError, RuntimeError, ValueError, OSError) as e:
        print(f"{args.model}: FAIL: {e}", file=sys.stderr)
        return 1

    state_order = list(model.state_dict().keys())
    n_params = sum(t.numel() for t in tensors.values())
    net = (f"{'bidirectional ' if info['bidirectional'] else ''}{info['cell']} "
           f"{info['layers']}x{info['hidden']}, embedding {info['embed']}"
           + (f", categories {len(info['categories'])}x{info['category_dim']}"
              if info["categories"] else ""))
    print(f"{args.model}: {info['task']}, {net}, vocab {len(info['vocab'])}, "
          f"normalize {info['normalize']}, {n_params} parameters")
    print(f"  strict reader: {len(tensors)} F32 tensors; "
          f"load_state_dict(strict=True): ok; header order "
          f"{'= state_dict order' if order == state_order else '!= state_dict order (harmless)'}")
    print(f"  {st_note}")
    folded = sum(1 for _, t, _ in rows if normalize(t, info["normalize"]) != t)
    print(f"  data {args.data}: {len(rows)} rows, {folded} changed by {info['normalize']}")

    try:
        theirs = rnntrain_eval(args.rnntrain, args.model, args.data)
    except (Fault, OSError, ValueError) as e:
        print(f"  FAIL: rnntrain eval: {e}", file=sys.stderr)
        return 1
    if theirs.get("task") != info["task"]:
        print(f"  MISMATCH: rnntrain eval says task {theirs.get('task')!r}")
        return 1
    if info["task"] == "classifier":
        ours = classifier_figures(model, info, ids, label_ids)
        theirs["confusion"] = [[int(x) for x in r] for r in theirs["confusion"]["matrix"]]
        # rnntrain's JSON (cJSON) prints doubles with 15 significant digits, so a
        # ratio like 1144/1855 does not come back as the same double: compare the
        # counts behind accuracy and top3_accuracy exactly instead.
        n = ours["n"]
        for key in ("accuracy", "top3_accuracy"):
            ours[key + "_count"] = round(ours[key] * n)
            theirs[key + "_count"] = round(theirs[key] * n)
            if abs(theirs[key] - theirs[key + "_count"] / n) > 1e-12:
                theirs[key + "_count"] = theirs[key]  # not a count over n: fail below
        ok = compare(ours, theirs, ["n", "accuracy_count", "top3_accuracy_count", "confusion"],
                     ["accuracy", "top3_accuracy", "nll", "macro_f1"])
    else:
        ours = generator_figures(model, info, ids, label_ids)
        ok = compare(ours, theirs, ["n", "tokens"], ["nll_per_token", "perplexity"])
    print("  => " + ("OK" if ok else "MISMATCH"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
