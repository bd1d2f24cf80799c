/*
 * score.c — POST /score: the log-likelihood of a text under a generator,
 * log p(<eos> | …) included, i.e. −(tokens × nll_per_token) of
 * `rnntrain eval` on a one-line file; under a textlm, the log-likelihood
 * of every character after the first, state carried from zeros (DESIGN.md;
 * `rnntrain eval` of the text as a file).  The text is checked and encoded
 * before the category (the order of request.h).
 */
#include <stdio.h>
#include <string.h>

#include "handlers.h"
#include "modeljob.h"
#include "request.h"
#include "rnnserve/text.h"

static void finish_score(rs_job *job, rs_reply *r);

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
    rs_reply_json(r, 200, out);
}
