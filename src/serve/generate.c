/*
 * generate.c — POST /generate: n texts from a generator, each starting
 * with the prefix, sampled with temperature / top_k / top_p.
 *
 * A request's randomness is one rs_rng seeded with its "seed", or with a
 * seed drawn for it and returned in the reply, so any answer can be
 * replayed.  The order in which the stream is consumed (per sample: the
 * category when none was given, then the tokens) is the one of
 * `rnntrain sample`, so the CLI and the daemon agree for the same seed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "handlers.h"
#include "request.h"
#include "rnnserve/text.h"

#define DEFAULT_MAX_LENGTH 24
#define MAX_TOP_K          1000000

/* Seeds for requests that bring none: one generator per worker thread,
 * seeded from the kernel once, so requests never contend for it. */
static _Thread_local rs_rng seed_source;
static _Thread_local int seed_source_ready;

static uint64_t draw_seed(void)
{
    if (!seed_source_ready) {
        uint64_t s = 0;
        if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&s;
        }
        rs_rng_seed(&seed_source, s);
        seed_source_ready = 1;
    }
    /* 53 bits, so the seed survives a round trip through a JSON number */
    uint64_t hi = rs_rng_u32(&seed_source), lo = rs_rng_u32(&seed_source);
    return ((hi << 21) ^ lo) & (uint64_t)RS_MAX_EXACT_INT;
}

/* The sampling options and inputs of a request, validated. */
typedef struct gen_args {
    const char *prefix;
    size_t prefix_len;
    int category; /* -1: a random category per sample (conditional models) */
    int n, max_length, top_k;
    double temperature, top_p;
    uint64_t seed;
    int seed_given;
} gen_args;

static int read_args(const rs_server *srv, const cJSON *req, const rs_model *m, gen_args *a,
                     rs_reply *r)
{
    long long v;
    int got;
    a->prefix = "";
    a->prefix_len = 0;
    if (rs_field_string(req, "prefix", &a->prefix, &a->prefix_len, r) == RS_FIELD_BAD)
        return -1;
    a->n = 1;
    if ((got = rs_field_int(req, "n", 1, srv->cfg.max_n, &v, r)) == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_OK)
        a->n = (int)v;
    a->temperature = 1.0;
    if (rs_field_number(req, "temperature", 0.0, 5.0, 0, &a->temperature, r) == RS_FIELD_BAD)
        return -1;
    a->top_k = 0;
    if ((got = rs_field_int(req, "top_k", 0, MAX_TOP_K, &v, r)) == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_OK)
        a->top_k = (int)v;
    a->top_p = 1.0;
    if (rs_field_number(req, "top_p", 0.0, 1.0, 1, &a->top_p, r) == RS_FIELD_BAD)
        return -1;
    a->max_length = -1;
    if ((got = rs_field_int(req, "max_length", 1, srv->cfg.max_length, &v, r)) == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_OK)
        a->max_length = (int)v;
    a->seed_given = 0;
    if ((got = rs_field_int(req, "seed", 0, RS_MAX_EXACT_INT, &v, r)) == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_OK) {
        a->seed = (uint64_t)v;
        a->seed_given = 1;
    }

    /* absent: each sample draws one (see rs_handle_generate) */
    a->category = rs_request_category(m, req, 0, r);
    return a->category == -2 ? -1 : 0;
}

void rs_handle_generate(const rs_server *srv, const rs_model_set *set, const char *body, size_t len,
                        rs_reply *r)
{
    rs_pool *pool = NULL;
    rs_scratch *s = NULL;
    cJSON *out = NULL;
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    int mi = rs_request_model(set, req, RS_TASK_GENERATOR, r);
    if (mi < 0)
        goto done;
    const rs_model *m = rs_model_set_model(set, mi);
    gen_args a;
    if (read_args(srv, req, m, &a, r) != 0)
        goto done;
    int limit = srv->cfg.max_length;
    if (rs_utf8_length(a.prefix, a.prefix_len) > limit) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "prefix",
                       "prefix is longer than %d characters", limit);
        goto done;
    }
    rs_special_ids special = rs_model_special_ids(m);

    pool = rs_model_set_pool(set, mi);
    s = rs_pool_acquire(pool);
    if (limit > s->max_len)
        limit = s->max_len;
    int n_prefix = rs_request_encode(m, "prefix", a.prefix, a.prefix_len, s->ids, limit, r);
    if (n_prefix < 0)
        goto done;
    if (a.max_length < 0) {
        a.max_length = n_prefix > DEFAULT_MAX_LENGTH ? n_prefix : DEFAULT_MAX_LENGTH;
        a.max_length = a.max_length < limit ? a.max_length : limit;
    } else if (a.max_length < n_prefix) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "max_length",
                       "max_length (%d) must be at least the prefix length (%d characters)",
                       a.max_length, n_prefix);
        goto done;
    }
    if (!a.seed_given)
        a.seed = draw_seed();

    rs_sampler sampler = {(float)a.temperature, a.top_k, (float)a.top_p};
    rs_rng rng;
    rs_rng_seed(&rng, a.seed);
    int n_categories = rs_model_category_count(m);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    /* cJSON prints numbers with %.15g when that reads back "close enough"
     * (a relative test), which rounds a 16-digit seed: print it exactly. */
    char seed_text[24];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)a.seed);
    cJSON_AddRawToObject(out, "seed", seed_text);
    cJSON *samples = cJSON_AddArrayToObject(out, "samples");
    for (int i = 0; i < a.n; i++) {
        int category = a.category;
        if (n_categories > 0 && category < 0)
            category = (int)rs_rng_below(&rng, (uint32_t)n_categories);
        int n_out = 0, finished = 0;
        double log_prob = 0.0;
        if (rs_infer_generate(s->inf, &special, s->ids, n_prefix, category, a.max_length, &sampler,
                              &rng, s->out, &n_out, &log_prob, &finished) != 0) {
            rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "generation failed");
            goto done;
        }
        size_t used = 0;
        for (int t = 0; t < n_out; t++) {
            const char *tok = rs_model_token(m, s->out[t]);
            size_t tl = strlen(tok); /* fits: text_cap = max_len × longest token + 1 */
            memcpy(s->text + used, tok, tl);
            used += tl;
        }
        s->text[used] = '\0';
        cJSON *sample = cJSON_CreateObject();
        cJSON_AddStringToObject(sample, "text", s->text);
        rs_json_add_real(sample, "log_prob", log_prob);
        if (category >= 0)
            cJSON_AddStringToObject(sample, "category", rs_model_category(m, category));
        cJSON_AddBoolToObject(sample, "finished", finished);
        cJSON_AddItemToArray(samples, sample);
    }
    rs_reply_json(r, 200, out);
    out = NULL;
done:
    rs_pool_release(pool, s);
    cJSON_Delete(out);
    cJSON_Delete(req);
}
