#!/usr/bin/python3
"""
flask_server.py — the Flask + PyTorch side of bench/serve_vs_flask.sh: the
same model files and the same JSON API as rnnserve (POST /classify, POST
/generate, POST /translate, GET /healthz, /readyz, /v1/models), served by
gunicorn.

    FLASK_MODELS=models:/tmp/other OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
    /usr/bin/python3 -m gunicorn -w 2 -k sync -b 127.0.0.1:8090 \\
        --chdir bench flask_server:app

FLASK_MODELS is a ':'-separated list of folders; every *.safetensors file in
them is loaded at import (so in each gunicorn worker), named after its file
name without the extension, as rnnserve names them.  Run it with Debian's
python3-torch, python3-flask and gunicorn (torch 1.13 under /usr/bin/python3).

The model is the one of ../shared/DESIGN.md, built from the file's
__metadata__ and loaded with load_state_dict(strict=True):
nn.Embedding -> [concat nn.Embedding(category)] -> nn.LSTM / nn.GRU /
nn.RNN(tanh) (batch_first=True) -> nn.Linear.

  * /classify: the name is normalised (ascii-fold: NFD, combining marks
    U+0300-U+036F dropped), encoded character by character (<unk> where the
    vocabulary has one, else 422), run through the RNN in one call; the
    final hidden state of the top layer (forward final (+) backward final
    when bidirectional) goes through the head; softmax; the top_k labels
    (default 3), most likely first.
  * /generate: <bos> + prefix in one RNN call (the log-probabilities of the
    prefix characters are summed as rnnserve does), then one RNN step per
    sampled character until <eos> or max_length characters (prefix
    included; default max(24, prefix length)); <pad>, <bos> and <unk> are
    never sampled; temperature (0 = greedy), top_k, top_p; a conditional
    model takes "category" or draws one per sample.  log_prob is the sum of
    the untempered log-softmax at each chosen token, <eos> included, as in
    rnnserve.  A seed gives reproducible answers from this server (its
    random stream is torch's, not rnnserve's, so the samples differ).

  * /translate (a translator file, task "translator": bench/translator_torch.py's
    Translator, the DESIGN.md encoder-decoder with attention, built from
    the metadata src_vocab, tgt_vocab, cell, num_layers, hidden_size,
    embedding_dim, bidirectional, src_elision): "text" (or "texts") cut
    into words as rnnserve cuts it (lower-cased, punctuation split off,
    <unk> for a word not in src_vocab, <eos> appended); the encoder in one
    nn call; beam search as include/rnnserve/beam.h defines it, one decoder
    step (nn.GRU/LSTM/RNN on the live hypotheses as a batch) at a time:
    beam_size (1-16, default 4), n_best (default 1), max_length (tokens,
    <eos> included; default 50), length_penalty (default 1.0: ranked by
    log_prob / length^alpha).  Reply {"model", "source_tokens",
    "unknown_words", "translations": [{"text", "tokens", "log_prob",
    "score", "finished"}]} (for "texts": "results", a list of those);
    no attention weights, no replace_unknown.

torch.set_num_threads(1): one thread per worker process, the workers are
the parallelism.  Validation is lighter than rnnserve's (the bench sends
valid requests), but bad input still gets a JSON error, never a 500 page.
"""

import json
import os
import random
import struct
import sys
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F
from flask import Flask, jsonify, request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import translator_torch as tt  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass

MAX_EXACT_INT = (1 << 53) - 1


# ---------------------------------------------------------------------------
# Model files
# ---------------------------------------------------------------------------

