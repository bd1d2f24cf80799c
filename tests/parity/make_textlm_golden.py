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

and one word-level case (metadata `tokenizer` "word", DESIGN.md tokens):

    golden/textlm_word_lstm.model.safetensors   a 2-layer LSTM textlm whose
        vocabulary is words and punctuation (<pad> <bos> <eos> <unk>, then
        WORDS most frequent first, as `rnntrain textlm --tokenizer word`
        orders them), with the `unigram` metadata (ln count of each token);
    golden/textlm_word_lstm.expect.safetensors  the three windows as above,
        plus window{w}.logits (B, T, V) batch-first, and a prompt: its text
        (metadata `prompt`), the ids the word tokenizer makes of it
        (prompt.ids, metadata `prompt_unknown` = how many words are <unk>)
        and the logits after each of its tokens fed one by one from a zero
        state (prompt.logits (n, V)), as a served textlm reads a prompt.

The prompt's ids come from a small Python copy of the word tokenizer
(src/util/words.c: words, apostrophes and hyphens inside words, line
breaks, punctuation alone; a CJK run not in the vocabulary cut by the
vocabulary as jieba cuts without its HMM, src/util/segment.c), so that
test_textlm checks rs_model_encode_words against an independent reading.

Exactly the loop of src/train/textlm.c: logits = head(rnn(emb(x), state)),
loss = mean cross-entropy over the B x T targets, state = state_n.detach().
Uses the model and the safetensors writer of make_golden.py.
"""
import argparse
import json
import math
import os
import sys
import unicodedata

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402

SEED = 20261202
WINDOWS = 3
B, T = 3, 5
LAYERS = 2

# The word case: its vocabulary after the four specials, most frequent first
# (distinct counts, so the order is the one rnntrain would write), and the
# count of each; <unk> stands for UNK_COUNT rarer words.
WORDS = [("\n", 90), (",", 80), ("the", 70), (".", 60), ("to", 55), ("and", 50), ("I", 45),
         ("of", 40), ("be", 38), (":", 36), ("not", 34), ("you", 32), ("or", 30), ("'tis", 28),
         ("don't", 26), ("well-met", 24), ("ROMEO", 22), ("?", 20), ("!", 19), ("-", 18),
         ("that", 17), ("question", 16), ("o'er", 15), ("night", 14), ("春風", 13),
         ("明月", 12), ("love", 11), (";", 10), ("day", 9), ("Is", 8), ("so", 7), ("young", 6)]
WORD_SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
UNK_COUNT = 25
# Words (To, Don't, fear, 1599), a symbol run ("--": two hyphens alone), a
# CJK run that two vocabulary words make (春風明月) and one that no word
# covers (山): every path of the word tokenizer.
PROMPT = ("ROMEO:\nTo be, or not to be: 'tis the question.\n"
          "Don't fear -- well-met, o'er 春風明月 and 山 the night in 1599!")
WORD_CASE = "textlm_word_lstm"


# ---- a Python copy of the word tokenizer (src/util/words.c, segment.c) ----

def is_cjk(c):
    c = ord(c)
    return (0x3040 <= c <= 0x30FF or 0x3400 <= c <= 0x4DBF or 0x4E00 <= c <= 0x9FFF
            or 0xF900 <= c <= 0xFAFF or 0x20000 <= c <= 0x2FA1F)


def is_word(c):
    return not is_cjk(c) and unicodedata.category(c) in (
        "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No")


def is_space(c):
    return c in "\t\v\f\r " or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def is_joiner(c):
    return c in "'\u2019-"


def split_words(text):
    """[(token, cjk)] as rs_words_split cuts text."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append((c, False))
            i += 1
        elif is_space(c):
            i += 1
        elif is_cjk(c):
            j = i + 1
            while j < n and is_cjk(text[j]):
                j += 1
            out.append((text[i:j], True))
            i = j
        elif is_word(c) or (is_joiner(c) and i + 1 < n and is_word(text[i + 1])):
            j, prev_word = i + 1, is_word(c)
            while j < n:
                if is_word(text[j]):
                    j, prev_word = j + 1, True
                elif prev_word and is_joiner(text[j]) and j + 1 < n and is_word(text[j + 1]):
                    j, prev_word = j + 1, False
                else:
                    break
            out.append((text[i:j], False))
            i = j
        else:  # punctuation, symbols, a joiner that joins nothing
            out.append((c, False))
            i += 1
    return out


