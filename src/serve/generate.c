/*
 * generate.c — POST /generate: n texts from a generator, each starting
 * with the prefix, sampled with temperature / top_k / top_p.
 *
 * The prefix is checked and encoded before the sampling options and the
 * category (the order of request.h).  With "stream": true the reply is a
 * text/event-stream of the tokens as the engine makes them
 * (stream_generate, at the end of this file).
 *
 * A request's randomness is one rs_rng seeded with its "seed", or with a
 * seed drawn for it and returned in the reply, so any answer can be
 * replayed.  The order in which the stream is consumed (per sample: the
 * category when none was given, then the tokens) is the one of
 * `rnntrain sample`, so the CLI and the daemon agree for the same seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "handlers.h"
#include "modeljob.h"
#include "request.h"
#include "rnnserve/text.h"

#define DEFAULT_MAX_LENGTH 24  /* an item generator's max_length */
#define DEFAULT_MAX_TOKENS 200 /* a textlm's max_tokens */
#define MAX_TOP_K          1000000
#define MAX_STOP_CHARS     64
#define STR_(x)            #x
#define STR(x)             STR_(x)

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

/* The sampling options of a request, validated. */
typedef struct gen_args {
    int category; /* -1: a random category per sample (conditional models) */
    int n, max_length, top_k;
    double temperature, top_p, penalty;
    uint64_t seed;
    int seed_given;
    int stream;
} gen_args;

static int read_args(const rs_server *srv, const cJSON *req, const rs_model *m, int textlm,
                     gen_args *a, rs_reply *r)
{
    long long v;
    int got;
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
    a->penalty = 1.0;
    if (rs_field_number(req, "repetition_penalty", 0.0, 10.0, 1, &a->penalty, r) == RS_FIELD_BAD)
        return -1;
    /* an item's length counts its prefix; a textlm's, the new tokens */
    const char *length_field = textlm ? "max_tokens" : "max_length";
    const char *other_field = textlm ? "max_length" : "max_tokens";
    if (rs_field_get(req, other_field)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, other_field,
                       "model \"%s\" is a %s: its length is \"%s\"", rs_model_name(m),
                       textlm ? "textlm" : "generator of items", length_field);
        return -1;
    }
    a->max_length = -1;
    int bound = textlm ? srv->cfg.max_tokens : srv->cfg.max_length;
    if ((got = rs_field_int(req, length_field, 1, bound, &v, r)) == RS_FIELD_BAD)
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

    a->stream = 0;
    if (rs_field_bool(req, "stream", &a->stream, r) == RS_FIELD_BAD)
        return -1;

    /* absent: each sample draws one (see rs_handle_generate) */
    a->category = rs_request_category(m, req, 0, r);
    return a->category == -2 ? -1 : 0;
}

/* Stop sequences of a request, encoded with the model's tokenizer. */
typedef struct stop_set {
    int32_t ids[RS_DECODE_MAX_STOPS][MAX_STOP_CHARS];
    int lens[RS_DECODE_MAX_STOPS];
    int n;
} stop_set;

/* "stop": absent or null, a string, or an array of at most
 * RS_DECODE_MAX_STOPS strings, each 1..MAX_STOP_CHARS characters.  A
 * stop with a character the model cannot produce can never occur, so it
 * is left out.  0, or -1 with a 400 naming the field. */
static int read_stops(const cJSON *req, const rs_model *m, stop_set *st, rs_reply *r)
{
    st->n = 0;
    const cJSON *f = rs_field_get(req, "stop");
    if (!f || cJSON_IsNull(f))
        return 0;
    int count = cJSON_IsString(f) ? 1 : cJSON_IsArray(f) ? cJSON_GetArraySize(f) : -1;
    if (count < 0 || count > RS_DECODE_MAX_STOPS) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "stop",
                       "stop must be a string or an array of at most %d strings",
                       RS_DECODE_MAX_STOPS);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        const cJSON *e = cJSON_IsString(f) ? f : cJSON_GetArrayItem(f, i);
        if (!cJSON_IsString(e)) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "stop", "stop[%d] is not a string", i);
            return -1;
        }
        size_t len = strlen(e->valuestring);
        long chars = rs_utf8_length(e->valuestring, len);
        if (chars < 1 || chars > MAX_STOP_CHARS) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "stop",
                           chars < 0 ? "stop[%d] is not valid UTF-8"
                                     : "stop[%d] must have 1 to " STR(MAX_STOP_CHARS) " characters",
                           i);
            return -1;
        }
        char unknown[64];
        int n = rs_model_encode(m, e->valuestring, len, st->ids[st->n], MAX_STOP_CHARS, unknown,
                                sizeof unknown);
        if (n >= 1)
            st->lens[st->n++] = n;
    }
    return 0;
}

