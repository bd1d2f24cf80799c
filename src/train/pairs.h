/*
 * pairs.h — a file of sentence pairs (`source<TAB>target` a line, as
 * eng_fra.tsv) read into word tokens for `rnntrain translator`
 * (DESIGN.md, translator).
 *
 * Each side is lower-cased (utf8proc), the typographic apostrophe ’ read
 * as ', and cut by the word tokenizer (words.h): words, and punctuation
 * alone.  With `french_elision` a word that starts with an elided article
 * or pronoun is cut after its apostrophe as French writes it: "j'ai" →
 * "j'" "ai", "qu'il" → "qu'" "il", "aujourd'hui" stays whole.  Columns
 * after the second (Tatoeba's attribution) are ignored.
 *
 * A line without a tab, a side with no token, or invalid UTF-8 is refused
 * with "PATH:LINE: reason"; blank lines are skipped.
 */
#ifndef RNNTRAIN_PAIRS_H
#define RNNTRAIN_PAIRS_H

#include <stddef.h>

/* Every distinct token string of one side, with its count. */
typedef struct rs_token_table {
    char **token; /* (n) NUL-terminated, malloc'd */
    long *count;  /* (n) occurrences */
    int n, cap;
    int *slots; /* open-addressing hash: index + 1, 0 = empty */
    int n_slots;
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

/* Tokens of one sentence as the loader cuts it (lower-cased, elision when
 * french_elision), each passed to emit.  0, or -1 on invalid UTF-8. */
typedef void (*rs_sentence_emit)(const char *token, size_t len, void *ctx);
int rs_sentence_tokens(const char *text, size_t len, int french_elision, rs_sentence_emit emit,
                       void *ctx);

#endif
