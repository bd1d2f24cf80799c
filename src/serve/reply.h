/*
 * reply.h — what a handler answers, independent of libmicrohttpd: status,
 * body, content type, and the bits http.c needs for headers and the access
 * log.  Also the one place that writes the error object of DESIGN.md:
 *
 *   {"error":{"code":"invalid_argument","message":"…","field":"temperature"}}
 *
 * with field null when no single field is at fault.
 */
#ifndef RNNSERVE_SERVE_REPLY_H
#define RNNSERVE_SERVE_REPLY_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Stable error codes (the "code" of the error object). */
#define RS_ERR_INVALID_JSON     "invalid_json"       /* 400: not parseable as JSON */
#define RS_ERR_INVALID_ARGUMENT "invalid_argument"   /* 400: wrong type, range, value */
#define RS_ERR_NOT_FOUND        "not_found"          /* 404: route or model */
#define RS_ERR_METHOD           "method_not_allowed" /* 405 */
#define RS_ERR_TOO_LARGE        "payload_too_large"  /* 413 */
#define RS_ERR_UNPROCESSABLE    "unprocessable"      /* 422: characters the model cannot read */
#define RS_ERR_NOT_READY        "not_ready"          /* 503 */
#define RS_ERR_OVERLOADED       "overloaded"         /* 503: the engine's queue is full */
#define RS_ERR_INTERNAL         "internal"           /* 500: out of memory */

typedef struct rs_reply {
    int status;
    char *body; /* owned: freed with free_body (NULL = static storage) */
    size_t len;
    void (*free_body)(void *);
    const char *content_type;   /* static string */
    const char *allow;          /* Allow header for 405, else NULL */
    int retry_after;            /* seconds for a Retry-After header, 0 = none */
    int close;                  /* 1: "Connection: close" (the connection ends after it) */
    const char *const *headers; /* more headers: static name, value, …, NULL; or NULL */
    char model[256];            /* model that answered, for the access log ("" if none) */
} rs_reply;

/* Adds a computed real (a probability, a log-likelihood) to a JSON object
 * with 7 significant digits, the precision of the float arithmetic behind
 * it, instead of cJSON's 17 digits of noise.  A non-finite value becomes
 * null.  Returns the item or NULL when out of memory. */
cJSON *rs_json_add_real(cJSON *obj, const char *name, double value);

/* Zeroes a reply; status 500 with an empty model until a handler fills it. */
void rs_reply_init(rs_reply *r);
/* Frees the body if the reply still owns it. */
void rs_reply_free(rs_reply *r);

/* Takes ownership of json (deleted here) and sets the JSON body. */
void rs_reply_json(rs_reply *r, int status, cJSON *json);
/* Takes ownership of a malloc'd body. */
void rs_reply_text(rs_reply *r, int status, const char *content_type, char *body, size_t len);
/* Copies body. */
void rs_reply_copy(rs_reply *r, int status, const char *content_type, const char *body, size_t len);
/* The error object; field may be NULL.  Always succeeds: on allocation
 * failure it falls back to a static 500 body. */
void rs_reply_error(rs_reply *r, int status, const char *code, const char *field, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

#endif
