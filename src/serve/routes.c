/*
 * routes.c — dispatch and the operational routes: /v1/models, /healthz,
 * /readyz, /metrics (see handlers.h).
 */
#include "handlers.h"
#include "ui.h"

#include <stdio.h>
#include <string.h>

typedef void (*model_handler)(const rs_server *, rs_model_set *, const char *, size_t, rs_reply *,
                              rs_job **);

int rs_server_ready(rs_server *srv)
{
    if (atomic_load(&srv->draining))
        return 0;
    rs_model_set *set = rs_registry_acquire(srv->registry);
    int ready = set && rs_model_set_count(set) + rs_model_set_translator_count(set) > 0;
    rs_model_set_release(set);
    return ready;
}

void rs_dispatch(rs_server *srv, rs_route route, rs_method method, const char *path,
                 const char *body, size_t len, rs_reply *r, rs_job **job)
{
    if (route == RS_ROUTE_UI && srv->cfg.no_ui)
        route = RS_ROUTE_OTHER;
    if (route == RS_ROUTE_OTHER) {
        rs_reply_error(
            r, 404, RS_ERR_NOT_FOUND, NULL,
            "no route %s; the routes are POST /generate, /classify, /score, /translate and GET "
            "/v1/models, /healthz, /readyz, /metrics%s",
            path, srv->cfg.no_ui ? "" : ", / (the playground)");
        return;
    }
    if (!rs_route_allows(route, method)) {
        /* path, not the route's label: the playground's label "/" covers
         * its assets too; every other route's path is its label */
        rs_reply_error(r, 405, RS_ERR_METHOD, NULL, "%s accepts %s only", path,
                       rs_route_allow_header(route));
        r->allow = rs_route_allow_header(route);
        return;
    }
    model_handler handler = NULL;
    switch (route) {
    case RS_ROUTE_GENERATE:
        handler = rs_handle_generate;
        break;
    case RS_ROUTE_CLASSIFY:
        handler = rs_handle_classify;
        break;
    case RS_ROUTE_SCORE:
        handler = rs_handle_score;
        break;
    case RS_ROUTE_TRANSLATE:
        handler = rs_handle_translate;
        break;
    case RS_ROUTE_MODELS:
        rs_handle_models(srv, r);
        return;
    case RS_ROUTE_HEALTHZ:
        rs_handle_healthz(r);
        return;
    case RS_ROUTE_READYZ:
        rs_handle_readyz(srv, r);
        return;
    case RS_ROUTE_METRICS:
        rs_handle_metrics(srv, r);
        return;
    case RS_ROUTE_UI:
        rs_handle_ui(path, r);
        return;
    case RS_ROUTE_OTHER:
    case RS_ROUTE_COUNT:
        break;
    }
    if (!handler)
        return;
    /* The set stays ours until the handler returns, even if a reload
     * replaces it meanwhile: a reply never points into it, and a job
     * keeps a reference of its own. */
    rs_model_set *set = rs_registry_acquire(srv->registry);
    if (!set || rs_model_set_count(set) + rs_model_set_translator_count(set) == 0)
        rs_reply_error(r, 503, RS_ERR_NOT_READY, NULL, "no models are loaded yet");
    else
        handler(srv, set, body, len, r, job);
    rs_model_set_release(set);
}

void rs_handle_models(rs_server *srv, rs_reply *r)
{
    rs_model_set *set = rs_registry_acquire(srv->registry);
    if (!set) {
        static const char none[] = "{\"models\":[]}";
        rs_reply_copy(r, 200, "application/json", none, sizeof none - 1);
        return;
    }
    size_t len;
    const char *info = rs_model_set_info(set, &len);
    rs_reply_copy(r, 200, "application/json", info, len);
    rs_model_set_release(set);
}

void rs_handle_healthz(rs_reply *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    rs_reply_copy(r, 200, "application/json", ok, sizeof ok - 1);
}

void rs_handle_readyz(rs_server *srv, rs_reply *r)
{
    if (atomic_load(&srv->draining)) {
        rs_reply_error(r, 503, RS_ERR_NOT_READY, NULL, "shutting down");
        return;
    }
    rs_model_set *set = rs_registry_acquire(srv->registry);
    int n = set ? rs_model_set_count(set) + rs_model_set_translator_count(set) : 0;
    rs_model_set_release(set);
    if (n == 0) {
        rs_reply_error(r, 503, RS_ERR_NOT_READY, NULL,
                       set ? "the model folder has no *.safetensors files"
                           : "models are still loading");
        return;
    }
    char body[64];
    int len = snprintf(body, sizeof body, "{\"status\":\"ready\",\"models\":%d}", n);
    rs_reply_copy(r, 200, "application/json", body, (size_t)len);
}

void rs_handle_metrics(rs_server *srv, rs_reply *r)
{
    size_t len = 0;
    char *text = rs_metrics_render(srv->metrics, rs_server_ready(srv), &len);
    rs_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
