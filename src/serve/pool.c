/*
 * pool.c — a free list of scratch slots under a mutex (see pool.h).
 */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rs_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int n_slots;
    rs_scratch *slots; /* (n_slots) */
    rs_scratch **idle; /* stack of slots not in use */
    int n_idle;
    rs_infer_model *im; /* the model's prepared weights, read by every slot */
};

static void scratch_free(rs_scratch *s)
{
    rs_infer_destroy(s->inf);
    free(s->ids);
    free(s->out);
    free(s->text);
    free(s->probs);
    free(s->order);
}

static int scratch_init(rs_scratch *s, const rs_model *m, const rs_infer_model *im, int max_len)
{
    const rs_config *cfg = rs_model_config(m);
    size_t longest = 1;
    for (int i = 0; i < cfg->vocab_size; i++) {
        size_t n = strlen(rs_model_token(m, i));
        longest = n > longest ? n : longest;
    }
    size_t K = cfg->n_outputs > 0 ? (size_t)cfg->n_outputs : 1;
    memset(s, 0, sizeof *s);
    s->max_len = max_len;
    s->inf = rs_infer_create(im, max_len);
    s->ids = calloc((size_t)max_len, sizeof *s->ids);
    s->out = calloc((size_t)max_len, sizeof *s->out);
    s->text_cap = (size_t)max_len * longest + 1;
    s->text = malloc(s->text_cap);
    s->probs = calloc(K, sizeof *s->probs);
    s->order = calloc(K, sizeof *s->order);
    if (!s->inf || !s->ids || !s->out || !s->text || !s->probs || !s->order) {
        scratch_free(s);
        return -1;
    }
    return 0;
}

rs_pool *rs_pool_create(const rs_model *m, int slots, int max_len)
{
    rs_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    int have_lock = 0, have_cond = 0;
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    have_lock = 1;
    if (pthread_cond_init(&p->freed, NULL) != 0)
        goto fail;
    have_cond = 1;
    p->slots = calloc((size_t)slots, sizeof *p->slots);
    p->idle = calloc((size_t)slots, sizeof *p->idle);
    p->im = rs_infer_model_create(rs_model_config(m), rs_model_params(m), 1);
    if (!p->slots || !p->idle || !p->im)
        goto fail;
    for (; p->n_slots < slots; p->n_slots++) {
        if (scratch_init(&p->slots[p->n_slots], m, p->im, max_len) != 0)
            goto fail;
        p->idle[p->n_idle++] = &p->slots[p->n_slots];
    }
    return p;
fail:
    for (int i = 0; i < p->n_slots; i++)
        scratch_free(&p->slots[i]);
    free(p->slots);
    free(p->idle);
    rs_infer_model_destroy(p->im);
    if (have_cond)
        pthread_cond_destroy(&p->freed);
    if (have_lock)
        pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
}

void rs_pool_destroy(rs_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_slots; i++)
        scratch_free(&p->slots[i]);
    free(p->slots);
    free(p->idle);
    rs_infer_model_destroy(p->im);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

rs_scratch *rs_pool_acquire(rs_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->n_idle == 0)
        pthread_cond_wait(&p->freed, &p->lock);
    rs_scratch *s = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    return s;
}

void rs_pool_release(rs_pool *p, rs_scratch *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    p->idle[p->n_idle++] = s;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}
