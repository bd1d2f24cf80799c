/*
 * request.c — strict reading of request fields (see request.h).
 */
#include "request.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rnnserve/status.h"
#include "rnnserve/text.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

cJSON *rs_request_parse(const char *body, size_t len, rs_reply *r)
{
    size_t start = 0;
    while (start < len && is_space(body[start]))
        start++;
    if (start == len) {
        rs_reply_error(r, 400, RS_ERR_INVALID_JSON, NULL,
                       "the request body is empty; expected a JSON object");
        return NULL;
    }
    /* JSON never contains a raw NUL, and cJSON would silently end a string
     * there ("a\0b" read as "a"): refuse it rather than answer for
     * another input. */
    const char *nul = memchr(body, '\0', len);
    if (nul) {
        rs_reply_error(r, 400, RS_ERR_INVALID_JSON, NULL,
                       "the request body is not valid JSON (NUL byte at %zu)",
                       (size_t)(nul - body));
        return NULL;
    }
    /* The escape \u0000 is valid JSON, but cJSON decodes it into C strings
     * that then end there ("ab\u0000zz" would be read as "ab"), so no
     * field could be checked whole: refuse it.  It is an escape when the
     * backslashes before the 'u' are odd in number. */
    for (const char *p = body; (p = memchr(p, 'u', len - (size_t)(p - body))) != NULL; p++) {
        if (len - (size_t)(p - body) < 5 || memcmp(p + 1, "0000", 4) != 0)
            continue;
        size_t slashes = 0;
        while (p - (ptrdiff_t)slashes > body && p[-(ptrdiff_t)slashes - 1] == '\\')
            slashes++;
        if (slashes % 2 == 1) {
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, NULL,
                           "strings must not contain U+0000 (\\u0000 at byte %zu)",
                           (size_t)(p - 1 - body));
            return NULL;
        }
    }
    /* cJSON bounds every read by the length and keeps the error position
     * in our own end pointer, not in its global (cJSON_GetErrorPtr). */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        rs_reply_error(r, 400, RS_ERR_INVALID_JSON, NULL,
                       "the request body is not valid JSON (error near byte %zu)", at);
        return NULL;
    }
    size_t rest = (size_t)(end - body);
    while (rest < len && is_space(body[rest]))
        rest++;
    if (rest < len) {
        cJSON_Delete(root);
        rs_reply_error(r, 400, RS_ERR_INVALID_JSON, NULL,
                       "the request body has data after the JSON value (byte %zu)", rest);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, NULL,
                       "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

const cJSON *rs_field_get(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNull(item) ? NULL : item;
}

int rs_check_string(const cJSON *item, const char *field, const char **out, size_t *len,
                    rs_reply *r)
{
    if (!cJSON_IsString(item) || !item->valuestring) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s must be a string", field);
        return RS_FIELD_BAD;
    }
    size_t n = strlen(item->valuestring);
    if (!rs_utf8_valid(item->valuestring, n)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
        return RS_FIELD_BAD;
    }
    *out = item->valuestring;
    if (len)
        *len = n;
    return RS_FIELD_OK;
}

int rs_field_string(const cJSON *obj, const char *key, const char **out, size_t *len, rs_reply *r)
{
    const cJSON *item = rs_field_get(obj, key);
    if (!item)
        return RS_FIELD_ABSENT;
    return rs_check_string(item, key, out, len, r);
}

int rs_field_int(const cJSON *obj, const char *key, long long lo, long long hi, long long *out,
                 rs_reply *r)
{
    const cJSON *item = rs_field_get(obj, key);
    if (!item)
        return RS_FIELD_ABSENT;
    double v = item->valuedouble;
    /* the range test comes before the cast, which would be undefined for
     * values outside long long */
    if (!cJSON_IsNumber(item) || !isfinite(v) || v != floor(v) || v < (double)lo ||
        v > (double)hi) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, key,
                       "%s must be an integer from %lld to %lld", key, lo, hi);
        return RS_FIELD_BAD;
    }
    *out = (long long)v;
    return RS_FIELD_OK;
}

int rs_field_bool(const cJSON *obj, const char *key, int *out, rs_reply *r)
{
    const cJSON *item = rs_field_get(obj, key);
    if (!item)
        return RS_FIELD_ABSENT;
    if (!cJSON_IsBool(item)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, key, "%s must be true or false", key);
        return RS_FIELD_BAD;
    }
    *out = cJSON_IsTrue(item) ? 1 : 0;
    return RS_FIELD_OK;
}

int rs_field_number(const cJSON *obj, const char *key, double lo, double hi, int lo_open,
                    double *out, rs_reply *r)
{
    const cJSON *item = rs_field_get(obj, key);
    if (!item)
        return RS_FIELD_ABSENT;
    double v = item->valuedouble;
    if (!cJSON_IsNumber(item) || !isfinite(v)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, key, "%s must be a finite number", key);
        return RS_FIELD_BAD;
    }
    if ((lo_open ? v <= lo : v < lo) || v > hi) {
        if (lo_open)
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, key,
                           "%s must be greater than %g and at most %g", key, lo, hi);
        else
            rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, key, "%s must be between %g and %g",
                           key, lo, hi);
        return RS_FIELD_BAD;
    }
    *out = v;
    return RS_FIELD_OK;
}

