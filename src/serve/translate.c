/*
 * translate.c — POST /translate (DESIGN.md): one sentence ("text") or a
 * batch ("texts", up to --max-sentences) through a translator with beam
 * search.
 *
 *   beam_size       1..16, default 4 (1 = greedy)
 *   n_best          1..beam_size, default 1: hypotheses per sentence
 *   max_length      1..--max-translation, default 50 (or the bound): tokens,
 *                   <eos> included
 *   length_penalty  0..10, default 1.0: hypotheses ranked by log_prob / length^α
 *   attention       false: true adds each hypothesis's weights, a row per
 *                   output token (<eos> included), a column per source token
 *                   (<eos> included), each row summing to 1
 *   replace_unknown false: an <unk> in the output is replaced from the
 *                   source word its attention weighs most (its lexical
 *                   entry or itself: translate.h)
 *                   With either, the weights are kept for every hypothesis
 *                   returned: n_best × max_length × source tokens, summed
 *                   over the sentences, may not pass --max-attention (else
 *                   a 400 naming the field), so that no request can make
 *                   the daemon hold (and write) a reply of hundreds of MB.
 *   shortlist       true: search the model's shortlist of target words
 *                   (shortlist.h) when it has one; false: the whole
 *                   vocabulary
 *
 * Reply for "text": {"model", "source_tokens", "unknown_words",
 * "translations": [{"text", "tokens", "log_prob", "score", "finished",
 * "attention"?}, …]}; for "texts": {"model", "results": [the same without
 * "model"], …}.  An empty sentence, one over --max-source-words words, more
 * sentences than the limit, or a bad field are a 400 naming the field
 * ("texts[3]" for a sentence of a batch).  A translator has no engine lane:
 * the work is done here, on the HTTP thread, bounded by those limits; the
 * translation that finds the server's translate team free (server.h) shares
 * its decoder's products with a second core.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "request.h"
#include "rnnserve/status.h"
#include "rnnserve/translate.h"

#define MAX_BEAM 16

/* The translator a request asks for ("model"), or the first; -1 with 404. */
static int pick_translator(const rs_model_set *set, const cJSON *req, rs_reply *r)
{
    const char *name = NULL;
    int got = rs_field_string(req, "model", &name, NULL, r);
    if (got == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_ABSENT) {
        if (rs_model_set_translator_count(set) == 0) {
            rs_reply_error(r, 404, RS_ERR_NOT_FOUND, "model", "no translator model is loaded");
            return -1;
        }
        return 0;
    }
    int i = rs_model_set_find_translator(set, name);
    if (i < 0) {
        int other = rs_model_set_find(set, name) >= 0;
        rs_reply_error(r, other ? 400 : 404, other ? RS_ERR_INVALID_ARGUMENT : RS_ERR_NOT_FOUND,
                       "model",
                       other ? "model \"%s\" is not a translator; this route needs a translator"
                             : "model \"%s\" is not loaded (GET /v1/models lists the models)",
                       name);
    }
    return i;
}

/* The weights (n_rows, n_src) as JSON rows, "[[0.1,0.9],[1,0]]", written
 * at once: one string, where a cJSON node per weight would take some 80
 * bytes each.  Caller frees; NULL when out of memory. */
static char *attention_json(const float *a, int n_rows, int n_src)
{
    size_t cap = 3 + (size_t)n_rows * (3 + (size_t)n_src * 12), at = 0; /* "%.4g," ≤ 12 */
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[at++] = '[';
    for (int i = 0; i < n_rows; i++) {
        s[at++] = i ? ',' : '[';
        if (i)
            s[at++] = '[';
        for (int k = 0; k < n_src; k++)
            at += (size_t)snprintf(s + at, cap - at, k ? ",%.4g" : "%.4g",
                                   (double)a[(size_t)i * n_src + k]);
        s[at++] = ']';
    }
    s[at++] = ']';
    s[at] = '\0';
    return s;
}

/* n_best × max_length × source tokens (<eos> included), summed over the
 * sentences: the attention weights the reply may hold.  A sentence that
 * does not encode counts as none (its error is reported later). */
