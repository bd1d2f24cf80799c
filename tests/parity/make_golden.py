#!/usr/bin/python3
"""
make_golden.py — PyTorch reference outputs for rnnserve's parity tests.

Run by hand (CI never runs it; it only reads the committed files):

    /usr/bin/python3 tests/parity/make_golden.py            # writes tests/parity/golden/
    /usr/bin/python3 tests/parity/make_golden.py --out DIR  # elsewhere

Needs Debian's python3-torch (torch 1.13) and nothing else: the safetensors
container is written by hand (the `safetensors` package is not required) and
read back and checked by a small reader below; if the package happens to be
importable the files are also checked with safetensors.torch.load_file.

For each cell in rnn, lstm, gru and each case below it writes

    golden/{cell}_{case}.model.safetensors   the model of DESIGN.md: every
        parameter F32 under its exact PyTorch state_dict name, plus the
        rnnserve/1 metadata;
    golden/{cell}_{case}.expect.safetensors  one batch and what PyTorch makes
        of it: tokens, lengths, targets[, categories], logits, loss,
        grad.<param> for every parameter, adam_losses (5 steps of Adam with
        weight decay and gradient clipping on that batch).

Cases: classifier_l1 (1 layer), classifier_bi2 (2 layers, bidirectional),
generator_l2 (2 layers), generator_cond (1 layer, conditioned on a category);
and one more, lstm_generator_v6k: a 2-layer LSTM generator whose vocabulary
is 6,000 tokens (the 5,997 commonest characters of data/tang_poems.txt), as
big as a poem model's, with small E and H so that the files stay small.

Everything is float32 and deterministic: one fixed seed per case, one thread.
"""

import argparse
import copy
import datetime
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SEED = 20240601

CHARS = list("abcdefghi")
VOCAB = ["<pad>", "<bos>", "<eos>"] + CHARS  # V = 12, id 0 = <pad>
PAD, BOS, EOS = 0, 1, 2
LABELS = ["English", "French", "Japanese", "Russian"]  # K = 4
CATEGORIES = ["Czech", "Greek", "Irish"]  # C = 3

EMBEDDING_DIM = 5
HIDDEN_SIZE = 7
CATEGORY_DIM = 3
GARBAGE = 5  # token id written at padded positions: must never be read

B, T = 4, 6
CLASSIFIER_LENGTHS = [6, 3, 1, 5]
# Generator rows: lengths L + 1 of "<bos> c1..cL"; the longest is not the first
# row, and a length of 1 (an empty name: <bos> -> <eos>) is included.
GENERATOR_LENGTHS = [4, 6, 1, 3]
CATEGORY_IDS = [2, 0, 1, 2]

ADAM_LR = 0.01
ADAM_WEIGHT_DECAY = 0.01
CLIP = 1.0
# With these small models every initial gradient norm is below 1.0, so CLIP never
# bites; a second run with SMALL_CLIP (below every initial norm) exercises the
# scaling itself.
SMALL_CLIP = 0.1
STEPS = 5

# The big-vocabulary case (generator_v6k): V = 6,000 (3 specials and the
# BIG_CHARS commonest characters of the Tang poems, in code point order as
# rnntrain writes a vocabulary), tiny E and H (the embedding and the output
# layer are V rows each, and the expectation holds their gradients and the
# logits: about 0.5 MB in all), one short batch.
BIG_CASE = "generator_v6k"
BIG_CHARS = 5997
BIG_EMBEDDING_DIM = 2
BIG_HIDDEN_SIZE = 4
BIG_LAYERS = 2
BIG_T = 3
BIG_LENGTHS = [3, 2]
POEMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                     "tang_poems.txt")


def big_vocab():
    """<pad> <bos> <eos>, then the BIG_CHARS commonest characters of the
    poems (line breaks aside; ties to the lower code point) by code point."""
    counts = {}
    with open(POEMS, encoding="utf-8") as f:
        for ch in f.read():
            if ch != "\n":
                counts[ch] = counts.get(ch, 0) + 1
    assert len(counts) >= BIG_CHARS, len(counts)
    common = sorted(counts, key=lambda c: (-counts[c], c))[:BIG_CHARS]
    return ["<pad>", "<bos>", "<eos>"] + sorted(common)

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# --------------------------------------------------------------------------
# The model of DESIGN.md
# --------------------------------------------------------------------------