def segment(run, counts):
    """jieba.cut(run, HMM=False) with the dictionary counts (word -> count)."""
    prefixes = set()
    for w in counts:
        for k in range(1, len(w) + 1):
            prefixes.add(w[:k])
    log_total = math.log(sum(counts.values()))
    n = len(run)
    dag = []
    for k in range(n):
        ends, i = [], k
        while i < n and run[k:i + 1] in prefixes:
            if run[k:i + 1] in counts:
                ends.append(i)
            i += 1
        dag.append(ends or [k])
    route = [None] * n + [(0.0, 0)]
    for k in range(n - 1, -1, -1):
        route[k] = max((math.log(counts.get(run[k:x + 1], 1)) - log_total + route[x + 1][0], x)
                       for x in dag[k])
    pieces, k = [], 0
    while k < n:
        x = route[k][1]
        pieces.append(run[k:x + 1])
        k = x + 1
    return pieces


def encode_words(text, vocab, counts):
    """(ids, number of <unk>) as rs_model_encode_words reads text."""
    index = {w: i for i, w in enumerate(vocab)}
    ids, unknown = [], 0
    for tok, cjk in split_words(text):
        for piece in (segment(tok, counts) if cjk and tok not in index else [tok]):
            if piece in index:
                ids.append(index[piece])
            else:
                ids.append(index["<unk>"])
                unknown += 1
    return ids, unknown


def make_case(outdir, cell, seed, word=False):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if word:
        vocab = WORD_SPECIALS + [w for w, _ in WORDS]
        # ln count: 0 for <pad> <bos> <eos> (count 1), <unk>'s for the words it stands for
        counts = [1, 1, 1, UNK_COUNT] + [c for _, c in WORDS]
        assert [c for _, c in WORDS] == sorted((c for _, c in WORDS), reverse=True)
        assert len(set(vocab)) == len(vocab)
        stem = WORD_CASE
    else:
        vocab = mg.VOCAB
        stem = f"textlm_{cell}"
    V = len(vocab)
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
        if word:
            expect[f"window{w}.logits"] = logits.detach().clone()
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
        "vocab": json.dumps(vocab, ensure_ascii=False, separators=(",", ":")),
        "normalize": "none",
        "training": "{}",
    }
    exmeta = {"windows": str(WINDOWS), "B": str(B), "T": str(T),
              "generated_by": "tests/parity/make_textlm_golden.py",
              "torch": torch.__version__}
    if word:
        meta["tokenizer"] = "word"
        meta["unigram"] = json.dumps([math.log(c) for c in counts], separators=(",", ":"))
        ids, unknown = encode_words(PROMPT, vocab, dict(zip(vocab, counts)))
        with torch.no_grad():  # one stream from a zero state, one token at a time
            steps, h = [], None
            for i in ids:
                o, h = model.rnn(model.embedding(torch.tensor([[i]])), h)
                steps.append(model.head(o)[0, 0])
            whole = model.head(model.rnn(model.embedding(torch.tensor([ids])))[0])[0]
            assert torch.allclose(torch.stack(steps), whole, atol=1e-6)
        expect["prompt.ids"] = torch.tensor(ids, dtype=torch.int32)
        expect["prompt.logits"] = torch.stack(steps).detach().clone()
        exmeta["prompt"] = PROMPT
        exmeta["prompt_unknown"] = str(unknown)
        print(f"{stem}: prompt of {len(ids)} tokens, {unknown} unknown: "
              + " ".join(repr(vocab[i]) for i in ids))
    model_path = os.path.join(outdir, f"{stem}.model.safetensors")
    expect_path = os.path.join(outdir, f"{stem}.expect.safetensors")
    mg.write(model_path, list(state.items()), meta)
    mg.write(expect_path, list(expect.items()), exmeta)
    # the files read back as written
    m_meta, m_t = mg.st_read(model_path)
    assert m_meta == meta and all(torch.equal(m_t[k], v) for k, v in state.items())
    e_meta, e_t = mg.st_read(expect_path)
    assert e_meta == exmeta and all(torch.equal(e_t[k], v) for k, v in expect.items())
    return stem


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
    make_case(args.out, "lstm", SEED + 30, word=True)
    print(f"{WORD_CASE}: written")


if __name__ == "__main__":
    main()
