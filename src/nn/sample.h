/*
 * sample.h — next-token selection on caller scratch (internal to src/nn;
 * the public entry is rs_infer_sample in infer.h).
 */
#ifndef RNNSERVE_NN_SAMPLE_H
#define RNNSERVE_NN_SAMPLE_H

#include "rnnserve/infer.h"

/* probs (V) and order (V) are scratch.  Returns the chosen id. */
int rs_sample_logits(const float *logits, int V, const rs_sampler *s, const int *banned,
                     int n_banned, rs_rng *rng, float *probs, int *order);

#endif