class Model(nn.Module):
    def __init__(self, task, cell, vocab, embedding_dim, hidden, num_layers, bidirectional,
                 n_outputs, n_categories=0, category_dim=0):
        super().__init__()
        self.task = task
        self.cell = cell
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab, embedding_dim)
        if category_dim:
            self.category_embedding = nn.Embedding(n_categories, category_dim)
        else:
            self.category_embedding = None
        kwargs = dict(num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                      dropout=0.0)
        if cell == "rnn":
            kwargs["nonlinearity"] = "tanh"
        self.rnn = CELLS[cell](embedding_dim + category_dim, hidden, **kwargs)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_outputs)

    def inputs(self, tokens, categories):
        x = self.embedding(tokens.long())  # (B, T, E)
        if self.category_embedding is not None:
            c = self.category_embedding(categories.long())  # (B, Ec)
            x = torch.cat([x, c.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=2)
        return x

    def forward(self, tokens, lengths, categories=None):
        """Classifier: logits (B, K).  Generator: logits (B, T, V), padded rows 0."""
        x = self.inputs(tokens, categories)
        packed = pack_padded_sequence(x, lengths.cpu().long(), batch_first=True,
                                      enforce_sorted=False)
        out, h = self.rnn(packed)
        if self.cell == "lstm":
            h = h[0]  # (h_n, c_n) -> h_n
        if self.task == "classifier":
            # h_n: (num_layers * D, B, H), ordered l0 fwd, l0 bwd, l1 fwd, l1 bwd, …
            # and already permuted back to the caller's batch order.
            if self.bidirectional:
                feat = torch.cat([h[-2], h[-1]], dim=1)  # top fwd final ⊕ top bwd final
            else:
                feat = h[-1]
            return self.head(feat)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        logits = self.head(out)  # padded rows of `out` are 0, so their logits = bias
        mask = (torch.arange(tokens.shape[1])[None, :] < lengths[:, None].long())
        return torch.where(mask[:, :, None], logits, torch.zeros_like(logits))  # +0.0, not -0.0


def loss_of(model, logits, targets):
    if model.task == "classifier":
        return F.cross_entropy(logits, targets.long())
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(), ignore_index=-100)


# --------------------------------------------------------------------------
# Independent reference: every row run alone, unpacked, for the self-check
# --------------------------------------------------------------------------


def reference_logits(model, tokens, lengths, categories):
    rows = []
    for b in range(tokens.shape[0]):
        n = int(lengths[b])
        cat = categories[b:b + 1] if categories is not None else None
        x = model.inputs(tokens[b:b + 1, :n], cat)  # (1, n, In)
        out, h = model.rnn(x)
        if model.cell == "lstm":
            h = h[0]
        H = model.rnn.hidden_size
        if model.task == "classifier":
            if model.bidirectional:
                # forward final = output at n-1 (first half); backward final = output at 0
                feat = torch.cat([out[0, n - 1, :H], out[0, 0, H:]])
                assert torch.allclose(feat, torch.cat([h[-2, 0], h[-1, 0]]), atol=1e-6)
            else:
                feat = out[0, n - 1]
                assert torch.allclose(feat, h[-1, 0], atol=1e-6)
            rows.append(model.head(feat))
        else:
            lg = torch.zeros(tokens.shape[1], model.head.out_features)
            lg[:n] = model.head(out[0])
            rows.append(lg)
    return torch.stack(rows)


# --------------------------------------------------------------------------
# safetensors, written and read without the `safetensors` package
# --------------------------------------------------------------------------

DTYPES = {torch.float32: ("F32", 4), torch.int32: ("I32", 4)}
DTYPE_SIZE = {"F32": 4, "I32": 4, "I64": 8, "F64": 8, "F16": 2, "BF16": 2, "U8": 1, "I8": 1}


