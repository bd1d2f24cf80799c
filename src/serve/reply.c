/*
 * reply.c — reply bodies and the error object (see reply.h).
 */
#include "reply.h"

#include <math.h>

#include "rnnserve/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json"

static const char out_of_memory[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"field\":null}}";

static void set_static_oom(rs_reply *r)
{
    rs_reply_free(r);
    r->status = 500;
    r->body = (char *)out_of_memory;
    r->len = sizeof out_of_memory - 1;
    r->free_body = NULL;
    r->content_type = JSON_TYPE;
}

void rs_reply_init(rs_reply *r)
{
    memset(r, 0, sizeof *r);
    r->status = 500;
    r->content_type = JSON_TYPE;
}

void rs_reply_free(rs_reply *r)
{
    if (r->body && r->free_body)
        r->free_body(r->body);
    r->body = NULL;
    r->len = 0;
    r->free_body = NULL;
}

void rs_reply_text(rs_reply *r, int status, const char *content_type, char *body, size_t len)
{
    rs_reply_free(r);
    if (!body) {
        set_static_oom(r);
        return;
    }
    r->status = status;
    r->content_type = content_type;
    r->body = body;
    r->len = len;
    r->free_body = free;
}

void rs_reply_copy(rs_reply *r, int status, const char *content_type, const char *body, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (copy)
        memcpy(copy, body, len);
    rs_reply_text(r, status, content_type, copy, len);
}

void rs_reply_json(rs_reply *r, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    rs_reply_free(r);
    if (!text) {
        set_static_oom(r);
        return;
    }
    r->status = status;
    r->content_type = JSON_TYPE;
    r->body = text;
    r->len = strlen(text);
    r->free_body = cJSON_free;
}

void rs_reply_error(rs_reply *r, int status, const char *code, const char *field, const char *fmt,
                    ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* A message cut at the buffer's end may split a character of the
     * client's text it quotes; the reply must stay valid UTF-8. */
    size_t len = strlen(message);
    while (len > 0 && !rs_utf8_valid(message, len))
        message[--len] = '\0';
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    if (!e || !cJSON_AddStringToObject(e, "code", code) ||
        !cJSON_AddStringToObject(e, "message", message) ||
        !(field ? cJSON_AddStringToObject(e, "field", field) : cJSON_AddNullToObject(e, "field"))) {
        cJSON_Delete(root);
        set_static_oom(r);
        return;
    }
    rs_reply_json(r, status, root);
}

cJSON *rs_json_add_real(cJSON *obj, const char *name, double value)
{
    if (!isfinite(value))
        return cJSON_AddNullToObject(obj, name);
    char text[32];
    snprintf(text, sizeof text, "%.7g", value);
    return cJSON_AddRawToObject(obj, name, text);
}