static long long attention_bound(const rs_translator *t, const char *const *texts,
                                 const size_t *lens, int n, int max_source_words, long long n_best,
                                 long long max_length)
{
    int32_t *ids = malloc(((size_t)max_source_words + 1) * sizeof *ids);
    if (!ids)
        return -1;
    long long total = 0;
    for (int i = 0; i < n; i++) {
        int unknown = 0;
        int got = rs_translator_encode(t, texts[i], lens[i], ids, max_source_words + 1, &unknown);
        if (got > 0)
            total += (long long)got * n_best * max_length;
    }
    free(ids);
    return total;
}

static cJSON *hypothesis_json(const rs_translator *t, const rs_translation *tr,
                              const rs_hypothesis *h, int attention, int replace_unknown)
{
    const char **tok = rs_translation_tokens(t, tr, h, replace_unknown);
    char *text = tok ? rs_translation_text(t, tok, h->n) : NULL;
    cJSON *j = cJSON_CreateObject();
    if (!tok || !text || !j) {
        free(tok);
        free(text);
        cJSON_Delete(j);
        return NULL;
    }
    cJSON_AddStringToObject(j, "text", text);
    cJSON *toks = cJSON_AddArrayToObject(j, "tokens");
    for (int i = 0; i < h->n; i++)
        cJSON_AddItemToArray(toks, cJSON_CreateString(tok[i]));
    rs_json_add_real(j, "log_prob", h->log_prob);
    rs_json_add_real(j, "score", h->score);
    cJSON_AddBoolToObject(j, "finished", h->finished);
    if (attention && h->attention) {
        char *rows = attention_json(h->attention, h->n + h->finished, tr->n_src);
        if (!rows || !cJSON_AddRawToObject(j, "attention", rows)) {
            free(rows);
            free(tok);
            free(text);
            cJSON_Delete(j);
            return NULL;
        }
        free(rows);
    }
    free(tok);
    free(text);
    return j;
}

static cJSON *result_json(const rs_translator *t, const rs_translation *tr, int attention,
                          int replace_unknown)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON *src = cJSON_AddArrayToObject(j, "source_tokens");
    for (int i = 0; i < tr->n_src; i++)
        cJSON_AddItemToArray(src, cJSON_CreateString(tr->src_tokens[i]));
    cJSON_AddNumberToObject(j, "unknown_words", tr->n_unknown);
    cJSON *list = cJSON_AddArrayToObject(j, "translations");
    for (int h = 0; h < tr->n_hyp; h++) {
        cJSON *x = hypothesis_json(t, tr, &tr->hyp[h], attention, replace_unknown);
        if (!x) {
            cJSON_Delete(j);
            return NULL;
        }
        cJSON_AddItemToArray(list, x);
    }
    return j;
}