/* An acrostic (藏头诗): its characters' ids and the model's line breaks. */
#define MAX_ACROSTIC 16
typedef struct acrostic_set {
    int32_t ids[MAX_ACROSTIC];
    int n;
    int32_t breaks[5];
    int n_breaks;
} acrostic_set;

/* "acrostic": absent, or 1..MAX_ACROSTIC characters the model can read,
 * none of them a line break, for an item generator with line breaks in
 * its vocabulary and no prefix.  0, or -1 with a 400 or the 422. */
static int read_acrostic(const cJSON *req, const rs_model *m, int textlm, int n_prefix,
                         acrostic_set *ac, rs_reply *r)
{
    static const char *const breaks[5] = {"\xef\xbc\x8c", "\xe3\x80\x82", "\xef\xbc\x81",
                                          "\xef\xbc\x9f", "\xef\xbc\x9b"}; /* ，。！？； */
    ac->n = ac->n_breaks = 0;
    const char *text;
    size_t len;
    int got = rs_field_string(req, "acrostic", &text, &len, r);
    if (got != RS_FIELD_OK)
        return got == RS_FIELD_BAD ? -1 : 0;
    if (textlm || n_prefix > 0) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "acrostic",
                       textlm ? "an acrostic is for item generators (poems), not a textlm"
                              : "an acrostic and a prefix cannot be combined");
        return -1;
    }
    long chars = rs_utf8_length(text, len);
    if (chars < 1 || chars > MAX_ACROSTIC) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "acrostic",
                       "acrostic must have 1 to %d characters", MAX_ACROSTIC);
        return -1;
    }
    for (int i = 0; i < 5; i++) {
        int id = rs_model_token_id(m, breaks[i], strlen(breaks[i]));
        if (id >= 0)
            ac->breaks[ac->n_breaks++] = id;
    }
    if (ac->n_breaks == 0) {
        rs_reply_error(
            r, 400, RS_ERR_INVALID_ARGUMENT, "acrostic",
            "model \"%s\" writes no line breaks (，。！？；): it cannot make an acrostic",
            rs_model_name(m));
        return -1;
    }
    int n = rs_request_encode(m, "acrostic", text, len, ac->ids, MAX_ACROSTIC, r);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ac->n_breaks; k++)
            if (ac->ids[i] == ac->breaks[k]) {
                rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "acrostic",
                               "acrostic characters start lines: a line break cannot be one");
                return -1;
            }
    ac->n = n;
    return 0;
}

/* Where a generate job keeps its inputs and outputs (after the context). */
typedef struct gen_buffers {
    rs_job_sample *samples; /* (n) */
    acrostic_set *acrostic;
    stop_set *stops;
    const int32_t **stop_ptrs; /* (RS_DECODE_MAX_STOPS) */
    int32_t *prefix;           /* (n_prefix) */
    int32_t *tokens;           /* (n, max_length) */
} gen_buffers;

static void finish_generate(rs_job *job, rs_reply *r);
static int stream_generate(rs_job *job, rs_stream_cursor *cur, char **chunk, size_t *len);

/* The text to start from, checked and encoded for m into ids (at most
 * limit): an item generator's "prefix" (default empty), a textlm's
 * "prompt" (default a line break, where the text starts).  Its length in
 * tokens, or -1 with a 400 (type, length, the other field) or the 422
 * naming the characters m cannot read. */
static int read_start(const cJSON *req, const rs_model *m, int textlm, int limit, int32_t *ids,
                      int *n_unknown, rs_reply *r)
{
    *n_unknown = 0;
    const char *field = textlm ? "prompt" : "prefix", *other = textlm ? "prefix" : "prompt";
    if (rs_field_get(req, other)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, other,
                       "model \"%s\" is a %s: give the text to %s as \"%s\"", rs_model_name(m),
                       textlm ? "textlm" : "generator of items", textlm ? "continue" : "start with",
                       field);
        return -1;
    }
    const char *text = "";
    size_t len = 0;
    if (rs_field_string(req, field, &text, &len, r) == RS_FIELD_BAD)
        return -1;
    if (rs_utf8_length(text, len) > limit) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s is longer than %d characters",
                       field, limit);
        return -1;
    }
    if (textlm && len == 0) {
        text = "\n";
        len = 1;
        if (rs_model_token_id(m, text, len) < 0) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                           "model \"%s\" needs a prompt to start from", rs_model_name(m));
            return -1;
        }
    }
    return rs_request_encode_counted(m, field, text, len, ids, limit, n_unknown, r);
}

