/*
 * classify.c — POST /classify: one name ({"name"}) or a batch ({"names"}),
 * the top_k labels of each with their probabilities.
 *
 * Every name is trimmed, validated and encoded before the job goes to the
 * engine, so a bad entry in a batch costs no compute and the error names
 * it ("names[3]"); the reply gives each name as it was sent.  A request is
 * checked in the order of every route (request.h): the model, then the
 * input (here the names, 422 included), then the options (top_k).  The
 * engine classifies the names of every waiting request of a model
 * together (engine.h); the reply is built here afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "modeljob.h"
#include "request.h"
#include "rnnserve/text.h"

/* Checks one name and encodes it into ids (at most limit); its length, or
 * -1.  White space around the name (Unicode's, as a copied cell or form
 * field often carries) is not part of it: it is trimmed before the checks
 * and the model reads what is left; a name of white space alone is empty. */
static int encode_name(const rs_server *srv, const rs_model *m, const cJSON *item,
                       const char *field, int32_t *ids, rs_reply *r)
{
    const char *name;
    size_t len, start;
    if (rs_check_string(item, field, &name, &len, r) != RS_FIELD_OK)
        return -1;
    len = rs_utf8_trim(name, len, &start);
    name += start;
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
    int n = rs_request_encode(m, field, name, len, ids, limit, r);
    if (n == 0) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                       "%s has no characters left after normalisation", field);
        return -1;
    }
    return n;
}

static void finish_classify(rs_job *job, rs_reply *r);

void rs_handle_classify(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                        rs_reply *r, rs_job **out_job)
{
    cJSON *req = rs_request_parse(body, len, r);
    if (!req)
        return;
    const cJSON *one = rs_field_get(req, "name"), *many = rs_field_get(req, "names");
    if (one && many) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "names",
                       "give either name or names, not both");
        goto fail;
    }
    if (!one && !many) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "name",
                       "name (a string) or names (an array of strings) is required");
        goto fail;
    }
    int count = 1;
    if (many) {
        count = cJSON_IsArray(many) ? cJSON_GetArraySize(many) : -1;
        if (count < 1 || count > srv->cfg.max_batch) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "names",
                           "names must be an array of 1 to %d strings", srv->cfg.max_batch);
            goto fail;
        }
    }
    int mi = rs_request_model(set, req, RS_TASK_CLASSIFIER, r);
    if (mi < 0)
        goto fail;
    const rs_model *m = rs_model_set_model(set, mi);
    int K = rs_model_label_count(m);

    /* buffers: name pointers, lengths, ids (count, limit), logits (count, K) */
    size_t limit = (size_t)srv->cfg.max_name_chars, c = (size_t)count;
    size_t ptr_bytes = c * sizeof(int32_t *), len_bytes = c * sizeof(int);
    size_t ids_bytes = c * limit * sizeof(int32_t);
    void *buf;
    rs_job *job =
        rs_model_job_create(RS_JOB_CLASSIFY, set, mi, req,
                            ptr_bytes + len_bytes + ids_bytes + c * K * sizeof(float), &buf, r);
    if (!job)
        return; /* req went with it */
    const int32_t **names = buf;
    int *lengths = (int *)((char *)buf + ptr_bytes);
    int32_t *ids = (int32_t *)((char *)buf + ptr_bytes + len_bytes);
    float *logits = (float *)((char *)buf + ptr_bytes + len_bytes + ids_bytes);
    char field[32] = "name";
    const cJSON *item = many ? many->child : one;
    for (int i = 0; i < count; i++, item = item->next) {
        if (many)
            snprintf(field, sizeof field, "names[%d]", i);
        names[i] = ids + (size_t)i * limit;
        lengths[i] = encode_name(srv, m, item, field, ids + (size_t)i * limit, r);
        if (lengths[i] < 0) {
            rs_job_unref(job);
            return;
        }
    }
    long long top_k = K < 3 ? K : 3;
    if (rs_field_int(req, "top_k", 1, K, &top_k, r) == RS_FIELD_BAD) {
        rs_job_unref(job); /* req goes with it */
        return;
    }
    rs_model_job *mj = rs_model_job_of(job);
    mj->top_k = (int)top_k;
    mj->many = many != NULL;
    job->n_names = count;
    job->names = names;
    job->lengths = lengths;
    job->logits = logits;
    job->finish = finish_classify;
    *out_job = job;
    return;
fail:
    cJSON_Delete(req);
}

/* The top_k labels of logits (K) as [{"label","probability"}…], most
 * likely first; the probabilities are softmax(logits / T), T the model's
 * calibration temperature (scaled: K scratch). */
static cJSON *predictions(const rs_model *m, const float *logits, int K, int top_k, double *probs,
                          int *order, float *scaled)
{
    double T = rs_model_temperature(m);
    if (T != 1.0) {
        for (int k = 0; k < K; k++)
            scaled[k] = (float)(logits[k] / T);
        logits = scaled;
    }
    rs_softmax(logits, K, probs);
    rs_top_k(probs, K, top_k, order);
    cJSON *list = cJSON_CreateArray();
    for (int i = 0; list && i < top_k; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "label", rs_model_label(m, order[i]));
        rs_json_add_real(p, "probability", probs[order[i]]);
        cJSON_AddItemToArray(list, p);
    }
    return list;
}

static void finish_classify(rs_job *job, rs_reply *r)
{
    rs_model_job *mj = rs_model_job_of(job);
    const rs_model *m = mj->model;
    if (rs_model_job_failed(job, job->samples_done == 1, r))
        return;
    int K = rs_model_label_count(m);
    double *probs = malloc((size_t)K * sizeof *probs);
    int *order = malloc((size_t)K * sizeof *order);
    float *scaled = malloc((size_t)K * sizeof *scaled);
    cJSON *out = probs && order && scaled ? cJSON_CreateObject() : NULL;
    if (!out) {
        free(probs);
        free(order);
        free(scaled);
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        return;
    }
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    const cJSON *item =
        mj->many ? rs_field_get(mj->req, "names")->child : rs_field_get(mj->req, "name");
    cJSON *results = mj->many ? cJSON_AddArrayToObject(out, "results") : NULL;
    for (int i = 0; i < job->n_names; i++, item = item->next) {
        cJSON *target = out;
        if (mj->many) {
            target = cJSON_CreateObject();
            cJSON_AddItemToArray(results, target);
        }
        cJSON_AddStringToObject(target, "name", item->valuestring);
        cJSON_AddItemToObject(
            target, "predictions",
            predictions(m, job->logits + (size_t)i * K, K, mj->top_k, probs, order, scaled));
    }
    free(probs);
    free(order);
    free(scaled);
    rs_reply_json(r, 200, out); /* takes out; on allocation failure a 500 */
}
