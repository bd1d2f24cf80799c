/*
 * http.h — the libmicrohttpd daemon: listening socket, worker pool,
 * per-request state, body reading under a cap, replies, access log and
 * metrics.  What a route answers is handlers.h's business.
 *
 * Mode (see ../shared/notes/libmicrohttpd.md, measured on 0.9.75): an
 * internal thread pool with poll(), not epoll, which stalled open
 * connections at 128 and 256 clients on this version; the listening
 * socket is ours and an acceptor thread hands connections to the pool,
 * because a poll() worker accepts only one connection per turn of its
 * loop (http.c); MHD_USE_ITC so that a worker takes handed-over and
 * resumed connections at once; explicit connection time-out, connection
 * limit and per-connection memory limit, because the library's defaults
 * have no time-out at all.
 */
#ifndef RNNSERVE_SERVE_HTTP_H
#define RNNSERVE_SERVE_HTTP_H

#include <stddef.h>

#include "server.h"

typedef struct rs_http rs_http;

/* Binds srv->cfg.host:port and starts the workers.  NULL with a message
 * in err (address unusable, port taken …). */
rs_http *rs_http_start(rs_server *srv, char *err, size_t errlen);
/* The bound port (the real one when 0 was asked). */
int rs_http_port(const rs_http *h);
/* Stops accepting connections (those the kernel had queued are still
 * taken); open connections are still served. */
void rs_http_quiesce(rs_http *h);
/* Connections open now (idle keep-alive ones included), and those handed
 * to the workers that they have not set up yet. */
unsigned rs_http_connections(rs_http *h);
/* Stops the workers, closes every connection and frees h. */
void rs_http_stop(rs_http *h);

#endif
