#!/usr/bin/python3
"""
make_bleu_golden.py — corpus BLEU-4 by NLTK (Debian's python3-nltk), the
reference for src/train/bleu.c.

Run by hand (CI only reads the committed file):

    /usr/bin/python3 tests/bleu/make_bleu_golden.py > tests/bleu/golden.txt

Writes corpora of random sentences over a small vocabulary (so n-grams
repeat and clipping matters), each sentence with 1 to 4 references of
various lengths (so the closest-length rule and its ties matter), and two
hand-made corpora: a perfect one and one with no 4-gram in common.  Format,
one corpus after another:

    corpus <name> <sentences> <nltk corpus_bleu x 100, %.12f>
    <hypothesis tokens> ||| <reference 1> ||| <reference 2> ...     (a line a sentence)
"""
import random

from nltk.translate.bleu_score import corpus_bleu


def emit(name, hyps, refs):
    score = corpus_bleu(refs, hyps) * 100
    print("corpus %s %d %.12f" % (name, len(hyps), score))
    for h, rs in zip(hyps, refs):
        print(" ||| ".join([" ".join(h)] + [" ".join(r) for r in rs]))


def main():
    rng = random.Random(20261202)
    words = "le la les un une de du et est à je tu il nous vous froid chat chien".split()
    for c in range(12):
        hyps, refs = [], []
        for _ in range(rng.randint(5, 40)):
            base = [rng.choice(words[: 6 + c]) for _ in range(rng.randint(4, 14))]
            rs = []
            for _ in range(rng.randint(1, 4)):
                r = list(base)
                for _ in range(rng.randint(0, 4)):  # edits: replace, drop, insert
                    k = rng.randrange(3)
                    if k == 0 and r:
                        r[rng.randrange(len(r))] = rng.choice(words)
                    elif k == 1 and len(r) > 1:
                        del r[rng.randrange(len(r))]
                    else:
                        r.insert(rng.randrange(len(r) + 1), rng.choice(words))
                rs.append(r)
            h = list(base)
            for _ in range(rng.randint(0, 3)):
                if h and rng.random() < 0.5:
                    h[rng.randrange(len(h))] = rng.choice(words)
                else:
                    h.insert(rng.randrange(len(h) + 1), rng.choice(words))
            hyps.append(h)
            refs.append(rs)
        emit("random%d" % c, hyps, refs)
    emit("perfect", [["j", "ai", "froid", "."]], [[["j", "ai", "froid", "."]]])
    emit("no4gram", [["a", "b", "c", "d", "e"]], [[["a", "b", "c", "x", "d", "e"]]])
    emit("brevity", [["il", "est", "là", "maintenant"]],
         [[["il", "est", "là", "maintenant", "avec", "nous"], ["il", "est", "là", "maintenant", "x", "y", "z"]]])


if __name__ == "__main__":
    main()
