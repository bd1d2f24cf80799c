/*
 * classify.c — POST /classify: one name ({"name"}) or a batch ({"names"}),
 * the top_k labels of each with their probabilities.
 *
 * Every name is validated before any is classified, so a bad entry in a
 * batch costs no compute and the error names it ("names[3]").
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "request.h"
#include "rnnserve/text.h"

/* Checks one name and encodes it into s->ids; its length, or -1. */
static int encode_name(const rs_server *srv, const rs_model *m, const cJSON *item,
                       const char *field, rs_scratch *s, rs_reply *r)
{
    const char *name;
    size_t len;
    if (rs_check_string(item, field, &name, &len, r) != RS_FIELD_OK)
        return -1;
    if (len == 0) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s must not be empty", field);
        return -1;
    }
    int limit = srv->cfg.max_name_chars;
    if (rs_utf8_length(name, len) > limit) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s is longer than %d characters",
                       field, limit);
        return -1;
    }
    int n =
        rs_request_encode(m, field, name, len, s->ids, limit < s->max_len ? limit : s->max_len, r);
    if (n == 0) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                       "%s has no characters left after normalisation", field);
        return -1;
    }
    return n;
}

/* The top_k labels of logits (K) as [{"label","probability"}…], most
 * likely first (lower label index first on ties, for stable output). */
static cJSON *predictions(const rs_model *m, const float *logits, int K, int top_k, rs_scratch *s)
{
    /* softmax in double, max subtracted */
    float mx = logits[0];
    for (int k = 1; k < K; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < K; k++)
        sum += s->probs[k] = exp((double)logits[k] - mx);
    for (int k = 0; k < K; k++) {
        s->probs[k] /= sum;
        s->order[k] = k;
    }
    /* partial selection sort: K is a handful of labels */
    for (int i = 0; i < top_k; i++)
        for (int j = i + 1; j < K; j++) {
            int a = s->order[i], b = s->order[j];
            if (s->probs[b] > s->probs[a] || (s->probs[b] == s->probs[a] && b < a)) {
                s->order[i] = b;
                s->order[j] = a;
            }
        }
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < top_k; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "label", rs_model_label(m, s->order[i]));
        rs_json_add_real(p, "probability", s->probs[s->order[i]]);
        cJSON_AddItemToArray(list, p);
    }
    return list;
}

void rs_handle_classify(const rs_server *srv, const rs_model_set *set, const char *body, size_t len,
                        rs_reply *r)
{
    rs_pool *pool = NULL;
    rs_scratch *s = NULL;
    cJSON *out = NULL;
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    const cJSON *one = rs_field_get(req, "name"), *many = rs_field_get(req, "names");
    if (one && many) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "names",
                       "give either name or names, not both");
        goto done;
    }
    if (!one && !many) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "name",
                       "name (a string) or names (an array of strings) is required");
        goto done;
    }
    int count = 1;
    if (many) {
        count = cJSON_IsArray(many) ? cJSON_GetArraySize(many) : -1;
        if (count < 1 || count > srv->cfg.max_batch) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "names",
                           "names must be an array of 1 to %d strings", srv->cfg.max_batch);
            goto done;
        }
    }
    int mi = rs_request_model(set, req, RS_TASK_CLASSIFIER, r);
    if (mi < 0)
        goto done;
    const rs_model *m = rs_model_set_model(set, mi);
    int K = rs_model_label_count(m);
    long long top_k = K < 3 ? K : 3;
    if (rs_field_int(req, "top_k", 1, K, &top_k, r) == RS_FIELD_BAD)
        goto done;

    pool = rs_model_set_pool(set, mi);
    s = rs_pool_acquire(pool);
    char field[32] = "name";
    const cJSON *item = many ? many->child : one;
    for (int i = 0; i < count; i++, item = item->next) {
        if (many)
            snprintf(field, sizeof field, "names[%d]", i);
        if (encode_name(srv, m, item, field, s, r) < 0)
            goto done;
    }

    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    cJSON *results = many ? cJSON_AddArrayToObject(out, "results") : NULL;
    item = many ? many->child : one;
    for (int i = 0; i < count; i++, item = item->next) {
        int n = encode_name(srv, m, item, "name", s, r); /* cannot fail: checked above */
        const float *logits = rs_infer_classify(s->inf, s->ids, n);
        cJSON *target = out;
        if (many) {
            target = cJSON_CreateObject();
            cJSON_AddItemToArray(results, target);
        }
        cJSON_AddStringToObject(target, "name", item->valuestring);
        cJSON_AddItemToObject(target, "predictions", predictions(m, logits, K, (int)top_k, s));
    }
    rs_reply_json(r, 200, out); /* takes out; on allocation failure a 500 */
    out = NULL;
done:
    rs_pool_release(pool, s);
    cJSON_Delete(out);
    cJSON_Delete(req);
}
