#!/usr/bin/env python3
"""
make_fold_golden.py — what ascii-fold must make of every code point of the
blocks it folds, by Python's unicodedata (the reference the shipped models'
normalisation was defined with): its NFD with the combining marks
U+0300-U+036F removed, when that differs from the code point.

    python3 tests/text/make_fold_golden.py > tests/text/fold_golden.tsv

One line a code point: FROM<TAB>TO (hex).  tests/unit/test_text.c reads it
and checks src/util/text.c (utf8proc) against every line.
"""
import sys
import unicodedata

RANGES = [(0x00C0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x1E00, 0x1EFF)]


def main():
    print("# Unicode %s (Python %d.%d unicodedata)" % (unicodedata.unidata_version,
                                                      *sys.version_info[:2]))
    for lo, hi in RANGES:
        for cp in range(lo, hi + 1):
            ch = chr(cp)
            nfd = unicodedata.normalize("NFD", ch)
            folded = "".join(c for c in nfd if not 0x0300 <= ord(c) <= 0x036F)
            if folded != ch and len(folded) == 1:
                print("%04X\t%04X" % (cp, ord(folded)))


if __name__ == "__main__":
    main()