/* The max_length of a, its default filled in for a start of n_prefix
 * tokens: an item's length includes its prefix, so a max_length below it
 * is a 400; a textlm's max_tokens are added to its prompt. */
static int settle_max_length(gen_args *a, int textlm, int n_prefix, int limit, int max_tokens,
                             int acrostic, rs_reply *r)
{
    if (acrostic && a->max_length < 0) { /* a poem: room for its lines */
        a->max_length = limit;
        return 0;
    }
    if (textlm) {
        int fallback = DEFAULT_MAX_TOKENS < max_tokens ? DEFAULT_MAX_TOKENS : max_tokens;
        a->max_length = n_prefix + (a->max_length < 0 ? fallback : a->max_length);
    } else if (a->max_length < 0) {
        a->max_length = n_prefix > DEFAULT_MAX_LENGTH ? n_prefix : DEFAULT_MAX_LENGTH;
        a->max_length = a->max_length < limit ? a->max_length : limit;
    } else if (a->max_length < n_prefix) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "max_length",
                       "max_length (%d) must be at least the prefix length (%d characters)",
                       a->max_length, n_prefix);
        return -1;
    }
    return 0;
}

void rs_handle_generate(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                        rs_reply *r, rs_job **out_job)
{
    int32_t *prefix = NULL;
    stop_set *stops = NULL;
    acrostic_set acrostic;
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    int mi = rs_request_model(set, req, RS_TASK_GENERATOR, r);
    if (mi < 0)
        goto fail;
    const rs_model *m = rs_model_set_model(set, mi);
    int textlm = rs_model_config(m)->task == RS_TASK_TEXTLM;
    int limit = textlm ? srv->cfg.max_prompt : srv->cfg.max_length;
    prefix = malloc((size_t)limit * sizeof *prefix);
    stops = malloc(sizeof *stops);
    if (!prefix || !stops) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        goto fail;
    }
    /* the text before the options: characters the model cannot read
     * are a 422 naming them whatever else is wrong (request.h) */
    int n_unknown = 0;
    int n_prefix = read_start(req, m, textlm, limit, prefix, &n_unknown, r);
    gen_args a;
    if (n_prefix < 0 || read_acrostic(req, m, textlm, n_prefix, &acrostic, r) != 0 ||
        read_args(srv, req, m, textlm, &a, r) != 0 || read_stops(req, m, stops, r) != 0 ||
        settle_max_length(&a, textlm, n_prefix, limit, srv->cfg.max_tokens, acrostic.n > 0, r) != 0)
        goto fail;
    if (!a.seed_given)
        a.seed = draw_seed();

    /* buffers: samples, stops, then the prefix, then every sample's tokens */
    size_t samples_bytes = (size_t)a.n * sizeof(rs_job_sample);
    size_t stops_bytes =
        sizeof(stop_set) + RS_DECODE_MAX_STOPS * sizeof(int32_t *) + sizeof(acrostic_set);
    size_t prefix_bytes = (size_t)n_prefix * sizeof(int32_t);
    size_t tokens_bytes = (size_t)a.n * (size_t)a.max_length * sizeof(int32_t);
    void *buf;
    rs_job *job =
        rs_model_job_create(RS_JOB_GENERATE, set, mi, req,
                            samples_bytes + stops_bytes + prefix_bytes + tokens_bytes, &buf, r);
    req = NULL; /* the job's now */
    if (!job)
        goto fail;
    char *at = buf;
    gen_buffers b;
    b.samples = (rs_job_sample *)at;
    b.stop_ptrs = (const int32_t **)(at += samples_bytes);
    b.stops = (stop_set *)(at += RS_DECODE_MAX_STOPS * sizeof(int32_t *));
    b.acrostic = (acrostic_set *)(at += sizeof(stop_set));
    b.prefix = (int32_t *)(at += sizeof(acrostic_set));
    b.tokens = (int32_t *)(at + prefix_bytes);
    memcpy(b.prefix, prefix, prefix_bytes);
    *b.stops = *stops;
    *b.acrostic = acrostic;
    for (int i = 0; i < b.stops->n; i++)
        b.stop_ptrs[i] = b.stops->ids[i];
    free(prefix);
    free(stops);
    for (int i = 0; i < a.n; i++)
        b.samples[i].tokens = b.tokens + (size_t)i * a.max_length;
    rs_model_job_of(job)->seed = a.seed;
    rs_model_job_of(job)->unknown = n_unknown;
    job->ids = rs_model_special_ids(m);
    job->forced = b.prefix;
    job->n_forced = n_prefix;
    job->max_length = a.max_length;
    job->sampler = (rs_sampler){(float)a.temperature, a.top_k, (float)a.top_p};
    job->text = textlm;
    job->stops = b.stop_ptrs;
    job->stop_lens = b.stops->lens;
    job->n_stops = b.stops->n;
    job->penalty = (float)a.penalty;
    job->acrostic = b.acrostic->ids;
    job->n_acrostic = b.acrostic->n;
    job->breaks = b.acrostic->breaks;
    job->n_breaks = b.acrostic->n_breaks;
    rs_rng_seed(&job->rng, a.seed);
    job->category = a.category;
    job->n_categories = rs_model_category_count(m);
    job->n_samples = a.n;
    job->samples = b.samples;
    job->finish = finish_generate;
    job->stream = a.stream;
    job->stream_chunk = stream_generate;
    *out_job = job;
    return;
