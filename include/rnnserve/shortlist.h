/*
 * shortlist.h — the target words a source sentence may translate into
 * (src/nn/shortlist.c), so that beam search computes the output layer and
 * its softmax over a few hundred words instead of the whole vocabulary,
 * as Marian's lexical shortlists and CTranslate2's vocabulary maps do.
 *
 * A translator file may carry one (translator.h): the `common` most
 * frequent target ids (the vocabulary is sorted by count, so ids
 * [0, common), specials included) are always candidates, and each source
 * word adds its row of `lexical` (src_vocab, per_word): the target words
 * most probable as its translation under IBM Model 1 (src/train/lexicon.c),
 * −1 where the row has fewer.  Searching over the shortlist is an
 * approximation: the probabilities are normalised over the candidates
 * (<pad> and <bos> included, though never produced), not over the
 * vocabulary, and a word outside them cannot be produced.
 */
#ifndef RNNSERVE_SHORTLIST_H
#define RNNSERVE_SHORTLIST_H

#include <stdint.h>

typedef struct rs_shortlist {
    int common;             /* target ids [0, common) are always candidates */
    int per_word;           /* entries per source word */
    int src_vocab;          /* rows of lexical */
    const int32_t *lexical; /* (src_vocab, per_word) target ids, −1 = none */
} rs_shortlist;

/* Upper bound on the extra candidates of a sentence of n source ids. */
int rs_shortlist_capacity(const rs_shortlist *s, int n);

/* The candidates of source ids src[0..n) beyond the common ids [0,
 * common): their lexical entries, ascending, each once; out holds
 * rs_shortlist_capacity(s, n) ids.  Returns the count.  (Beam search takes
 * them as vocab_extra, with vocab_prefix = common: beam.h.) */
int rs_shortlist_for(const rs_shortlist *s, const int32_t *src, int n, int32_t *out);

#endif
