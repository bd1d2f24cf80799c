/*
 * ui.h — the playground page at GET / (issue 13): one HTML page, its style
 * sheet and its script, kept as real files in src/serve/ui/ and built into
 * the binary by src/serve/embed_ui.py (a meson custom_target writes
 * ui_assets.c), so the daemon reads nothing at run time and the page
 * fetches nothing from elsewhere.  The page only calls the public API
 * (GET /v1/models, POST /generate, /classify, /score, /translate), so it
 * adds no code to the API routes; --no-ui (RNNSERVE_NO_UI) turns it off,
 * and its paths are then a 404 like any unknown one.
 */
#ifndef RNNSERVE_SERVE_UI_H
#define RNNSERVE_SERVE_UI_H

#include <stddef.h>

#include "reply.h"

typedef struct rs_ui_asset {
    const char *path;         /* "/", "/ui/app.css", "/ui/app.js" */
    const char *content_type; /* with its charset */
    const unsigned char *data;
    size_t len;
} rs_ui_asset;

/* The embedded files (ui_assets.c, generated). */
extern const rs_ui_asset rs_ui_assets[];
extern const size_t rs_ui_asset_count;

/* The asset served at path (exact match), or NULL. */
const rs_ui_asset *rs_ui_find(const char *path);

/* 200 with the asset at path, its Content-Type, a Content-Security-Policy
 * that allows only the page's own script, style and API calls, and
 * Cache-Control: no-cache (a new binary's page is seen at once); the body
 * is the embedded bytes, not a copy.  404 for a path that is not one. */
void rs_handle_ui(const char *path, rs_reply *r);

#endif
