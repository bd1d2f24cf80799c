/*
 * route.c — the route table (see route.h).
 */
#include "route.h"

#include "ui.h"

#include <string.h>

static const struct {
    const char *path;
    int post; /* 1: POST only; 0: GET and HEAD */
} table[RS_ROUTE_COUNT] = {
    [RS_ROUTE_GENERATE] = {"/generate", 1},
    [RS_ROUTE_CLASSIFY] = {"/classify", 1},
    [RS_ROUTE_SCORE] = {"/score", 1},
    [RS_ROUTE_TRANSLATE] = {"/translate", 1},
    [RS_ROUTE_MODELS] = {"/v1/models", 0},
    [RS_ROUTE_HEALTHZ] = {"/healthz", 0},
    [RS_ROUTE_READYZ] = {"/readyz", 0},
    [RS_ROUTE_METRICS] = {"/metrics", 0},
    [RS_ROUTE_UI] = {"/", 0},
    [RS_ROUTE_OTHER] = {"other", 0},
};

rs_route rs_route_find(const char *path)
{
    for (int r = 0; r < RS_ROUTE_OTHER; r++)
        if (strcmp(path, table[r].path) == 0)
            return (rs_route)r;
    /* the page's assets (the page itself is "/", above) */
    if (rs_ui_find(path))
        return RS_ROUTE_UI;
    return RS_ROUTE_OTHER;
}

rs_method rs_method_find(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return RS_METHOD_GET;
    if (strcmp(method, "HEAD") == 0)
        return RS_METHOD_HEAD;
    if (strcmp(method, "POST") == 0)
        return RS_METHOD_POST;
    return RS_METHOD_OTHER;
}

const char *rs_route_label(rs_route route)
{
    return (unsigned)route < RS_ROUTE_COUNT ? table[route].path : "other";
}

int rs_route_allows(rs_route route, rs_method method)
{
    if (route == RS_ROUTE_OTHER)
        return 0;
    if (table[route].post)
        return method == RS_METHOD_POST;
    return method == RS_METHOD_GET || method == RS_METHOD_HEAD;
}

const char *rs_route_allow_header(rs_route route)
{
    return table[route].post ? "POST" : "GET, HEAD";
}
