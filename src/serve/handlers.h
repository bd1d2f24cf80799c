/*
 * handlers.h — one function per route, and the dispatcher that picks one.
 *
 * Handlers see a complete request body and fill an rs_reply; they know
 * nothing of libmicrohttpd (http.c turns the reply into a response), so the
 * HTTP plumbing and the API can be read apart.  The model handlers validate
 * the request on the HTTP thread and, when it is good, return a job for the
 * engine instead of a reply (modeljob.h): http.c submits it and builds the
 * reply with job->finish once the engine is done.  They run on a model set
 * the dispatcher acquired for them; a job takes its own reference.
 */
#ifndef RNNSERVE_SERVE_HANDLERS_H
#define RNNSERVE_SERVE_HANDLERS_H

#include <stddef.h>

#include "engine.h"
#include "registry.h"
#include "reply.h"
#include "route.h"
#include "server.h"

/* Routes path/method to a handler: 404 for an unknown path, 405 (with
 * Allow) for a wrong method, 503 for model routes before models are
 * loaded.  path is only quoted in the 404 message.  Either fills r, or
 * sets *job to a job for the engine (r untouched). */
void rs_dispatch(rs_server *srv, rs_route route, rs_method method, const char *path,
                 const char *body, size_t len, rs_reply *r, rs_job **job);

/* 1 when models are loaded and the server is not draining. */
int rs_server_ready(rs_server *srv);

void rs_handle_classify(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                        rs_reply *r, rs_job **job);
void rs_handle_generate(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                        rs_reply *r, rs_job **job);
void rs_handle_score(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                     rs_reply *r, rs_job **job);

/* Translates on the calling (HTTP) thread: a translator has no engine lane. */
void rs_handle_translate(const rs_server *srv, rs_model_set *set, const char *body, size_t len,
                         rs_reply *r, rs_job **job);

void rs_handle_models(rs_server *srv, rs_reply *r);
void rs_handle_healthz(rs_reply *r);
void rs_handle_readyz(rs_server *srv, rs_reply *r);
void rs_handle_metrics(rs_server *srv, rs_reply *r);

#endif
