/*
 * request.h — turning a POST body into validated values: parse the JSON
 * object, read each field with a strict type and range, pick the model.
 *
 * Every function either succeeds or writes the 4xx error reply that names
 * the field and states the bound, so a handler reads as a list of fields
 * and stops at the first fault.  Every route lists them in one order: the
 * JSON, the model, the input text (its type and length, then the
 * characters the model cannot read: 422), then the options (category,
 * top_k, n …).  So a 422 is never hidden behind an error about another
 * field, such as the category a conditional model requires.
 *
 * JSON null counts as absent (the default applies); unknown fields are
 * ignored.  Strings are checked to be valid UTF-8 first, because cJSON
 * passes raw bytes through unchecked.
 */
#ifndef RNNSERVE_SERVE_REQUEST_H
#define RNNSERVE_SERVE_REQUEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "registry.h"
#include "reply.h"

/* The largest integer a JSON number carries exactly (2^53 − 1). */
#define RS_MAX_EXACT_INT 9007199254740991LL

/* Outcome of reading an optional field. */
enum { RS_FIELD_BAD = -1, RS_FIELD_ABSENT = 0, RS_FIELD_OK = 1 };

/* body (len bytes, need not be NUL-terminated) as a JSON object, or NULL
 * with a 400 reply: invalid_json for bytes that are not one JSON value,
 * invalid_argument when the value is not an object.  Free with cJSON_Delete. */
cJSON *rs_request_parse(const char *body, size_t len, rs_reply *r);

/* The member key of obj, NULL when absent or null. */
const cJSON *rs_field_get(const cJSON *obj, const char *key);

/* A string item named field in messages: valid UTF-8 (len bytes). */
int rs_check_string(const cJSON *item, const char *field, const char **out, size_t *len,
                    rs_reply *r);
int rs_field_string(const cJSON *obj, const char *key, const char **out, size_t *len, rs_reply *r);
/* An integral number in [lo, hi]. */
int rs_field_int(const cJSON *obj, const char *key, long long lo, long long hi, long long *out,
                 rs_reply *r);
/* true or false (1 or 0). */
int rs_field_bool(const cJSON *obj, const char *key, int *out, rs_reply *r);
/* A finite number in [lo, hi], or (lo, hi] when lo_open. */
int rs_field_number(const cJSON *obj, const char *key, double lo, double hi, int lo_open,
                    double *out, rs_reply *r);

/*
 * The model a request asks for with "model", or the first loaded model of
 * task.  Returns its index in set, with its name in r->model for the access
 * log, or -1 with 404 (unknown name, or no model of the task) or 400 (a
 * model of another task).
 */
int rs_request_model(const rs_model_set *set, const cJSON *req, rs_task task, rs_reply *r);

/*
 * Normalises and encodes text for model m into ids (at most cap).  Returns
 * the number of ids, or -1 with 422 naming the characters the model cannot
 * read, or 400 when longer than cap after normalisation.
 */
int rs_request_encode(const rs_model *m, const char *field, const char *text, size_t len,
                      int32_t *ids, int cap, rs_reply *r);
/* The same, counting in *n_unknown the words a word model read as <unk>. */
int rs_request_encode_counted(const rs_model *m, const char *field, const char *text, size_t len,
                              int32_t *ids, int cap, int *n_unknown, rs_reply *r);

/*
 * The "category" of a request for model m: its index; -1 when absent and
 * not required; or -2 with a 400 naming the field (not a string, a
 * category m does not know, any category for a model not conditioned on
 * one, or absent when required).
 */
int rs_request_category(const rs_model *m, const cJSON *req, int required, rs_reply *r);

#endif