fail:
    free(prefix);
    free(stops);
    cJSON_Delete(req);
}

static const char *finish_name(rs_finish f)
{
    return f == RS_FINISH_EOS ? "eos" : f == RS_FINISH_STOP ? "stop" : "length";
}

/* Tokens a sample made (its prefix or prompt not counted). */
static int made(const rs_job *job, const rs_job_sample *s) { return s->n_tokens - job->n_forced; }

static void finish_generate(rs_job *job, rs_reply *r)
{
    rs_model_job *mj = rs_model_job_of(job);
    const rs_model *m = mj->model;
    if (rs_model_job_failed(job, job->samples_done == job->n_samples, r))
        return;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    /* cJSON prints numbers with %.15g when that reads back "close enough"
     * (a relative test), which rounds a 16-digit seed: print it exactly. */
    char seed_text[24];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)mj->seed);
    cJSON_AddRawToObject(out, "seed", seed_text);
    if (rs_model_is_word(m)) /* words of the prompt the model does not know */
        cJSON_AddNumberToObject(out, "unknown_tokens", mj->unknown);
    cJSON *samples = cJSON_AddArrayToObject(out, "samples");
    for (int i = 0; i < job->n_samples; i++) {
        const rs_job_sample *s = &job->samples[i];
        /* an item with its prefix; a textlm's continuation alone */
        int from = job->text ? job->n_forced : 0;
        char *text = rs_model_detokenize_after(m, s->tokens + from, s->n_tokens - from,
                                               from > 0 ? s->tokens[from - 1] : -1);
        cJSON *sample = cJSON_CreateObject();
        cJSON_AddStringToObject(sample, "text", text ? text : "");
        free(text);
        rs_json_add_real(sample, "log_prob", s->log_prob);
        if (s->category >= 0)
            cJSON_AddStringToObject(sample, "category", rs_model_category(m, s->category));
        if (!job->text)
            cJSON_AddBoolToObject(sample, "finished", s->finished);
        cJSON_AddStringToObject(sample, "finish_reason", finish_name(s->finish));
        cJSON_AddNumberToObject(sample, "tokens", made(job, s));
        cJSON_AddItemToArray(samples, sample);
    }
    rs_reply_json(r, 200, out);
}

/* ---- streaming (text/event-stream) -------------------------------------- */

/* A growing chunk of events. */
typedef struct events {
    char *s;
    size_t len, cap;
    int failed;
} events;

/* Appends `data: <json>\n\n` and deletes json. */
static void add_event(events *e, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        e->failed = 1;
        return;
    }
    size_t n = strlen(text), need = e->len + n + 9;
    if (need > e->cap) {
        size_t cap = e->cap ? e->cap : 256;
        while (cap < need)
            cap *= 2;
        char *grown = realloc(e->s, cap);
        if (!grown) {
            free(text);
            e->failed = 1;
            return;
        }
        e->s = grown;
        e->cap = cap;
    }
    e->len += (size_t)sprintf(e->s + e->len, "data: %s\n\n", text);
    free(text);
}

