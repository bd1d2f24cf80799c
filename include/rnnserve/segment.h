/*
 * segment.h — cutting text written without spaces (Chinese) into the words
 * of a vocabulary, as jieba does without its HMM.
 *
 * A word model's vocabulary and its unigram counts are a dictionary; a
 * prompt in such a script is cut by it the way `jieba.cut(text, HMM=False)`
 * cuts with the same dictionary (tests/unit/test_segment.c checks it on a
 * golden file made with jieba itself):
 *
 *   - the text is split into blocks: maximal runs of CJK ideographs
 *     U+4E00–U+9FD5, ASCII letters and digits and + # & . _ % -, and the
 *     rest; in the rest, "\r\n" and each white-space character are pieces
 *     of their own, and every other character is a piece alone;
 *   - in a block, every position k gets the ends i of the dictionary words
 *     text[k..i] (a prefix of a word is followed while it stays one; the
 *     single character at k when nothing matches), and the route is the
 *     one of the highest Σ (ln count(w) − ln total), a word not in the
 *     dictionary counting 1, ties to the longer first word;
 *   - consecutive one-character pieces of ASCII letters or digits are
 *     joined into one.
 *
 * The arithmetic is jieba's, in doubles, in the same order, so the same
 * route wins even on near-ties.
 */
#ifndef RNNSERVE_SEGMENT_H
#define RNNSERVE_SEGMENT_H

#include <stddef.h>

typedef struct rs_segmenter rs_segmenter;

/* A dictionary of n words (UTF-8) with counts >= 1.  The strings are
 * copied.  NULL on allocation failure. */
rs_segmenter *rs_segmenter_create(const char *const *words, const double *counts, int n);
void rs_segmenter_destroy(rs_segmenter *s);

/* Called for each piece, in order; the pieces put together are the text. */
typedef void (*rs_segment_emit)(const char *piece, size_t len, void *ctx);

/* Cuts text[0..len) (valid UTF-8).  0, or -1 on invalid UTF-8 or when
 * memory runs out (nothing emitted after the fault). */
int rs_segment(const rs_segmenter *s, const char *text, size_t len, rs_segment_emit emit,
               void *ctx);

#endif
