#!/usr/bin/python3
"""
make_segment_golden.py — what jieba (Debian's python3-jieba) makes of a few
hundred Chinese sentences without its HMM, for tests/unit/test_segment.c.

    /usr/bin/python3 tests/segment/make_segment_golden.py

Sentences: every 40th poem of data/tang_poems.txt cut at its full stops
(classical Chinese, 300 of them), and a few mixed ones written here (Latin
letters, digits, spaces, line breaks, the symbols jieba keeps in a block).
Dictionary: the entries of jieba's own dictionary (dict.txt) that occur in
those sentences, with jieba's counts (a word that occurs nowhere in a text
cannot change its cut), plus every character of the sentences that has no
entry, with count 1, so the C side sees the same dictionary whatever it
is given.  jieba.Tokenizer(dictionary=that file).cut(s, HMM=False) gives
the golden cut.

Writes tests/segment/dict.txt ("word count" lines, jieba's format) and
tests/segment/golden.tsv (the sentence, a tab, the pieces joined by U+2502
'│'; a line break in a sentence is written \\n, a carriage return \\r).
"""
import os
import sys

import jieba

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEP = "\u2502"

MIXED = [
    "我爱Python3和C++编程。",
    "2024年12月2日 北京下雪了",
    "他说：“明天见！”然后走了。",
    "GPU加速的RNN模型，准确率达到98.5%。",
    "这是第1个例子\r\n这是第2个",
    "a-b_c.d#e&f 混合 ab12 测试",
    "長安一片月，萬戶擣衣聲。",
    "床前明月光\n疑是地上霜",
    "   前后有空格   ",
    "ＡＢＣ全角字母１２３",
]


def sentences():
    out = []
    with open(os.path.join(ROOT, "data", "tang_poems.txt"), encoding="utf-8") as f:
        poems = f.read().split("\n")
    for poem in poems[::40]:
        for s in poem.split("。"):
            if s:
                out.append(s + "。")
            if len(out) >= 300:
                return out
    return out


def main():
    sents = sentences() + MIXED
    full = jieba.get_dict_file()
    entries = {}
    for line in full:
        parts = line.decode("utf-8").strip().split(" ")
        if len(parts) >= 2:
            entries[parts[0]] = int(parts[1])
    text = "\n".join(sents)
    keep = {w: c for w, c in entries.items() if w in text}
    for ch in set(text):
        if ch not in keep and not ch.isspace():
            keep[ch] = 1
    dict_path = os.path.join(HERE, "dict.txt")
    with open(dict_path, "w", encoding="utf-8") as f:
        for w in sorted(keep):
            f.write("%s %d\n" % (w, keep[w]))
    tok = jieba.Tokenizer(dictionary=dict_path)
    tok.initialize()
    with open(os.path.join(HERE, "golden.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for s in sents:
            pieces = list(tok.cut(s, HMM=False))
            assert "".join(pieces) == s
            esc = lambda t: t.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
            f.write(esc(s) + "\t" + SEP.join(esc(p) for p in pieces) + "\n")
    print("%d sentences, %d dictionary entries" % (len(sents), len(keep)))


if __name__ == "__main__":
    main()
