/*
 * ui.c — serving the embedded playground files (see ui.h).
 */
#include "ui.h"

#include <string.h>

/* Everything the page needs is its own (script and style from this
 * origin, no inline code, API calls to this origin); nothing else may
 * load, frame it or be posted from it. */
static const char *const ui_headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Cache-Control",
    "no-cache",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    NULL,
};

const rs_ui_asset *rs_ui_find(const char *path)
{
    for (size_t i = 0; i < rs_ui_asset_count; i++)
        if (strcmp(path, rs_ui_assets[i].path) == 0)
            return &rs_ui_assets[i];
    return NULL;
}

void rs_handle_ui(const char *path, rs_reply *r)
{
    const rs_ui_asset *a = rs_ui_find(path);
    if (!a) {
        rs_reply_error(r, 404, RS_ERR_NOT_FOUND, NULL, "no route %s", path);
        return;
    }
    rs_reply_free(r);
    r->status = 200;
    r->content_type = a->content_type;
    r->body = (char *)a->data; /* static: free_body stays NULL */
    r->len = a->len;
    r->headers = ui_headers;
}
