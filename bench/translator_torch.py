"""
translator_torch.py — the PyTorch pieces bench/train_pytorch_translator.py
and bench/flask_server.py share for a translator (../shared/DESIGN.md,
"translator"):

  * sentence_tokens(text, elision): one sentence cut into lower-cased word
    tokens as src/util/sentence.c + src/util/words.c cut it (approximately:
    Python's unicodedata instead of utf8proc's tables);
  * space_between(a, b): whether detokenized text puts a space between two
    tokens (rs_words_space_between in src/util/words.c);
  * Translator: the encoder-decoder with additive attention, with the
    DESIGN.md state_dict names (as tests/parity/make_translator_golden.py's
    class Translator), sized by arguments, with the training dropout of
    src/nn/seq2seq.c (on both embeddings' outputs and before the head);
  * beam_search: include/rnnserve/beam.h's search (src/nn/beam.c) for one
    sentence.

Standard library and torch only.
"""
import math
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]

# ---------------------------------------------------------------------------
# Words (src/util/words.c, src/util/sentence.c)
# ---------------------------------------------------------------------------

# French articles and pronouns that elide before a vowel (sentence.c).
ELIDED = frozenset(["l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu",
                    "quoiqu"])
WORD_CATEGORIES = frozenset(["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No"])
JOINERS = "'\u2019-"


def is_cjk(ch):
    c = ord(ch)
    return (0x3040 <= c <= 0x30FF or 0x3400 <= c <= 0x4DBF or 0x4E00 <= c <= 0x9FFF
            or 0xF900 <= c <= 0xFAFF or 0x20000 <= c <= 0x2FA1F)


def is_cjk_punct(ch):
    c = ord(ch)
    return 0x3000 <= c <= 0x303F or 0xFF01 <= c <= 0xFF65


def is_space(ch):
    return ch in "\t\v\f\r " or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def is_word(ch):
    return not is_cjk(ch) and unicodedata.category(ch) in WORD_CATEGORIES


