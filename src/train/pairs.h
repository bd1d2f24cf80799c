/*
 * pairs.h — a file of sentence pairs (`source<TAB>target` a line, as
 * eng_fra.tsv) read into word tokens for `rnntrain translator`
 * (DESIGN.md, translator).
 *
 * Each side is cut by rs_sentence_tokens (sentence.h): lower-cased words
 * and punctuation; the target side (French) with elision.  Columns after
 * the second (Tatoeba's attribution) are ignored.
 *
 * A line without a tab, a side with no token, or invalid UTF-8 is refused
 * with "PATH:LINE: reason"; blank lines are skipped.
 */
#ifndef RNNTRAIN_PAIRS_H
#define RNNTRAIN_PAIRS_H

#include <stddef.h>

#include "rnnserve/sentence.h"
#include "rnnserve/strtab.h"

/* Every distinct token string of one side, with its count. */
typedef struct rs_token_table {
    char **token; /* (n) NUL-terminated: strings.str */
    long *count;  /* (n) occurrences */
    int n, cap;
    rs_strtab strings;
} rs_token_table;

typedef struct rs_pairs {
    int n;                  /* pairs */
    int *src_off, *tgt_off; /* (n + 1) where pair i's tokens start in src_tok / tgt_tok */
    int *src_tok, *tgt_tok; /* token indices into the sides' tables */
    int *line;              /* (n) line of each pair in the file */
    rs_token_table src, tgt;
} rs_pairs;

/* Reads path.  0, or -1 with a one-line message in err. */
int rs_pairs_load(const char *path, rs_pairs *out, char *err, size_t errlen);
void rs_pairs_free(rs_pairs *p);

#endif
