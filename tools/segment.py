#!/usr/bin/python3
"""
segment.py — cuts Chinese text into words with jieba (Debian's
python3-jieba), so that `rnntrain textlm --tokenizer word` can train on it.

    /usr/bin/python3 tools/segment.py IN.txt OUT.txt [--no-hmm] [--dict FILE]

Each line of IN is cut with jieba.cut and written to OUT with the words
separated by one space (white space of the input is dropped; the line
structure is kept).  rnntrain's word tokenizer then takes each run of CJK
characters between spaces as one word, and splits punctuation off.  With
--no-hmm, only the dictionary's words are used (jieba's HMM guesses new
words otherwise), which is how rnnserve cuts a prompt written without
spaces (src/util/segment.c); --dict replaces jieba's dictionary.
OUT is written through a temporary file and renamed, so a failed run
leaves nothing half-written.
"""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--no-hmm", action="store_true", help="dictionary words only")
    ap.add_argument("--dict", help="a jieba dictionary (word count [tag] lines)")
    a = ap.parse_args()
    try:
        import jieba
    except ImportError:
        sys.exit("segment.py: needs jieba: apt-get install python3-jieba (and /usr/bin/python3)")
    tok = jieba.Tokenizer(dictionary=a.dict) if a.dict else jieba.Tokenizer()
    tmp = a.output + ".tmp"
    lines = 0
    with open(a.input, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
        for lineno, line in enumerate(src, 1):
            words = [w for w in tok.cut(line.rstrip("\n"), HMM=not a.no_hmm) if not w.isspace()]
            dst.write(" ".join(words) + "\n")
            lines += 1
    os.replace(tmp, a.output)
    print("segment.py: %d lines written to %s" % (lines, a.output), file=sys.stderr)


if __name__ == "__main__":
    main()