def read_safetensors(path):
    """(tensors by name, metadata dict) of a safetensors file of F32 tensors
    (and a translator's I32 shortlist.lexical)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: truncated" % path)
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        dtype = {"F32": torch.float32, "I32": torch.int32}.get(info["dtype"])
        if dtype is None or (dtype == torch.int32) != (name == "shortlist.lexical"):
            raise ValueError("%s: %s is %s, expected F32" % (path, name, info["dtype"]))
        start, end = info["data_offsets"]
        buf = bytearray(data[base + start: base + end])
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


class Model(nn.Module):
    """The DESIGN.md model: state_dict names are the file's tensor names."""

    def __init__(self, meta):
        super().__init__()
        self.task = meta["task"]
        self.cell = meta["cell"]
        self.vocab = json.loads(meta["vocab"])
        self.labels = json.loads(meta.get("labels", "[]"))
        self.categories = json.loads(meta.get("categories", "[]"))
        self.normalize = meta.get("normalize", "none")
        layers = int(meta["num_layers"])
        hidden = int(meta["hidden_size"])
        embed = int(meta["embedding_dim"])
        cat_dim = int(meta.get("category_dim", "0") or 0)
        self.bidirectional = meta.get("bidirectional", "false") == "true"
        self.embedding = nn.Embedding(len(self.vocab), embed)
        self.conditional = bool(self.categories) and cat_dim > 0
        if self.conditional:
            self.category_embedding = nn.Embedding(len(self.categories), cat_dim)
        rnn_in = embed + (cat_dim if self.conditional else 0)
        kw = dict(num_layers=layers, batch_first=True, bidirectional=self.bidirectional)
        if self.cell == "lstm":
            self.rnn = nn.LSTM(rnn_in, hidden, **kw)
        elif self.cell == "gru":
            self.rnn = nn.GRU(rnn_in, hidden, **kw)
        elif self.cell == "rnn":
            self.rnn = nn.RNN(rnn_in, hidden, nonlinearity="tanh", **kw)
        else:
            raise ValueError("unknown cell %r" % self.cell)
        n_out = len(self.labels) if self.task == "classifier" else len(self.vocab)
        self.head = nn.Linear(hidden * (2 if self.bidirectional else 1), n_out)
        self.char_id = {tok: i for i, tok in enumerate(self.vocab) if not tok.startswith("<")}
        self.special = {tok: i for i, tok in enumerate(self.vocab) if tok.startswith("<")}
        self.bos = self.special.get("<bos>")
        self.eos = self.special.get("<eos>")
        self.banned = [self.special[t] for t in ("<pad>", "<bos>", "<unk>") if t in self.special]

    def inputs(self, ids, category):
        """(1, L, input) embeddings of a list of ids, category appended."""
        x = self.embedding(torch.tensor([ids], dtype=torch.long))
        if self.conditional:
            c = self.category_embedding(torch.tensor([category], dtype=torch.long))
            x = torch.cat([x, c.unsqueeze(1).expand(1, x.shape[1], c.shape[1])], dim=2)
        return x

    def classify(self, ids):
        _, h = self.rnn(self.inputs(ids, None))
        if self.cell == "lstm":
            h = h[0]
        feat = torch.cat([h[-2], h[-1]], dim=1) if self.bidirectional else h[-1]
        return self.head(feat)[0]


class TranslatorModel:
    """A translator file: tt.Translator and its vocabularies."""

    task = "translator"

    def __init__(self, meta, tensors):
        self.cell = meta["cell"]
        self.src_vocab = json.loads(meta["src_vocab"])
        self.tgt_vocab = json.loads(meta["tgt_vocab"])
        self.src_elision = meta.get("src_elision", "false") == "true"
        self.tgt_elision = meta.get("tgt_elision", "false") == "true"
        self.net = tt.Translator(self.cell, int(meta["num_layers"]),
                                 meta.get("bidirectional", "false") == "true",
                                 len(self.src_vocab), len(self.tgt_vocab),
                                 int(meta["embedding_dim"]), int(meta["hidden_size"]))
        # the shortlist (include/rnnserve/shortlist.h), not a parameter
        self.lexical = tensors.pop("shortlist.lexical", None)
        self.common = int(meta.get("shortlist_common", "0"))
        self.net.load_state_dict(tensors, strict=True)
        self.net.eval()
        self.src_id = {w: i for i, w in enumerate(self.src_vocab)}


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if not 0x300 <= ord(c) <= 0x36F)


def load_models():
    models = {}
    dirs = [d for d in os.environ.get("FLASK_MODELS", "models").split(":") if d]
    for d in dirs:
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".safetensors"):
                continue
            tensors, meta = read_safetensors(os.path.join(d, fn))
            if meta.get("task") == "translator":
                m = TranslatorModel(meta, tensors)
            else:
                m = Model(meta)
                m.load_state_dict(tensors, strict=True)
                m.eval()
            models[fn[: -len(".safetensors")]] = m
    return dict(sorted(models.items()))