/* The model of a request, without recording it (see rs_request_model). */
static int find_model(const rs_model_set *set, const cJSON *req, rs_task task, rs_reply *r)
{
    const char *name = NULL;
    int got = rs_field_string(req, "model", &name, NULL, r);
    if (got == RS_FIELD_BAD)
        return -1;
    if (got == RS_FIELD_ABSENT) {
        int i = rs_model_set_first(set, task);
        if (i < 0)
            rs_reply_error(r, 404, RS_ERR_NOT_FOUND, "model", "no %s model is loaded",
                           rs_task_name(task));
        return i;
    }
    int i = rs_model_set_find(set, name);
    if (i < 0) {
        rs_reply_error(r, 404, RS_ERR_NOT_FOUND, "model",
                       "model \"%s\" is not loaded (GET /v1/models lists the models)", name);
        return -1;
    }
    rs_task has = rs_model_config(rs_model_set_model(set, i))->task;
    /* a textlm generates and scores as a generator does */
    if (has != task && !(task == RS_TASK_GENERATOR && has == RS_TASK_TEXTLM)) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "model",
                       "model \"%s\" is a %s; this route needs a %s", name, rs_task_name(has),
                       task == RS_TASK_GENERATOR ? "generator or textlm" : rs_task_name(task));
        return -1;
    }
    return i;
}

int rs_request_model(const rs_model_set *set, const cJSON *req, rs_task task, rs_reply *r)
{
    int i = find_model(set, req, task, r);
    if (i >= 0) /* the access log names the model that answered */
        snprintf(r->model, sizeof r->model, "%s", rs_model_name(rs_model_set_model(set, i)));
    return i;
}

int rs_request_encode(const rs_model *m, const char *field, const char *text, size_t len,
                      int32_t *ids, int cap, rs_reply *r)
{
    return rs_request_encode_counted(m, field, text, len, ids, cap, NULL, r);
}

int rs_request_encode_counted(const rs_model *m, const char *field, const char *text, size_t len,
                              int32_t *ids, int cap, int *n_unknown, rs_reply *r)
{
    char unknown[256];
    if (n_unknown)
        *n_unknown = 0;
    int n = rs_model_is_word(m)
                ? rs_model_encode_words(m, text, len, ids, cap, unknown, sizeof unknown, n_unknown)
                : rs_model_encode(m, text, len, ids, cap, unknown, sizeof unknown);
    if (n == RS_EUNKNOWN) {
        rs_reply_error(r, 422, RS_ERR_UNPROCESSABLE, field,
                       "%s has characters model \"%s\" cannot read: %s", field, rs_model_name(m),
                       unknown);
        return -1;
    }
    if (n == RS_ETOOLONG) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field,
                       "%s is longer than %d characters after normalisation", field, cap);
        return -1;
    }
    if (n < 0) {
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, field, "%s is not valid UTF-8", field);
        return -1;
    }
    return n;
}

/* Writes the categories of m as "A, B, C" (cut short with "…" if need be). */
static void list_categories(const rs_model *m, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    int n = rs_model_category_count(m);
    for (int i = 0; i < n; i++) {
        const char *c = rs_model_category(m, i);
        size_t need = strlen(c) + (i ? 2 : 0);
        if (used + need + 8 >= cap) { /* keep room for ", …" */
            snprintf(out + used, cap - used, "%s…", i ? ", " : "");
            return;
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? ", " : "", c);
    }
}

int rs_request_category(const rs_model *m, const cJSON *req, int required, rs_reply *r)
{
    const char *name;
    int got = rs_field_string(req, "category", &name, NULL, r);
    if (got == RS_FIELD_BAD)
        return -2;
    char valid[300];
    if (rs_model_category_count(m) == 0) {
        if (got == RS_FIELD_ABSENT)
            return -1;
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "category",
                       "model \"%s\" is not conditioned on categories", rs_model_name(m));
        return -2;
    }
    if (got == RS_FIELD_ABSENT) {
        if (!required)
            return -1;
        list_categories(m, valid, sizeof valid);
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "category",
                       "model \"%s\" is conditioned on a category: give one of %s",
                       rs_model_name(m), valid);
        return -2;
    }
    int id = rs_model_category_id(m, name);
    if (id < 0) {
        list_categories(m, valid, sizeof valid);
        rs_reply_error(r, 400, RS_ERR_INVALID_ARGUMENT, "category",
                       "model \"%s\" has no category \"%s\"; it knows %s", rs_model_name(m), name,
                       valid);
        return -2;
    }
    return id;
}