def st_bytes(tensors, metadata):
    """tensors: list of (name, tensor) in file order; metadata: dict str -> str."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous()
        dtype, size = DTYPES[t.dtype]
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        assert len(raw) == t.numel() * size
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    for k, v in metadata.items():
        assert isinstance(k, str) and isinstance(v, str), (k, v)
    header["__metadata__"] = dict(metadata)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def st_read(path):
    """A strict little reader: returns (metadata, {name: tensor})."""
    import numpy as np

    with open(path, "rb") as f:
        blob = f.read()
    assert len(blob) >= 8, "short file"
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0 and 8 + n <= len(blob), "bad header length"
    head = blob[8:8 + n]
    assert head[:1] == b"{" and head.rstrip(b" ")[-1:] == b"}", "header not a padded object"
    header = json.loads(head.decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in header.items())
    pos = 0
    for b0, b1, k in spans:
        assert b0 == pos, f"{path}: {k} not contiguous ({b0} != {pos})"
        pos = b1
    assert pos == len(data), f"{path}: data buffer {len(data)} bytes, tensors cover {pos}"
    out = {}
    npdt = {"F32": "<f4", "I32": "<i4"}
    for k, v in header.items():
        numel = 1
        for d in v["shape"]:
            assert isinstance(d, int) and d >= 0
            numel *= d
        b0, b1 = v["data_offsets"]
        assert b1 - b0 == numel * DTYPE_SIZE[v["dtype"]], f"{k}: size mismatch"
        arr = np.frombuffer(data[b0:b1], dtype=npdt[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.copy())
    return meta, out


def write(path, tensors, metadata):
    blob = st_bytes(tensors, metadata)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return len(blob)


# --------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------


def classifier_batch(gen):
    lengths = torch.tensor(CLASSIFIER_LENGTHS, dtype=torch.int32)
    tokens = torch.full((B, T), GARBAGE, dtype=torch.int32)
    for b, n in enumerate(CLASSIFIER_LENGTHS):
        tokens[b, :n] = torch.randint(3, len(VOCAB), (n,), generator=gen, dtype=torch.int32)
    targets = torch.randint(0, len(LABELS), (B,), generator=gen, dtype=torch.int32)
    return tokens, lengths, targets


def generator_batch(gen, all_lengths=GENERATOR_LENGTHS, steps=T, vocab_size=len(VOCAB),
                    last_first=False):
    """last_first: row 0's first character is the last id of the vocabulary
    (the last rows of the embedding and the output layer)."""
    rows = len(all_lengths)
    lengths = torch.tensor(all_lengths, dtype=torch.int32)
    tokens = torch.full((rows, steps), GARBAGE, dtype=torch.int32)
    targets_pt = torch.full((rows, steps), -100, dtype=torch.int32)
    for b, n in enumerate(all_lengths):
        chars = torch.randint(3, vocab_size, (n - 1,), generator=gen, dtype=torch.int32)
        if last_first and b == 0:
            chars[0] = vocab_size - 1
        tokens[b, 0] = BOS
        tokens[b, 1:n] = chars
        targets_pt[b, :n - 1] = chars
        targets_pt[b, n - 1] = EOS
    targets_file = targets_pt.clone()
    targets_file[targets_file == -100] = 0
    return tokens, lengths, targets_pt, targets_file


# --------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------


def make_case(outdir, cell, case, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    big = case == BIG_CASE
    vocab = big_vocab() if big else VOCAB
    V = len(vocab)
    E, H = (BIG_EMBEDDING_DIM, BIG_HIDDEN_SIZE) if big else (EMBEDDING_DIM, HIDDEN_SIZE)
    conditional = case == "generator_cond"
    if case.startswith("classifier"):
        task, K = "classifier", len(LABELS)
    else:
        task, K = "generator", V
    num_layers = {"classifier_l1": 1, "classifier_bi2": 2, "generator_l2": 2,
                  "generator_cond": 1, BIG_CASE: BIG_LAYERS}[case]
    bidirectional = case == "classifier_bi2"
    model = Model(task, cell, V, E, H, num_layers, bidirectional, K,
                  n_categories=len(CATEGORIES) if conditional else 0,
                  category_dim=CATEGORY_DIM if conditional else 0)
    model.train()  # dropout is 0 everywhere, so train() and eval() agree

    categories = None
    if task == "classifier":
        tokens, lengths, targets = classifier_batch(gen)
        targets_file = targets
    elif big:
        tokens, lengths, targets, targets_file = generator_batch(
            gen, BIG_LENGTHS, BIG_T, V, last_first=True)
    else:
        tokens, lengths, targets, targets_file = generator_batch(gen)
        if conditional:
            categories = torch.tensor(CATEGORY_IDS, dtype=torch.int32)

    state = copy.deepcopy(model.state_dict())
    names = list(state.keys())

    # forward, loss, gradients
    model.zero_grad()
    logits = model(tokens, lengths, categories)
    loss = loss_of(model, logits, targets)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    assert list(grads.keys()) == names

    # self-checks: packing semantics against rows run one by one; padding never read
    with torch.no_grad():
        ref = reference_logits(model, tokens, lengths, categories)
        assert torch.allclose(ref, logits, atol=1e-5), (cell, case, (ref - logits).abs().max())
        tok2 = tokens.clone()
        for b, n in enumerate(lengths.tolist()):
            tok2[b, n:] = 7
        assert torch.equal(model(tok2, lengths, categories), logits)
        # the mean is over sum(lengths) targets for a generator
        if task == "generator":
            lp = F.log_softmax(logits, dim=-1)
            nll = 0.0
            for b, n in enumerate(lengths.tolist()):
                for t in range(n):
                    nll -= float(lp[b, t, int(targets[b, t])])
            assert abs(nll / int(lengths.sum()) - float(loss)) < 1e-5

    # Adam with L2 weight decay and gradient clipping, full batch, 5 steps
    def train(clip):
        trainee = copy.deepcopy(model)
        trainee.load_state_dict(state)
        params = list(trainee.parameters())
        opt = torch.optim.Adam(params, lr=ADAM_LR, betas=(0.9, 0.999), eps=1e-8,
                               weight_decay=ADAM_WEIGHT_DECAY)
        losses, norms = [], []
        for _ in range(STEPS):
            opt.zero_grad()
            l = loss_of(trainee, trainee(tokens, lengths, categories), targets)
            losses.append(float(l))
            l.backward()
            # clip_grad_norm_ returns the norm before clipping
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, clip)))
            opt.step()
        return losses, norms

    adam_losses, adam_norms = train(CLIP)
    small_losses, small_norms = train(SMALL_CLIP)
    assert adam_losses[0] == float(loss) == small_losses[0]
    assert small_norms[0] > SMALL_CLIP, (cell, case, small_norms)

    # model file
    meta = {
        "format": "rnnserve/1",
        "task": task,
        "cell": cell,
        "num_layers": str(num_layers),
        "hidden_size": str(H),
        "embedding_dim": str(E),
        "category_dim": str(CATEGORY_DIM if conditional else 0),
        "bidirectional": "true" if bidirectional else "false",
        "vocab": json.dumps(vocab, ensure_ascii=False, separators=(",", ":")),
    }
    if task == "classifier":
        meta["labels"] = json.dumps(LABELS, ensure_ascii=False, separators=(",", ":"))
    if conditional:
        meta["categories"] = json.dumps(CATEGORIES, ensure_ascii=False, separators=(",", ":"))
    meta["normalize"] = "none"
    meta["training"] = "{}"
    stem = f"{cell}_{case}"
    model_path = os.path.join(outdir, stem + ".model.safetensors")
    size_model = write(model_path, [(n, state[n].float()) for n in names], meta)

    # expectation file
    ex = [("tokens", tokens), ("lengths", lengths), ("targets", targets_file.to(torch.int32))]
    if conditional:
        ex.append(("categories", categories))
    ex.append(("logits", logits.detach().float()))
    ex.append(("loss", loss.detach().float().reshape(1)))
    ex += [("grad." + n, grads[n].float()) for n in names]
    ex.append(("adam_losses", torch.tensor(adam_losses, dtype=torch.float32)))
    ex.append(("adam_grad_norms", torch.tensor(adam_norms, dtype=torch.float32)))
    ex.append(("adam_small_clip_losses", torch.tensor(small_losses, dtype=torch.float32)))
    ex.append(("adam_small_clip_grad_norms", torch.tensor(small_norms, dtype=torch.float32)))
    exmeta = {"case": stem, "torch": torch.__version__, "seed": str(seed),
              "adam_lr": repr(ADAM_LR), "adam_weight_decay": repr(ADAM_WEIGHT_DECAY),
              "adam_betas": "0.9,0.999", "adam_eps": "1e-08", "clip": repr(CLIP),
              "small_clip": repr(SMALL_CLIP),
              "steps": str(STEPS)}
    expect_path = os.path.join(outdir, stem + ".expect.safetensors")
    size_expect = write(expect_path, ex, exmeta)

    verify(model_path, expect_path, model, state, ex, meta, exmeta, categories)
    return [(model_path, size_model), (expect_path, size_expect)], \
        {k: (str(v.dtype).replace("torch.", ""), tuple(v.shape)) for k, v in ex}


def verify(model_path, expect_path, model, state, ex, meta, exmeta, categories):
    m_meta, m_t = st_read(model_path)
    assert m_meta == meta and list(m_t.keys()) == list(state.keys())
    for n, v in state.items():
        assert m_t[n].dtype == torch.float32 and torch.equal(m_t[n], v), n
    e_meta, e_t = st_read(expect_path)
    assert e_meta == exmeta and list(e_t.keys()) == [k for k, _ in ex]
    for k, v in ex:
        assert torch.equal(e_t[k], v.detach()), k
    # reload into a fresh model and recompute the logits from the files alone
    fresh = copy.deepcopy(model)
    fresh.load_state_dict(m_t)
    with torch.no_grad():
        cats = e_t.get("categories")
        lg = fresh(e_t["tokens"], e_t["lengths"], cats)
    assert torch.equal(lg, e_t["logits"])
    try:
        from safetensors.torch import load_file  # optional
    except ImportError:
        return
    for path, ref in ((model_path, m_t), (expect_path, e_t)):
        got = load_file(path)
        assert set(got) == set(ref) and all(torch.equal(got[k], ref[k]) for k in ref), path


# --------------------------------------------------------------------------

README = """# Parity golden files

