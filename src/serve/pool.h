/*
 * pool.h — per-model scratch for requests: a fixed number of slots, each an
 * rs_infer plus the token, text and probability buffers a request needs,
 * all sized when the model is loaded.
 *
 * A request takes one slot for its whole computation and gives it back; a
 * slot is never shared between two threads at once.  There are as many
 * slots as worker threads plus a spare, and only workers take them, so
 * acquire does not wait in practice; if it ever must, it blocks on a
 * condition variable instead of allocating.  The pool also owns the
 * model's rs_infer_tables (input projections precomputed at load), which
 * every slot reads.  Nothing here touches HTTP.
 */
#ifndef RNNSERVE_SERVE_POOL_H
#define RNNSERVE_SERVE_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/infer.h"
#include "rnnserve/model.h"

/* One slot.  Plain data: the handlers use the buffers directly. */
typedef struct rs_scratch {
    rs_infer *inf;   /* sequences of up to max_len tokens */
    int max_len;     /* tokens per sequence */
    int32_t *ids;    /* (max_len) encoded input */
    int32_t *out;    /* (max_len) generated tokens */
    char *text;      /* (text_cap) decoded output text, NUL-terminated */
    size_t text_cap; /* max_len × longest token + 1 */
    double *probs;   /* (K) classifier probabilities */
    int *order;      /* (K) label order */
} rs_scratch;

typedef struct rs_pool rs_pool;

/* slots rs_scratch for model m, each for max_len tokens.  NULL on
 * allocation failure.  The model must outlive the pool. */
rs_pool *rs_pool_create(const rs_model *m, int slots, int max_len);
void rs_pool_destroy(rs_pool *p);

rs_scratch *rs_pool_acquire(rs_pool *p);
void rs_pool_release(rs_pool *p, rs_scratch *s);

#endif
