/*
 * corpus.h — one running UTF-8 text as token ids, for `rnntrain textlm`
 * and for evaluating a textlm (DESIGN.md, textlm).
 *
 * The text is read whole and checked: invalid UTF-8 is refused with the
 * line and byte where it starts; an empty file is refused.  Tokens are code
 * points (the char tokenizer).  The vocabulary is every character of the
 * whole text (as char-rnn and nanoGPT build it), in code-point order after
 * the specials <pad> <bos> <eos>; there is no <unk>, so a text with a
 * character outside it is refused, not guessed at.
 */
#ifndef RNNTRAIN_CORPUS_H
#define RNNTRAIN_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#define RS_CORPUS_SPECIALS 3 /* <pad> <bos> <eos> */

typedef struct rs_corpus {
    uint32_t *cps; /* (n) code points of the whole text */
    long n;
} rs_corpus;

/* Reads and decodes path.  0, or -1 with "PATH:LINE: byte B: invalid UTF-8"
 * (or another one-line reason) in err. */
int rs_corpus_load(const char *path, rs_corpus *out, char *err, size_t errlen);
void rs_corpus_free(rs_corpus *c);

/* The vocabulary of cps[0..n): the specials, then every distinct code
 * point in increasing order.  tokens[i] is malloc'd UTF-8 (free with
 * rs_vocab_free).  0, or -1 on allocation failure. */
int rs_vocab_build(const uint32_t *cps, long n, char ***tokens, int *count);
void rs_vocab_free(char **tokens, int count);

/* ids[i] = the id of cps[i] under a sorted code-point table (code points of
 * vocabulary ids RS_CORPUS_SPECIALS.. in order), -1 when absent.  Returns
 * how many were absent. */
long rs_corpus_encode(const uint32_t *cps, long n, const uint32_t *table, int table_len,
                      int32_t *ids);

/* The word tokenizer (words.h) over the text: *ids (*n_ids tokens), of
 * which the first *n_train_ids start before character n_train_chars; the
 * vocabulary is <pad> <bos> <eos> <unk>, then the words of the training
 * part seen at least min_count times, most frequent first (ties in byte
 * order); a rarer word, or one only the validation part has, is <unk>.
 * *unigram (V) is ln count of each (of the words <unk> stands for, for
 * it; 0 for the other specials).  CJK runs between spaces are words (the
 * text was segmented, e.g. by tools/segment.py).  0, or -1 when memory
 * runs out or the text has no token; the caller frees the arrays. */
int rs_corpus_words(const rs_corpus *c, long n_train_chars, int min_count, char ***vocab, int *V,
                    double **unigram, int32_t **ids, long *n_ids, long *n_train_ids);

#endif
