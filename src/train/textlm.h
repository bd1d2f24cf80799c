/*
 * textlm.h — `rnntrain textlm` (training on one running text) and the
 * exact negative log-likelihood of a text under a textlm (textlm.c).
 */
#ifndef RNNTRAIN_TEXTLM_H
#define RNNTRAIN_TEXTLM_H

#include <stdint.h>

#include "rnnserve/model.h"

int rs_textlm_main(int argc, char **argv);

/* Mean −ln p of ids[1..n) given everything before, state carried from zeros
 * (DESIGN.md: nll_per_token of a text); *count = n − 1 predicted tokens.
 * NaN on allocation failure. */
double rs_textlm_nll(const rs_model *m, const int32_t *ids, long n, long *count);

#endif
