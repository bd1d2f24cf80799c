/*
 * bleu.h — corpus BLEU-4 (Papineni et al. 2002) as DESIGN.md defines it
 * and NLTK's corpus_bleu computes it: for n = 1..4 the hypotheses' n-gram
 * counts clipped by the most any one reference of the same sentence has,
 * summed over the corpus; the geometric mean of the four precisions (0 if
 * any is 0); times the brevity penalty exp(1 − r/c) when c ≤ r, with c the
 * hypotheses' total length and r the sum of each sentence's closest
 * reference length (ties to the shorter).  Reported as 0–100.
 *
 * Tokens are ints (the caller interns words); the caller lower-cases.
 */
#ifndef RNNTRAIN_BLEU_H
#define RNNTRAIN_BLEU_H

#include <stdint.h>

typedef struct rs_bleu {
    long match[4], total[4]; /* clipped n-gram matches and hypothesis n-grams */
    long hyp_len, ref_len;
} rs_bleu;

/* Adds one sentence: hypothesis hyp[0..hn) against refs[i][0..ref_n[i]). */
void rs_bleu_add(rs_bleu *b, const int32_t *hyp, int hn, const int32_t *const *refs,
                 const int *ref_n, int n_refs);
/* The corpus score, 0–100. */
double rs_bleu_score(const rs_bleu *b);

#endif