def split_words(text):
    """rs_words_split: words (letters, marks, digits, joined by ' ’ - between
    word characters), CJK runs, and every other non-space character alone."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(c)
            i += 1
            continue
        if is_space(c):
            i += 1
            continue
        cjk = is_cjk(c)
        if cjk or is_word(c) or c in JOINERS:
            end = i + 1
            if c in JOINERS and not (end < n and is_word(text[end])):
                out.append(c)
                i = end
                continue
            prev_word = c not in JOINERS
            while end < n:
                d = text[end]
                if is_cjk(d) if cjk else is_word(d):
                    end += 1
                    prev_word = True
                    continue
                if (not cjk and prev_word and d in JOINERS and end + 1 < n
                        and is_word(text[end + 1])):
                    end += 1
                    prev_word = False
                    continue
                break
            out.append(text[i:end])
            i = end
            continue
        out.append(c)  # punctuation, symbols
        i += 1
    return out


def _lower(ch):
    if ch == "\u2019":
        return "'"
    low = ch.lower()  # utf8proc_tolower is the simple mapping: one code point
    return low[0] if low else ch


def sentence_tokens(text, elision):
    """rs_sentence_tokens: lower-cased (’ read as '), split into words; with
    French elision, "qu'il" -> "qu'" "il", "jusqu'à" -> "jusqu'" "à"."""
    text = "".join(_lower(ch) for ch in text)
    out = []
    for w in split_words(text):
        while elision:
            k = w.find("'")
            if k <= 0 or k == len(w) - 1 or w[:k] not in ELIDED:
                break
            out.append(w[:k + 1])
            w = w[k + 1:]
        out.append(w)
    return out


def _attaches_left(c):
    if c in ",.;:!?)]}'%\u2019\u201d\u2026\u00bb":
        return True
    return unicodedata.category(c) in ("Pe", "Pf") or is_cjk_punct(c)


def _attaches_right(c):
    if c in "([{\u2018\u201c\u00bf\u00a1\u00ab":
        return True
    return unicodedata.category(c) in ("Ps", "Pi") or is_cjk_punct(c)


def space_between(a, b):
    """rs_words_space_between."""
    if not a or not b:
        return True
    x, y = a[-1], b[0]
    if x == "\n" or y == "\n":
        return False
    if (len(b) == 1 and _attaches_left(y)) or (len(a) == 1 and _attaches_right(x)):
        return False
    if (is_cjk(x) or is_cjk_punct(x)) and (is_cjk(y) or is_cjk_punct(y)):
        return False
    if x == "'" and len(a) > 1:  # an elided article or pronoun: "j'" "ai" -> "j'ai"
        return False
    return True


def space_between_french(a, b):
    """rs_words_space_between_french: a space before a lone ? ! : ; too."""
    if len(b) == 1 and b in "?!:;" and a:
        return a[-1] != "\n" and not (len(a) == 1 and (a in "?!:;" or _attaches_right(a)))
    return space_between(a, b)


def detokenize(tokens, french=False):
    join = space_between_french if french else space_between
    out = []
    for i, t in enumerate(tokens):
        if i > 0 and join(tokens[i - 1], t):
            out.append(" ")
        out.append(t)
    return "".join(out)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class Translator(nn.Module):
    """DESIGN.md's translator; state_dict names are the model file's."""

    def __init__(self, cell, layers, bidirectional, src_vocab, tgt_vocab, embed, hidden,
                 dropout=0.0):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}[cell]
        D = 2 if bidirectional else 1
        self.cell, self.layers, self.D, self.hidden = cell, layers, D, hidden
        self.encoder = nn.Module()
        self.encoder.embedding = nn.Embedding(src_vocab, embed)
        self.encoder.rnn = rnn(embed, hidden, layers, batch_first=True, bidirectional=bidirectional)
        if bidirectional:
            self.encoder.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = nn.Module()
        self.decoder.embedding = nn.Embedding(tgt_vocab, embed)
        self.decoder.attention = nn.Module()
        self.decoder.attention.Wa = nn.Linear(hidden, hidden)
        self.decoder.attention.Ua = nn.Linear(hidden * D, hidden)
        self.decoder.attention.Va = nn.Linear(hidden, 1)
        self.decoder.rnn = rnn(embed + hidden * D, hidden, layers, batch_first=True)
        self.decoder.head = nn.Linear(hidden, tgt_vocab)
        self.drop = nn.Dropout(dropout)  # no parameters: not in the state_dict

    def initial(self, final):
        """(L*D, B, H) final encoder states -> (L, B, H) decoder initial states."""
        if self.D == 1:
            return final
        return torch.tanh(self.encoder.bridge(torch.cat([final[0::2], final[1::2]], dim=2)))

    def bridge_state(self, state):
        if self.cell == "lstm":
            return (self.initial(state[0]), self.initial(state[1]))
        return self.initial(state)

    def top(self, state):
        return (state[0] if self.cell == "lstm" else state)[-1]

    def forward(self, src, src_len, tgt_in):
        """Teacher-forced logits (B, T, Vt) of a padded batch: src (B, S) with
        src_len (B,) on the CPU, tgt_in (B, T) = <bos> y1 .. ym, padded."""
        S = src.shape[1]
        emb = self.drop(self.encoder.embedding(src))
        packed = pack_padded_sequence(emb, src_len, batch_first=True, enforce_sorted=False)
        out, state = self.encoder.rnn(packed)
        K, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # (B, S, HD)
        state = self.bridge_state(state)
        mask = torch.arange(S)[None, :] >= src_len[:, None]
        att = self.decoder.attention
        UK = att.Ua(K)  # (B, S, H)
        dec_in = self.drop(self.decoder.embedding(tgt_in))  # (B, T, E)
        feats = []
        for t in range(tgt_in.shape[1]):
            q = att.Wa(self.top(state))
            scores = att.Va(torch.tanh(q[:, None, :] + UK)).squeeze(-1)
            a = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=1)  # (B, S)
            ctx = torch.bmm(a[:, None, :], K).squeeze(1)  # (B, HD)
            x = torch.cat([dec_in[:, t], ctx], dim=1)
            o, state = self.decoder.rnn(x[:, None, :], state)
            feats.append(o[:, 0])
        return self.decoder.head(self.drop(torch.stack(feats, 1)))


# ---------------------------------------------------------------------------
# Beam search (include/rnnserve/beam.h, src/nn/beam.c)
# ---------------------------------------------------------------------------

def _select(state, rows):
    if isinstance(state, tuple):
        return tuple(s.index_select(1, rows) for s in state)
    return state.index_select(1, rows)


def shortlist_ids(common, lexical, src_ids):
    """The candidate target ids of a sentence (include/rnnserve/shortlist.h):
    the ids below common, and the rows of lexical (a (src_vocab, per_word)
    tensor of ids, -1 = none) of its source ids, those at or above common;
    ascending, each once.  <pad> and <bos> are in the softmax, never
    produced."""
    ids = set(range(common))
    for s in src_ids:
        if 0 <= s < lexical.shape[0]:
            ids.update(int(f) for f in lexical[s].tolist() if f >= common)
    return sorted(ids)


def beam_search(m, src_ids, beam_size=4, n_best=1, max_length=50, length_penalty=1.0,
                vocab=None):
    """One sentence (ids, <eos> last) -> up to n_best hypotheses, best first:
    dicts {ids, log_prob, score, finished}.  Each step every live
    hypothesis extends by its beam_size best tokens; of those candidates
    the beam_size most probable stay alive, one ending in <eos> is set
    aside as finished with score log_prob / length^alpha (<eos> counted);
    the search stops when beam_size have finished or after max_length
    steps.  <pad> and <bos> are never produced.  With vocab (a shortlist:
    ascending target ids), the output layer and its softmax are over those
    ids only.  Call under torch.inference_mode()."""
    K = beam_size
    src = torch.tensor([src_ids], dtype=torch.long)
    keys, state = m.encoder.rnn(m.encoder.embedding(src))
    keys = keys[0]  # (S, HD)
    state = m.bridge_state(state)  # (L, 1, H)
    att = m.decoder.attention
    UK = att.Ua(keys)  # (S, H)
    head_w, head_b = m.decoder.head.weight, m.decoder.head.bias
    if vocab is not None:
        rows = torch.tensor(vocab, dtype=torch.long)
        head_w, head_b = head_w.index_select(0, rows), head_b.index_select(0, rows)
    y = [BOS]
    log_prob = [0.0]
    hist = [[]]
    done = []
    t = 0
    while t < max_length and y:
        q = att.Wa(m.top(state))  # (k, H)
        scores = att.Va(torch.tanh(q[:, None, :] + UK[None])).squeeze(-1)  # (k, S)
        a = torch.softmax(scores, dim=1)
        ctx = a @ keys  # (k, HD)
        x = torch.cat([m.decoder.embedding(torch.tensor(y, dtype=torch.long)), ctx], dim=1)
        o, new_state = m.decoder.rnn(x[:, None, :], state)
        z = F.log_softmax(F.linear(o[:, 0], head_w, head_b), dim=1)
        z[:, PAD] = float("-inf")  # a shortlist holds all ids below common: 0 and 1 too
        z[:, BOS] = float("-inf")
        total = torch.tensor(log_prob, dtype=torch.float64)[:, None] + z.double()
        vals, idx = torch.topk(total, min(K, total.shape[1]), dim=1)
        cands = sorted((-v, r, tok if vocab is None else vocab[tok])
                       for r, (vs, ts) in enumerate(zip(vals.tolist(), idx.tolist()))
                       for v, tok in zip(vs, ts))
        rows, ny, nlp, nhist = [], [], [], []
        for neg, r, tok in cands:
            if len(ny) >= K or len(done) >= K:
                break
            lp = -neg
            if tok == EOS:
                done.append({"ids": list(hist[r]), "log_prob": lp, "finished": True,
                             "score": lp / (t + 1) ** length_penalty})
                continue
            rows.append(r)
            ny.append(tok)
            nlp.append(lp)
            nhist.append(hist[r] + [tok])
        t += 1
        if len(done) >= K or not rows:
            y = []
            break
        state = _select(new_state, torch.tensor(rows, dtype=torch.long))
        y, log_prob, hist = ny, nlp, nhist
    done.sort(key=lambda h: -h["score"])
    out = done[:n_best]
    for r in range(len(y)):
        if len(out) >= n_best:
            break
        out.append({"ids": list(hist[r]), "log_prob": log_prob[r], "finished": False,
                    "score": log_prob[r] / max(t, 1) ** length_penalty})
    out.sort(key=lambda h: -h["score"])
    return out