PyTorch reference outputs that the C parity tests compare rnnserve against.
Generated by `tests/parity/make_golden.py`; CI never runs the script, it only
reads these files with rnnserve's own safetensors reader.

Regenerated with

    {command}

torch {torch} (Debian python3-torch), {date}; `torch.manual_seed({seed} + 10 * case index)`,
one thread, float32 throughout.  The `safetensors` package was {st}: the
container is written by the script itself and read back by its own strict
reader{st_check}.

## Cases

For each cell `rnn` (tanh), `lstm`, `gru`:

| case | task | layers | bidirectional | conditional | K | lengths |
|---|---|---|---|---|---|---|
| `{{cell}}_classifier_l1`  | classifier | 1 | no  | no | 4 | {cl} |
| `{{cell}}_classifier_bi2` | classifier | 2 | yes | no | 4 | {cl} |
| `{{cell}}_generator_l2`   | generator  | 2 | no  | no | V = 12 | {gl} |
| `{{cell}}_generator_cond` | generator  | 1 | no  | yes (C = 3, Ec = 3) | V = 12 | {gl} |

Common sizes: V = 12 (`{vocab}`), E = {E}, H = {H}, B = {B}, T = {T}, dropout 0.

And one case with a vocabulary as big as a poem model's:

| case | task | cell | layers | V | E | H | B | T | lengths |
|---|---|---|---|---|---|---|---|---|---|
| `lstm_generator_v6k` | generator | lstm | {big_layers} | {big_V} | {big_E} | {big_H} | {big_B} | {big_T} | {big_lengths} |