MODELS = load_models()
print("flask_server: worker %d loaded %d models: %s (torch %s, %d thread)"
      % (os.getpid(), len(MODELS), " ".join(MODELS), torch.__version__, torch.get_num_threads()),
      file=sys.stderr, flush=True)

app = Flask(__name__)
app.json.sort_keys = False  # keys in rnnserve's order
app.json.ensure_ascii = False


class ApiError(Exception):
    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@app.errorhandler(ApiError)
def on_api_error(e):
    err = {"code": e.code, "message": e.message}
    if e.field:
        err["field"] = e.field
    return jsonify({"error": err}), e.status


@app.errorhandler(404)
def on_404(e):
    return jsonify({"error": {"code": "not_found", "message": "no such route"}}), 404


@app.errorhandler(405)
def on_405(e):
    return jsonify({"error": {"code": "method_not_allowed", "message": str(e)}}), 405


def body():
    try:
        req = json.loads(request.get_data(cache=False) or b"")
    except ValueError:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(req, dict):
        raise ApiError(400, "invalid_argument", "the request body must be a JSON object")
    return req


def pick_model(req, task):
    name = req.get("model")
    if name is None:
        for n, m in MODELS.items():
            if m.task == task:
                return n, m
        raise ApiError(404, "not_found", "no %s model is loaded" % task, "model")
    if not isinstance(name, str) or name not in MODELS:
        raise ApiError(404, "not_found", "model %r is not loaded" % (name,), "model")
    if MODELS[name].task != task:
        raise ApiError(400, "invalid_argument", "model %r is not a %s" % (name, task), "model")
    return name, MODELS[name]


def int_field(req, key, lo, hi, default):
    v = req.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not lo <= v <= hi:
        raise ApiError(400, "invalid_argument", "%s must be an integer from %d to %d" % (key, lo, hi), key)
    return int(v)


def num_field(req, key, lo, hi, default):
    v = req.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ApiError(400, "invalid_argument", "%s must be between %g and %g" % (key, lo, hi), key)
    return float(v)


def encode(m, text, field):
    if m.normalize == "ascii-fold":
        text = ascii_fold(text)
    unk = m.special.get("<unk>")
    ids, missing = [], []
    for ch in text:
        i = m.char_id.get(ch, unk)
        if i is None:
            missing.append(ch)
        else:
            ids.append(i)
    if missing:
        raise ApiError(422, "unprocessable", "%s has characters the model cannot read: %s"
                       % (field, " ".join(sorted(set(missing)))), field)
    return ids


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@app.get("/readyz")
def readyz():
    return jsonify({"status": "ready", "models": len(MODELS), "pid": os.getpid()})


@app.get("/v1/models")
def list_models():
    return jsonify({"models": [{"name": n, "task": m.task, "cell": m.cell} for n, m in MODELS.items()]})


@app.post("/classify")
def classify():
    req = body()
    one, many = req.get("name"), req.get("names")
    if (one is None) == (many is None):
        raise ApiError(400, "invalid_argument", "give either name or names", "name")
    name, m = pick_model(req, "classifier")
    top_k = int_field(req, "top_k", 1, len(m.labels), min(3, len(m.labels)))
    texts = [one] if many is None else many
    if not isinstance(texts, list) or not 1 <= len(texts) <= 256:
        raise ApiError(400, "invalid_argument", "names must be an array of 1 to 256 strings", "names")
    encoded = []
    for i, t in enumerate(texts):
        field = "name" if many is None else "names[%d]" % i
        if not isinstance(t, str) or not t:
            raise ApiError(400, "invalid_argument", "%s must be a non-empty string" % field, field)
        ids = encode(m, t, field)
        if not ids:
            raise ApiError(400, "invalid_argument", "%s has no characters left" % field, field)
        encoded.append(ids)
    results = []
    with torch.inference_mode():
        for t, ids in zip(texts, encoded):
            probs = torch.softmax(m.classify(ids).double(), dim=0)
            p, idx = torch.topk(probs, top_k)  # ties: any order (rnnserve: lower index first)
            results.append({"name": t, "predictions": [
                {"label": m.labels[i], "probability": float(q)} for q, i in zip(p.tolist(), idx.tolist())]})
    if many is None:
        return jsonify({"model": name, **results[0]})
    return jsonify({"model": name, "results": results})


