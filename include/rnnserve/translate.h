/*
 * translate.h — sentences through a translator model: tokens, the encoder
 * over the batch, beam search per sentence, and the hypotheses as text
 * (src/model/translate.c).  What `rnntrain translate`, `rnntrain eval` and
 * POST /translate share.
 */
#ifndef RNNSERVE_TRANSLATE_H
#define RNNSERVE_TRANSLATE_H

#include <stddef.h>

#include "rnnserve/beam.h"
#include "rnnserve/translator.h"

typedef struct rs_translation {
    int status;        /* 0, or for this sentence RS_EUTF8, RS_ETOOLONG, RS_EINVAL (no word) */
    int n_src;         /* source tokens, <eos> included */
    char **src_tokens; /* (n_src) the words as read (lower-cased), "<eos>" last */
    int n_unknown;     /* source words outside the vocabulary */
    int n_hyp;         /* hypotheses, best first */
    rs_hypothesis hyp[RS_BEAM_MAX];
} rs_translation;

/* Translates texts[0..n) (lens[i] bytes each; sentences of more than
 * max_src words refused one by one with RS_ETOOLONG); with use_shortlist
 * and a model that has one, each sentence searches over its shortlist
 * (shortlist.h; o's vocabulary fields are ignored).  0, or -1 when memory runs out. */
int rs_translate(const rs_translator *t, const char *const *texts, const size_t *lens, int n,
                 int max_src, const rs_beam_opts *o, int use_shortlist, rs_translation *out);
void rs_translation_free(rs_translation *tr);

/* Hypothesis h's target tokens as strings (count h->n): with
 * replace_unknown an <unk> is replaced from the source word w its
 * attention weighs most (needs the attention): by w's first entry in the
 * model's shortlist table (its most probable translation outside the common
 * words) when there is one, else by w itself.  The strings point into the model or the
 * translation; the array is the caller's to free. */
const char **rs_translation_tokens(const rs_translator *t, const rs_translation *tr,
                                   const rs_hypothesis *h, int replace_unknown);
/* The tokens joined as t's target language writes them (French, a side
 * with elision: "j'ai froid ?"; words.h); caller frees. */
char *rs_translation_text(const rs_translator *t, const char *const *tokens, int n);

#endif