/* {"index":i,"text":"…"} for each of tokens[from, to) of sample i: one
 * event per token, as DESIGN.md has it, also when several were made
 * since the last send (the prefix, forced, comes as one event). */
static void add_text(events *e, const rs_model *m, int i, const int32_t *tokens, int from, int to,
                     int n_prefix)
{
    while (from < to) {
        int upto = from < n_prefix ? (n_prefix < to ? n_prefix : to) : from + 1;
        /* with the token before, so that a word model's space comes along */
        char *text = rs_model_detokenize_after(m, tokens + from, upto - from,
                                               from > 0 ? tokens[from - 1] : -1);
        cJSON *ev = text ? cJSON_CreateObject() : NULL;
        cJSON_AddNumberToObject(ev, "index", i);
        cJSON_AddStringToObject(ev, "text", text);
        free(text);
        add_event(e, ev);
        from = upto;
    }
}

/*
 * The events of DESIGN.md's streaming /generate, for what the engine made
 * since *cur: the new text of each sample as it grows ({"index","text"},
 * the prefix first, then one event per sampled token),
 * at each sample's end {"index","finish_reason","log_prob","tokens"[,
 * "category"]}, and last {"done":true,"model","seed","finish_reason",
 * "tokens","samples"}, or an {"error":…} event if the job could not end.
 * The concatenated texts of a sample are its "text" in the plain reply.
 */
static int stream_generate(rs_job *job, rs_stream_cursor *cur, char **chunk, size_t *len)
{
    rs_model_job *mj = rs_model_job_of(job);
    const rs_model *m = mj->model;
    pthread_mutex_lock(&job->lock);
    int samples_done = job->samples_done, current = job->current, done = job->done;
    pthread_mutex_unlock(&job->lock);
    events e = {0};
    /* finished samples: the rest of their text, then their end */
    /* a textlm's prompt is not sent back */
    int first = job->text ? job->n_forced : 0;
    for (; cur->sample < samples_done; cur->sample++, cur->token = 0) {
        const rs_job_sample *s = &job->samples[cur->sample];
        add_text(&e, m, cur->sample, s->tokens, cur->token > first ? cur->token : first,
                 s->n_tokens, job->n_forced);
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddNumberToObject(ev, "index", cur->sample);
        cJSON_AddStringToObject(ev, "finish_reason", finish_name(s->finish));
        rs_json_add_real(ev, "log_prob", s->log_prob);
        cJSON_AddNumberToObject(ev, "tokens", made(job, s));
        if (s->category >= 0)
            cJSON_AddStringToObject(ev, "category", rs_model_category(m, s->category));
        add_event(&e, ev);
    }
    /* the sample running now; its forced prefix only once the engine has
     * read all of it, so that it goes out as one event however the polls
     * fall (a poll between two of the prefix's steps split "Ak" in two) */
    if (!done && cur->sample < job->n_samples && current > cur->token && current >= job->n_forced) {
        add_text(&e, m, cur->sample, job->samples[cur->sample].tokens,
                 cur->token > first ? cur->token : first, current, job->n_forced);
        cur->token = current;
    }
    int over = 0;
    if (done) {
        over = 1;
        rs_reply err;
        rs_reply_init(&err);
        if (rs_model_job_failed(job, samples_done == job->n_samples, &err)) {
            /* the error object as the final event */
            cJSON *body = cJSON_ParseWithLength(err.body, err.len);
            add_event(&e, body);
        } else {
            int total = 0;
            for (int i = 0; i < job->n_samples; i++)
                total += made(job, &job->samples[i]);
            const rs_job_sample *last = &job->samples[job->n_samples - 1];
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddBoolToObject(ev, "done", 1);
            cJSON_AddStringToObject(ev, "model", rs_model_name(m));
            char seed_text[24];
            snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)mj->seed);
            cJSON_AddRawToObject(ev, "seed", seed_text);
            cJSON_AddStringToObject(ev, "finish_reason", finish_name(last->finish));
            cJSON_AddNumberToObject(ev, "tokens", total);
            cJSON_AddNumberToObject(ev, "samples", job->n_samples);
            add_event(&e, ev);
        }
        rs_reply_free(&err);
    }
    if (e.failed) { /* out of memory: end the stream rather than send half an event */
        free(e.s);
        *chunk = NULL;
        *len = 0;
        return 1;
    }
    *chunk = e.s;
    *len = e.len;
    return over;
}