def sample(m, logits, temperature, top_k, top_p, gen, eos_too=False):
    logits = logits.clone()
    logits[m.banned] = float("-inf")
    if eos_too:
        logits[m.eos] = float("-inf")
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=0)
    if (0 < top_k < probs.numel()) or top_p < 1.0:
        p, idx = torch.sort(probs, descending=True)
        keep = p.numel()
        if 0 < top_k < keep:
            keep = top_k
        if top_p < 1.0:
            csum = torch.cumsum(p[:keep], 0)
            keep = min(keep, int((csum < top_p).sum()) + 1)
        return int(idx[torch.multinomial(p[:keep], 1, generator=gen)])
    return int(torch.multinomial(probs, 1, generator=gen))


def generate_text(req, name, m):
    """A textlm: the prompt in one RNN call from zero state, then one step
    per sampled token for max_tokens tokens (<pad>, <bos>, <eos> never
    sampled); the reply's text is the continuation, log_prob its own."""
    prompt = req.get("prompt", "") or "\n"
    if not isinstance(prompt, str):
        raise ApiError(400, "invalid_argument", "prompt must be a string", "prompt")
    ids = encode(m, prompt, "prompt")
    if len(ids) > 4096:
        raise ApiError(400, "invalid_argument", "prompt is longer than 4096 characters", "prompt")
    n = int_field(req, "n", 1, 64, 1)
    max_tokens = int_field(req, "max_tokens", 1, 4096, 200)
    temperature = num_field(req, "temperature", 0.0, 5.0, 1.0)
    top_k = int_field(req, "top_k", 0, 1000000, 0)
    top_p = num_field(req, "top_p", 0.0, 1.0, 1.0)
    seed = int_field(req, "seed", 0, MAX_EXACT_INT, None)
    if seed is None:
        seed = random.getrandbits(53)
    gen = torch.Generator().manual_seed(seed)
    samples = []
    with torch.inference_mode():
        for _ in range(n):
            out, state = m.rnn(m.inputs(ids, None))
            logits = m.head(out[0, -1])
            toks, log_prob = [], 0.0
            while len(toks) < max_tokens:
                tok = sample(m, logits, temperature, top_k, top_p, gen, eos_too=True)
                log_prob += float(F.log_softmax(logits, dim=0)[tok])
                toks.append(tok)
                if len(toks) < max_tokens:
                    out, state = m.rnn(m.inputs([tok], None), state)
                    logits = m.head(out[0, 0])
            samples.append({"text": "".join(m.vocab[t] for t in toks), "log_prob": log_prob,
                            "finish_reason": "length", "tokens": len(toks)})
    return jsonify({"model": name, "seed": seed, "samples": samples})


def translate_one(m, text, field, beam, n_best, max_length, penalty, shortlist):
    if not isinstance(text, str):
        raise ApiError(400, "invalid_argument", "%s must be a string" % field, field)
    words = tt.sentence_tokens(text, m.src_elision)
    if not words:
        raise ApiError(400, "invalid_argument", "%s has no word to translate" % field, field)
    if len(words) > 100:
        raise ApiError(400, "invalid_argument", "%s has %d words; the limit is 100"
                       % (field, len(words)), field)
    ids, unknown = [], 0
    for w in words:
        i = m.src_id.get(w, tt.UNK)
        if i <= tt.UNK:  # absent, or a special's spelling
            i = tt.UNK
            unknown += 1
        ids.append(i)
    vocab = None
    if shortlist and m.lexical is not None:
        vocab = tt.shortlist_ids(m.common, m.lexical, ids + [tt.EOS])
    with torch.inference_mode():
        hyps = tt.beam_search(m.net, ids + [tt.EOS], beam, n_best, max_length, penalty, vocab)
    translations = []
    for h in hyps:
        toks = [m.tgt_vocab[i] for i in h["ids"]]
        translations.append({"text": tt.detokenize(toks, m.tgt_elision), "tokens": toks, "log_prob": h["log_prob"],
                             "score": h["score"], "finished": h["finished"]})
    return {"source_tokens": words + ["<eos>"], "unknown_words": unknown,
            "translations": translations}


