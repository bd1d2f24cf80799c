/*
 * lexicon.h — which target words translate a source word, for a
 * translator's shortlist (rnnserve/shortlist.h): IBM Model 1 (Brown et al.,
 * 1993) fitted by expectation–maximisation on the training pairs.
 *
 * Model 1 explains each target word f of a pair as the translation of one
 * of the source words e (or of a NULL word, which absorbs the words that
 * translate nothing), each equally likely a priori: p(f | e) is the
 * expected fraction of e's occurrences that f translates.  EM converges to
 * the global optimum (the likelihood is convex), from uniform tables.
 */
#ifndef RNNTRAIN_LEXICON_H
#define RNNTRAIN_LEXICON_H

#include <stdint.h>

/* Sentence pairs as model ids: pair i's source ids are src[src_off[i] ..
 * src_off[i + 1]) (no <eos>), its target ids tgt[tgt_off[i] ..
 * tgt_off[i + 1]). */
typedef struct rs_id_pairs {
    int n;
    const int *src_off, *tgt_off;
    const int32_t *src, *tgt;
    int src_vocab, tgt_vocab;
} rs_id_pairs;

typedef struct rs_lexicon_opts {
    int iterations;  /* EM iterations (5 is the usual) */
    int common;      /* target ids below it are left out of the table (always candidates) */
    int per_word;    /* entries per source word */
    double min_prob; /* p(f | e) below it is not an entry */
} rs_lexicon_opts;

/* Fits Model 1 and writes, for each source id e, the per_word target ids
 * f >= common of highest p(f | e) >= min_prob, most probable first, −1 for
 * the rest of the row: lexical (src_vocab, per_word).  0, or -1 when
 * memory runs out. */
int rs_lexicon_fit(const rs_id_pairs *p, const rs_lexicon_opts *o, int32_t *lexical);

#endif