Its vocabulary is `<pad>`, `<bos>`, `<eos>` and the {big_chars} commonest characters of
`data/tang_poems.txt` (line breaks aside, ties to the lower code point), in code
point order as `rnntrain` writes one: `{big_first}` … `{big_last}`.  Row 0's first
character is the last id, {big_last_id}, so the last rows of the embedding and of the output
layer are read and trained (6,000 outputs are not a multiple of `rs_linear`'s
64-column panels: the last panel is partial).  E and H are tiny because the
embedding and the output layer have V rows each and the expectation holds their
gradients and the (B, T, V) logits; the files are compared exactly as the
others' (loss, logits, every gradient, the Adam runs, the inference paths).

## `{{case}}.model.safetensors`

The model exactly as DESIGN.md defines it: every parameter F32 under its
PyTorch `state_dict` name and shape (`embedding.weight`, `category_embedding.weight`,
`rnn.weight_ih_l0`, …, `rnn.bias_hh_l1_reverse`, `head.weight`, `head.bias`), in
`state_dict` order, PyTorch's default initialisation, and the `rnnserve/1`
`__metadata__` (`format`, `task`, `cell`, `num_layers`, `hidden_size`,
`embedding_dim`, `category_dim`, `bidirectional`, `vocab`, `labels` (classifier),
`categories` (conditional generator), `normalize` = `none`, `training` = `{{}}`).

## `{{case}}.expect.safetensors`

One batch and what PyTorch computes on it with the model above:

| tensor | dtype | shape | meaning |
|---|---|---|---|
| `tokens` | I32 | (B, T) | input ids; padded positions hold the garbage id {garbage} (never read) |
| `lengths` | I32 | (B) | valid steps per row |
| `targets` | I32 | classifier (B); generator (B, T) | label ids; next-token ids (`c1..cL <eos>`), 0 at padded positions (PyTorch used -100 / ignore_index there) |
| `categories` | I32 | (B) | conditional generator only |
| `logits` | F32 | classifier (B, K); generator (B, T, V) batch-first | padded generator rows written as 0 |
| `loss` | F32 | (1) | mean cross-entropy: over B rows, or over sum(lengths) positions for a generator |
| `grad.<param>` | F32 | as the parameter | d loss / d param from `loss.backward()`, one per model tensor |
| `adam_losses` | F32 | (5) | loss at the start of each of 5 full-batch steps of `torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)` with `clip_grad_norm_(params, 1.0)` before each step; `adam_losses[0] == loss` |
| `adam_grad_norms` | F32 | (5) | what `clip_grad_norm_` returned at each of those steps: the L2 norm of all gradients before clipping (weight decay not included) |
| `adam_small_clip_losses` | F32 | (5) | the same run with `clip_grad_norm_(params, 0.1)` (metadata `small_clip`); every initial norm here is below 1.0, so only this run exercises the scaling |
| `adam_small_clip_grad_norms` | F32 | (5) | the norms returned in that run |

Its `__metadata__`: `case`, `torch`, `seed`, `adam_lr`, `adam_weight_decay`,
`adam_betas`, `adam_eps`, `clip`, `small_clip`, `steps`.

PyTorch details the C side must match: `clip_grad_norm_` scales by
`min(1, max_norm / (norm + 1e-6))` (note the 1e-6); Adam adds
`weight_decay * θ` to the already clipped gradient (L2, not AdamW) and updates
`θ -= lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)`.

Classifier feature: the top layer's final hidden state, `h_n[-1]`, or
`cat(h_n[-2], h_n[-1])` when bidirectional (h_n is ordered layer 0 forward,
layer 0 backward, layer 1 forward, layer 1 backward; the backward final state
is the reverse direction's output at position 0).  Inputs go through
`pack_padded_sequence(enforce_sorted=False)`; generator outputs come back via
`pad_packed_sequence(total_length=T)`.  The script checks every case against
each row run alone without packing, that changing the padding tokens changes
nothing, and that each file reads back bit-exactly.

## Files

{files}

Total: {total} bytes.
"""


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "golden"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)

    cases = ["classifier_l1", "classifier_bi2", "generator_l2", "generator_cond"]
    written = []
    specs = {}
    i = 0
    for cell in ("rnn", "lstm", "gru"):
        for case in cases:
            files, spec = make_case(args.out, cell, case, SEED + 10 * i)
            written += files
            specs[f"{cell}_{case}"] = spec
            i += 1
    files, spec = make_case(args.out, "lstm", BIG_CASE, SEED + 10 * i)
    written += files
    specs[f"lstm_{BIG_CASE}"] = spec
    bv = big_vocab()
    try:
        import safetensors  # noqa: F401
        st, st_check = "installed", " and by `safetensors.torch.load_file`"
    except ImportError:
        st, st_check = "not installed", ""
    total = sum(s for _, s in written)
    rows = "\n".join(f"- `{os.path.basename(p)}` ({s} bytes)" for p, s in written)
    cmd = "/usr/bin/python3 tests/parity/make_golden.py"
    if os.path.abspath(args.out) != os.path.join(here, "golden"):
        cmd += f" --out {args.out}"
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(README.format(command=cmd, torch=torch.__version__,
                              date=datetime.date.today().isoformat(), seed=SEED, st=st,
                              st_check=st_check, cl=CLASSIFIER_LENGTHS, gl=GENERATOR_LENGTHS,
                              vocab=json.dumps(VOCAB), E=EMBEDDING_DIM, H=HIDDEN_SIZE, B=B, T=T,
                              garbage=GARBAGE, files=rows, total=total,
                              big_layers=BIG_LAYERS, big_V=len(bv), big_E=BIG_EMBEDDING_DIM,
                              big_H=BIG_HIDDEN_SIZE, big_B=len(BIG_LENGTHS), big_T=BIG_T,
                              big_lengths=BIG_LENGTHS, big_chars=BIG_CHARS, big_first=bv[3],
                              big_last=bv[-1], big_last_id=len(bv) - 1))
    for p, s in written:
        print(f"{s:8d}  {p}")
    print(f"{total:8d}  total ({len(written)} files)")
    if os.environ.get("GOLDEN_VERBOSE"):
        for k, spec in specs.items():
            print(k, spec)


if __name__ == "__main__":
    main()