@app.post("/translate")
def translate():
    req = body()
    one, many = req.get("text"), req.get("texts")
    if (one is None) == (many is None):
        raise ApiError(400, "invalid_argument", "give text or texts", "text")
    name, m = pick_model(req, "translator")
    beam = int_field(req, "beam_size", 1, 16, 4)
    n_best = int_field(req, "n_best", 1, 16, 1)
    if n_best > beam:
        raise ApiError(400, "invalid_argument", "n_best must not exceed beam_size", "n_best")
    max_length = int_field(req, "max_length", 1, 200, 50)
    penalty = num_field(req, "length_penalty", 0.0, 10.0, 1.0)
    shortlist = req.get("shortlist", True)
    if not isinstance(shortlist, bool):
        raise ApiError(400, "invalid_argument", "shortlist must be true or false", "shortlist")
    if many is None:
        return jsonify({"model": name, **translate_one(m, one, "text", beam, n_best, max_length,
                                                       penalty, shortlist)})
    if not isinstance(many, list) or not 1 <= len(many) <= 64:
        raise ApiError(400, "invalid_argument", "texts must be an array of 1 to 64 strings", "texts")
    return jsonify({"model": name, "results": [
        translate_one(m, t, "texts[%d]" % i, beam, n_best, max_length, penalty, shortlist)
        for i, t in enumerate(many)]})


@app.post("/generate")
def generate():
    req = body()
    name = req.get("model")
    if isinstance(name, str) and name in MODELS and MODELS[name].task == "textlm":
        return generate_text(req, name, MODELS[name])
    name, m = pick_model(req, "generator")
    prefix = req.get("prefix", "") or ""
    if not isinstance(prefix, str):
        raise ApiError(400, "invalid_argument", "prefix must be a string", "prefix")
    n = int_field(req, "n", 1, 64, 1)
    temperature = num_field(req, "temperature", 0.0, 5.0, 1.0)
    top_k = int_field(req, "top_k", 0, 1000000, 0)
    top_p = num_field(req, "top_p", 0.0, 1.0, 1.0)
    if top_p <= 0:
        raise ApiError(400, "invalid_argument", "top_p must be greater than 0", "top_p")
    seed = int_field(req, "seed", 0, MAX_EXACT_INT, None)
    category = req.get("category")
    if category is not None:
        if not m.conditional:
            raise ApiError(400, "invalid_argument", "model %r is not conditioned on categories" % name, "category")
        if category not in m.categories:
            raise ApiError(400, "invalid_argument", "unknown category %r" % (category,), "category")
        category = m.categories.index(category)
    ids = encode(m, prefix, "prefix")
    limit = 64
    if len(ids) > limit:
        raise ApiError(400, "invalid_argument", "prefix is longer than %d characters" % limit, "prefix")
    max_length = int_field(req, "max_length", 1, limit, None)
    if max_length is None:
        max_length = min(max(24, len(ids)), limit)
    elif max_length < len(ids):
        raise ApiError(400, "invalid_argument", "max_length must be at least the prefix length", "max_length")
    if seed is None:
        seed = random.getrandbits(53)
    gen = torch.Generator().manual_seed(seed)
    samples = []
    with torch.inference_mode():
        for _ in range(n):
            cat = category
            if m.conditional and cat is None:
                cat = int(torch.randint(len(m.categories), (1,), generator=gen))
            # <bos> + prefix in one call; logits after each input
            out, state = m.rnn(m.inputs([m.bos] + ids, cat))
            all_logits = m.head(out[0])
            log_prob = 0.0
            if ids:
                lsm = F.log_softmax(all_logits[:-1], dim=1)
                log_prob = float(lsm[torch.arange(len(ids)), torch.tensor(ids)].sum())
            logits = all_logits[-1]
            toks, finished = list(ids), False
            while len(toks) < max_length:
                tok = sample(m, logits, temperature, top_k, top_p, gen)
                log_prob += float(F.log_softmax(logits, dim=0)[tok])
                if tok == m.eos:
                    finished = True
                    break
                toks.append(tok)
                if len(toks) < max_length:
                    out, state = m.rnn(m.inputs([tok], cat), state)
                    logits = m.head(out[0, 0])
            s = {"text": "".join(m.vocab[t] for t in toks), "log_prob": log_prob}
            if cat is not None:
                s["category"] = m.categories[cat]
            s["finished"] = finished
            samples.append(s)
    return jsonify({"model": name, "seed": seed, "samples": samples})
