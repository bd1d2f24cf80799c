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
#include <stdint.h>

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
    char **text;            /* (n) each pair's line as the file has it */
    rs_token_table src, tgt;
} rs_pairs;

/* Groups the pairs idx[0..n) by source sentence (the same words): order
 * (n) gets them sorted so that each group is one run (groups in the order
 * of a hash of their words, file order within a group), group (n + 1) the
 * start of each run and then n, *n_groups the runs.  0, or -1 when memory
 * runs out. */
int rs_pairs_group_by_source(const rs_pairs *p, const int *idx, int n, int *order, int *group,
                             int *n_groups);

/* Splits the pairs keep[0..n_keep) in two, grouped by source sentence
 * (its tokens): the groups in a random order (seed) go to *valid until it
 * holds `fraction` of the pairs, the rest to *train, in file order within
 * a group.  0, or -1 when memory runs out (the caller frees both). */
int rs_pairs_split_grouped(const rs_pairs *p, const int *keep, int n_keep, double fraction,
                           uint64_t seed, int **train, int *n_train, int **valid, int *n_valid);

/* Writes the lines of pairs idx[0..n), in file order, to path atomically
 * (atomic_out.h).  0, or -1 with a message in err. */
int rs_pairs_write(const rs_pairs *p, const int *idx, int n, const char *path, char *err,
                   size_t errlen);

/* Reads path.  0, or -1 with a one-line message in err. */
int rs_pairs_load(const char *path, rs_pairs *out, char *err, size_t errlen);

/* Reads path's pairs after those p holds (rs_pairs_load's, or a zeroed
 * rs_pairs), into the same token tables: pair p->n (before the call) is
 * the file's first; `line` stays the line within path.  0, or -1 with a
 * one-line message in err and p freed. */
int rs_pairs_append(const char *path, rs_pairs *p, char *err, size_t errlen);
void rs_pairs_free(rs_pairs *p);

#endif