void rs_handle_translate(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                         rs_reply *r, rs_job **job)
{
    (void)job; /* answered here */
    const rs_serve_config *cfg = &srv->cfg;
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    const char **texts = NULL;
    size_t *lens = NULL;
    rs_translation *tr = NULL;
    int n = 0, batch = 0;
    int ti = pick_translator(set, req, r);
    if (ti < 0)
        goto done;
    const rs_translator *t = rs_model_set_translator(set, ti);
    snprintf(r->model, sizeof r->model, "%s", rs_model_set_translator_name(set, ti));

    /* the sentences: "text", or "texts" (not both) */
    const cJSON *one = rs_field_get(req, "text"), *many = rs_field_get(req, "texts");
    if ((one != NULL) == (many != NULL)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, one ? "texts" : "text",
                       one ? "give text or texts, not both"
                           : "text (a string) or texts (an array of strings) is required");
        goto done;
    }
    if (many && !cJSON_IsArray(many)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "texts",
                       "texts must be an array of strings");
        goto done;
    }
    batch = many != NULL;
    n = batch ? cJSON_GetArraySize(many) : 1;
    if (n < 1 || n > cfg->max_sentences) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "texts",
                       "texts must hold 1 to %d sentences, not %d", cfg->max_sentences, n);
        goto done;
    }
    texts = calloc((size_t)n, sizeof *texts);
    lens = calloc((size_t)n, sizeof *lens);
    tr = calloc((size_t)n, sizeof *tr);
    if (!texts || !lens || !tr) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, batch ? "texts[%d]" : "text", i);
        const cJSON *item = batch ? cJSON_GetArrayItem(many, i) : one;
        if (rs_check_string(item, field, &texts[i], &lens[i], r) != RS_FIELD_OK)
            goto done;
    }
    long long beam = 4, n_best = 1,
              max_length = cfg->max_translation < 50 ? cfg->max_translation : 50;
    double penalty = 1.0;
    int attention = 0, replace = 0, shortlist = 1;
    if (rs_field_int(req, "beam_size", 1, MAX_BEAM, &beam, r) == RS_FIELD_BAD ||
        rs_field_int(req, "n_best", 1, MAX_BEAM, &n_best, r) == RS_FIELD_BAD ||
        rs_field_int(req, "max_length", 1, cfg->max_translation, &max_length, r) == RS_FIELD_BAD ||
        rs_field_number(req, "length_penalty", 0, 10, 0, &penalty, r) == RS_FIELD_BAD ||
        rs_field_bool(req, "attention", &attention, r) == RS_FIELD_BAD ||
        rs_field_bool(req, "replace_unknown", &replace, r) == RS_FIELD_BAD ||
        rs_field_bool(req, "shortlist", &shortlist, r) == RS_FIELD_BAD)
        goto done;
    if (n_best > beam) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "n_best",
                       "n_best (%lld) must not exceed beam_size (%lld)", n_best, beam);
        goto done;
    }
    if (attention || replace) {
        long long weights =
            attention_bound(t, texts, lens, n, cfg->max_source_words, n_best, max_length);
        if (weights < 0) {
            rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
            goto done;
        }
        if (weights > cfg->max_attention) {
            const char *field = attention ? "attention" : "replace_unknown";
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                           "%s would keep up to %lld attention weights (n_best x max_length x "
                           "source tokens, summed over the sentences); the limit is %d: ask for a "
                           "smaller n_best or max_length, or fewer sentences",
                           field, weights, cfg->max_attention);
            goto done;
        }
    }
    rs_beam_opts o = {.beam_size = (int)beam,
                      .n_best = (int)n_best,
                      .max_length = (int)max_length,
                      .length_penalty = penalty,
                      .attention = attention || replace};
    /* both cores for this translation when no other holds the second */
    int teamed = srv->translate_team && pthread_mutex_trylock(srv->translate_team_lock) == 0;
    o.team = teamed ? srv->translate_team : NULL;
    int failed = rs_translate(t, texts, lens, n, cfg->max_source_words, &o, shortlist, tr) != 0;
    if (teamed)
        pthread_mutex_unlock(srv->translate_team_lock);
    if (failed) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (tr[i].status == 0)
            continue;
        char field[32];
        snprintf(field, sizeof field, batch ? "texts[%d]" : "text", i);
        if (tr[i].status == RS_ETOOLONG)
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                           "%s has %d words; the limit is %d", field, tr[i].n_src - 1,
                           cfg->max_source_words);
        else
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s has no word to translate",
                           field);
        goto done;
    }
    cJSON *out = batch ? cJSON_CreateObject() : result_json(t, &tr[0], attention, replace);
    if (!out) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        goto done;
    }
    /* "model" first: added (which names it), then moved to the front */
    cJSON *name = cJSON_CreateString(rs_model_set_translator_name(set, ti));
    cJSON_AddItemToObject(out, "model", name);
    cJSON_InsertItemInArray(out, 0, cJSON_DetachItemViaPointer(out, name));
    if (batch) {
        cJSON *list = cJSON_AddArrayToObject(out, "results");
        for (int i = 0; i < n; i++) {
            cJSON *x = result_json(t, &tr[i], attention, replace);
            if (!x) {
                cJSON_Delete(out);
                rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
                goto done;
            }
            cJSON_AddItemToArray(list, x);
        }
    }
    rs_reply_json(r, 200, out);
done:
    if (tr)
        for (int i = 0; i < n; i++)
            rs_translation_free(&tr[i]);
    free(tr);
    free(texts);
    free(lens);
    cJSON_Delete(req);
}
