/*
 * score.c — POST /score: the log-likelihood of a text under a generator,
 * log p(<eos> | …) included, i.e. −(tokens × nll_per_token) of
 * `rnntrain eval` on a one-line file.
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "request.h"
#include "rnnserve/text.h"

void rs_handle_score(const rs_server *srv, const rs_model_set *set, const char *body, size_t len,
                     rs_reply *r)
{
    rs_pool *pool = NULL;
    rs_scratch *s = NULL;
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    int mi = rs_request_model(set, req, RS_TASK_GENERATOR, r);
    if (mi < 0)
        goto done;
    const rs_model *m = rs_model_set_model(set, mi);
    const char *text;
    size_t text_len;
    int got = rs_field_string(req, "text", &text, &text_len, r);
    if (got == RS_FIELD_BAD)
        goto done;
    if (got == RS_FIELD_ABSENT) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "text", "text (a string) is required");
        goto done;
    }
    int limit = srv->cfg.max_length;
    if (rs_utf8_length(text, text_len) > limit) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "text", "text is longer than %d characters",
                       limit);
        goto done;
    }
    int category = rs_request_category(m, req, 1, r);
    if (category == -2)
        goto done;
    rs_special_ids special = rs_model_special_ids(m);

    pool = rs_model_set_pool(set, mi);
    s = rs_pool_acquire(pool);
    int n = rs_request_encode(m, "text", text, text_len, s->ids,
                              limit < s->max_len ? limit : s->max_len, r);
    if (n < 0)
        goto done;
    double log_prob = 0.0;
    int tokens = rs_infer_score(s->inf, &special, s->ids, n, category, &log_prob);
    if (tokens <= 0) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "scoring failed");
        goto done;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    if (category >= 0)
        cJSON_AddStringToObject(out, "category", rs_model_category(m, category));
    rs_json_add_real(out, "log_prob", log_prob);
    cJSON_AddNumberToObject(out, "tokens", tokens);
    rs_json_add_real(out, "nll_per_token", -log_prob / tokens);
    rs_reply_json(r, 200, out);
done:
    rs_pool_release(pool, s);
    cJSON_Delete(req);
}
