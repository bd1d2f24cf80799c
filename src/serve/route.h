/*
 * route.h — the fixed set of HTTP routes: path, allowed methods, and a
 * small integer id that metrics and the access log use as a label.
 *
 * Unknown paths share one id (RS_ROUTE_OTHER, label "other") so that a
 * scanner probing random URLs cannot grow the metrics without bound.  The
 * playground page and its two assets (GET /, /ui/app.css, /ui/app.js;
 * ui.h) share one id too, RS_ROUTE_UI, labelled "/".  This is only the
 * table; the handlers live in handlers.h.
 */
#ifndef RNNSERVE_SERVE_ROUTE_H
#define RNNSERVE_SERVE_ROUTE_H

typedef enum {
    RS_ROUTE_GENERATE,
    RS_ROUTE_CLASSIFY,
    RS_ROUTE_SCORE,
    RS_ROUTE_TRANSLATE,
    RS_ROUTE_MODELS,
    RS_ROUTE_HEALTHZ,
    RS_ROUTE_READYZ,
    RS_ROUTE_METRICS,
    RS_ROUTE_UI, /* the playground: "/" and its assets under /ui/ */
    RS_ROUTE_OTHER,
    RS_ROUTE_COUNT
} rs_route;

typedef enum { RS_METHOD_GET, RS_METHOD_HEAD, RS_METHOD_POST, RS_METHOD_OTHER } rs_method;

/* Exact match of the path (query string already removed), else OTHER.
 * The playground's paths give RS_ROUTE_UI whether or not the page is on
 * (--no-ui): the caller turns it into OTHER then. */
rs_route rs_route_find(const char *path);
rs_method rs_method_find(const char *method);
/* "/generate" … ; "other" for RS_ROUTE_OTHER. */
const char *rs_route_label(rs_route route);
/* 1 if the route answers this method (GET routes also answer HEAD). */
int rs_route_allows(rs_route route, rs_method method);
/* Value of the Allow header: "POST" or "GET, HEAD". */
const char *rs_route_allow_header(rs_route route);

#endif
