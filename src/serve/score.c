/*
 * score.c — POST /score: the log-likelihood of a text under a generator,
 * log p(<eos> | …) included, i.e. −(tokens × nll_per_token) of
 * `rnntrain eval` on a one-line file; under a textlm, the log-likelihood
 * of every character after the first, state carried from zeros (DESIGN.md;
 * `rnntrain eval` of the text as a file).  The text is checked and encoded
 * before the category (the order of request.h).  With "per_token": true
 * the reply also lists each predicted token's text and ln p
 * (token_texts, token_log_probs), recorded by the engine as it scores.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "modeljob.h"
#include "request.h"
#include "rnnserve/text.h"

static void finish_score(rs_job *job, rs_reply *r);
static int add_per_token(cJSON *out, const rs_model *m, rs_job *job, int tokens);

void rs_handle_score(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                     rs_reply *r, rs_job **out_job)
{
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    int mi = rs_request_model(set, req, RS_TASK_GENERATOR, r);
    if (mi < 0)
        goto fail;
    const rs_model *m = rs_model_set_model(set, mi);
    int textlm = rs_model_config(m)->task == RS_TASK_TEXTLM;
    const char *text;
    size_t text_len;
    int got = rs_field_string(req, "text", &text, &text_len, r);
    if (got == RS_FIELD_BAD)
        goto fail;
    if (got == RS_FIELD_ABSENT) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "text", "text (a string) is required");
        goto fail;
    }
    int limit = textlm ? srv->cfg.max_prompt : srv->cfg.max_length;
    if (rs_utf8_length(text, text_len) > limit) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "text", "text is longer than %d characters",
                       limit);
        goto fail;
    }

    /* buffers: one sample, the text's ids (limit) */
    void *buf;
    rs_job *job =
        rs_model_job_create(RS_JOB_SCORE, set, mi, req,
                            sizeof(rs_job_sample) + (size_t)limit * sizeof(int32_t), &buf, r);
    if (!job)
        return; /* req went with it */
    int32_t *ids = (int32_t *)((char *)buf + sizeof(rs_job_sample));
    /* the text before the category: characters the model cannot read are
     * a 422 naming them whatever else is wrong (request.h) */
    int n = rs_request_encode(m, "text", text, text_len, ids, limit, r);
    int category = n < 0 ? -2 : rs_request_category(m, req, 1, r);
    if (category == -2) {
        rs_job_unref(job); /* req goes with it */
        return;
    }
    if (textlm && n < 2) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "text",
                       "a textlm scores the characters after the first: give at least two");
        rs_job_unref(job);
        return;
    }
    /* "per_token": each predicted token's ln p and text in the reply */
    int per_token = 0;
    if (rs_field_bool(req, "per_token", &per_token, r) == RS_FIELD_BAD) {
        rs_job_unref(job);
        return;
    }
    if (per_token) {
        rs_model_job *mj = rs_model_job_of(job);
        mj->token_log_probs = calloc((size_t)n + 1, sizeof *mj->token_log_probs);
        if (!mj->token_log_probs) {
            rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
            rs_job_unref(job);
            return;
        }
        job->token_log_probs = mj->token_log_probs;
    }
    job->text = textlm;
    job->ids = rs_model_special_ids(m);
    job->forced = ids;
    job->n_forced = n;
    job->max_length = n;
    job->category = category;
    job->n_categories = 0; /* a conditional model's category is required: never drawn */
    job->n_samples = 1;
    job->samples = buf;
    job->finish = finish_score;
    *out_job = job;
    return;
fail:
    cJSON_Delete(req);
}

static void finish_score(rs_job *job, rs_reply *r)
{
    rs_model_job *mj = rs_model_job_of(job);
    const rs_model *m = mj->model;
    if (rs_model_job_failed(job, job->samples_done == 1, r))
        return;
    const rs_job_sample *s = &job->samples[0];
    /* every character and <eos>; a textlm's after its first */
    int tokens = job->text ? job->n_forced - 1 : job->n_forced + 1;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    if (s->category >= 0)
        cJSON_AddStringToObject(out, "category", rs_model_category(m, s->category));
    rs_json_add_real(out, "log_prob", s->log_prob);
    cJSON_AddNumberToObject(out, "tokens", tokens);
    rs_json_add_real(out, "nll_per_token", -s->log_prob / tokens);
    if (mj->token_log_probs && !add_per_token(out, m, job, tokens)) {
        cJSON_Delete(out);
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        return;
    }
    rs_reply_json(r, 200, out);
}

/* "token_texts" and "token_log_probs": each predicted token as the text it
 * adds (a word model's space before it included; "<eos>" for the end of
 * an item) and its ln p, in order.  0 when out of memory. */
static int add_per_token(cJSON *out, const rs_model *m, rs_job *job, int tokens)
{
    const double *lp = rs_model_job_of(job)->token_log_probs;
    cJSON *texts = cJSON_AddArrayToObject(out, "token_texts");
    cJSON *probs = cJSON_AddArrayToObject(out, "token_log_probs");
    if (!texts || !probs)
        return 0;
    int first = job->text ? 1 : 0; /* a textlm's first token is given, not predicted */
    for (int k = 0; k < tokens; k++) {
        int at = first + k;
        cJSON *t;
        if (at >= job->n_forced) {
            t = cJSON_CreateString("<eos>");
        } else {
            char *piece =
                at > 0 ? rs_model_detokenize_after(m, &job->forced[at], 1, job->forced[at - 1])
                       : rs_model_detokenize(m, &job->forced[at], 1);
            t = piece ? cJSON_CreateString(piece) : NULL;
            free(piece);
        }
        char num[32];
        if (isfinite(lp[k]))
            snprintf(num, sizeof num, "%.7g", lp[k]);
        else
            snprintf(num, sizeof num, "null");
        cJSON *v = cJSON_CreateRaw(num);
        if (!t || !v) {
            cJSON_Delete(t);
            cJSON_Delete(v);
            return 0;
        }
        cJSON_AddItemToArray(texts, t);
        cJSON_AddItemToArray(probs, v);
    }
    return 1;
}
