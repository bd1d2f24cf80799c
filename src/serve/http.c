/*
 * http.c — libmicrohttpd plumbing (see http.h).
 *
 * Life of a request, as libmicrohttpd drives the access handler:
 *   1st call, *req_cls == NULL: headers are in; allocate our state (or
 *     queue the 413 for a declared body over the cap, and that is all).
 *   calls with *upload_data_size > 0: body chunks (about 16 KiB each);
 *     append them under the cap, or count and drop them once over it;
 *     always consume (*upload_data_size = 0) so the connection stays in
 *     step with the client.
 *   call with *upload_data_size == 0 after that: dispatch; queue the
 *     reply, or submit the handler's job to the engine and suspend the
 *     connection (MHD_suspend_connection) until the engine notifies;
 *   the engine's notification (engine thread): MHD_resume_connection;
 *   call with *upload_data_size == 0 once resumed: build the reply from
 *     the job (job->finish) and queue it;
 *   completion callback: log, count, detach from the job, free the state.
 * Answering before the body is read would close the connection and lose a
 * pipelined request, so nothing is queued before the last call, except the
 * 413 for a declared body over the cap (below).  A worker thread never
 * waits for the engine: it serves its other connections while a suspended
 * one waits.
 *
 * Connections: the listening socket is this file's, not libmicrohttpd's.
 * An acceptor thread accepts every connection the kernel has queued and
 * hands it to the workers (MHD_add_connection), up to --max-connections;
 * acceptor_main says why.  rs_http_quiesce stops it for a drain.
 *
 * A declared body over --max-body-bytes is answered 413 on the first call,
 * before the body (queue_too_large), and that connection then closes.
 *
 * The job's lock guards q->suspended and job->ctx, so that a notification
 * either finds the connection suspended and resumes it, or comes before
 * the suspension and is seen as job->done by the handler, which then does
 * not suspend; and so that a request freed by the completion callback is
 * never reached from the engine (job->ctx is cleared first).
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "log.h"
#include "modeljob.h"

struct rs_http {
    struct MHD_Daemon *daemon;
    int port;
    unsigned max_connections; /* --max-connections: the acceptor keeps below it */
    /* The listening socket is ours, not MHD's (MHD_USE_NO_LISTEN_SOCKET):
     * an acceptor thread accepts every connection the kernel has queued
     * and hands it to the workers with MHD_add_connection; see
     * acceptor_main for why. */
    MHD_socket listen_fd;
    int wake[2]; /* a byte on wake[1] stops the acceptor */
    pthread_t acceptor;
    int acceptor_running;
    /* Connections, counted from MHD's connection notifications: MHD's own
     * count (MHD_DAEMON_INFO_CURRENT_CONNECTIONS) leaves out a connection
     * handed over with MHD_add_connection until a worker has set it up, so
     * a drain that trusted it could stop with a request about to start. */
    atomic_int open;
    pthread_mutex_t lock; /* guards handed and stopping; room waits on it */
    pthread_cond_t room;  /* signalled when a connection closes */
    int stopping;         /* the acceptor is to return */
    MHD_socket *handed;   /* sockets given to MHD, not yet started by a worker */
    size_t n_handed, cap_handed;
};

/* Per-request state, *req_cls. */
typedef struct request {
    rs_route route;
    rs_method method;
    char method_name[16];
    uint64_t start_us;
    char *body; /* len bytes + a NUL, or NULL */
    size_t len, cap;
    size_t received; /* body bytes seen, kept or not */
    int too_large;
    int status; /* 0 until a reply is queued */
    struct MHD_Connection *conn;
    rs_job *job;   /* handed to the engine, or NULL */
    int suspended; /* under job->lock */
    /* streaming replies */
    MHD_socket fd;           /* the connection's socket, to notice a client that left */
    rs_stream_cursor cursor; /* what has been formatted */
    char *chunk;             /* formatted events not yet handed to MHD */
    size_t chunk_len, chunk_sent;
    int stream_over; /* the final event is in chunk */
    size_t reply_bytes;
    char model[256];
} request;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Appends a body chunk; on going over the cap, frees what was kept and
 * only counts from then on. */
static void take_chunk(request *q, size_t cap_bytes, const char *data, size_t n)
{
    q->received += n;
    if (q->too_large)
        return;
    if (q->len + n > cap_bytes) {
        q->too_large = 1;
        free(q->body);
        q->body = NULL;
        q->len = q->cap = 0;
        return;
    }
    if (q->len + n + 1 > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n + 1)
            cap *= 2;
        if (cap > cap_bytes + 1)
            cap = cap_bytes + 1;
        char *grown = realloc(q->body, cap);
        if (!grown) {
            /* treated like an oversized body: a clean 413 beats a crash,
             * and memory this short means the request could not run */
            q->too_large = 1;
            free(q->body);
            q->body = NULL;
            q->len = q->cap = 0;
            return;
        }
        q->body = grown;
        q->cap = cap;
    }
    memcpy(q->body + q->len, data, n);
    q->len += n;
    q->body[q->len] = '\0';
}

static enum MHD_Result queue_reply(rs_server *srv, struct MHD_Connection *c, request *q,
                                   rs_reply *r)
{
    struct MHD_Response *resp;
    if (r->free_body)
        resp = MHD_create_response_from_buffer_with_free_callback(r->len, r->body, r->free_body);
    else
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO; /* the body is still ours: the caller frees it */
    r->body = NULL;    /* now the response's */
    r->free_body = NULL;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2)
        MHD_add_response_header(resp, h[0], h[1]);
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    /* While draining, every reply closes its connection, so keep-alive
     * clients reconnect to another replica instead of to a closing socket. */
    if (r->close || atomic_load(&srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        q->status = r->status;
        q->reply_bytes = r->len;
        if (r->model[0]) /* a reply built from a job leaves the model named at dispatch */
            snprintf(q->model, sizeof q->model, "%s", r->model);
    }
    return ok;
}

/* 1 when the client has closed its end (a read would return 0 bytes or
 * fail): its stream is over, and so is the work for it. */
static int client_gone(MHD_socket fd)
{
    if (fd == MHD_INVALID_SOCKET)
        return 0;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * MHD's content reader for a streamed reply (chunked text/event-stream):
 * hands over formatted events; when there are none, formats what the
 * engine has made since; when it has made nothing new, suspends the
 * connection until the engine's next notification, which resumes it (MHD
 * calls this again then).  A client that has gone away ends the reply
 * with an error, which closes the connection and, in on_completed,
 * cancels the job: the engine drops its row at its next iteration.
 */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    request *q = cls;
    rs_job *job = q->job;
    for (;;) {
        if (q->chunk_sent < q->chunk_len) {
            size_t n = q->chunk_len - q->chunk_sent < max ? q->chunk_len - q->chunk_sent : max;
            memcpy(buf, q->chunk + q->chunk_sent, n);
            q->chunk_sent += n;
            q->reply_bytes += n;
            return (ssize_t)n;
        }
        free(q->chunk);
        q->chunk = NULL;
        q->chunk_len = q->chunk_sent = 0;
        if (q->stream_over)
            return MHD_CONTENT_READER_END_OF_STREAM;
        q->stream_over = job->stream_chunk(job, &q->cursor, &q->chunk, &q->chunk_len);
        if (q->chunk_len > 0 || q->stream_over)
            continue;
        if (client_gone(q->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&job->lock);
        if (!rs_job_has_news_locked(job, &q->cursor)) {
            q->suspended = 1;
            MHD_suspend_connection(q->conn);
            pthread_mutex_unlock(&job->lock);
            return 0; /* MHD calls again once resumed */
        }
        pthread_mutex_unlock(&job->lock);
    }
}

/* Queues the 200 text/event-stream reply of a streaming job. */
static enum MHD_Result queue_stream(rs_server *srv, struct MHD_Connection *c, request *q)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, q, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (atomic_load(&srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) {
        q->status = MHD_HTTP_OK;
        snprintf(q->model, sizeof q->model, "%s", rs_model_name(rs_model_job_of(q->job)->model));
    }
    return ok;
}

/* 1 when the request declares a body (Content-Length) over cap_bytes. */
static int declares_too_large(struct MHD_Connection *c, size_t cap_bytes)
{
    const char *declared =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return declared && strtoull(declared, NULL, 10) > cap_bytes;
}

static void too_large_reply(const rs_server *srv, rs_reply *r)
{
    rs_reply_error(r, 413, RS_ERR_TOO_LARGE, NULL,
                   "the request body is larger than %d bytes (--max-body-bytes)",
                   srv->cfg.max_body_bytes);
}

/*
 * The 413 for a declared length over the cap, queued on the first call,
 * before any of the body is read: a client that declares 1 GB and sends
 * nothing is answered at once instead of waiting for the connection
 * time-out, and one that sent "Expect: 100-continue" gets the 413 instead
 * of 100 Continue and never sends the body.  libmicrohttpd then reads no
 * more of the request and closes the connection after the reply (the
 * unread body cannot be told apart from a next request), so the reply
 * says "Connection: close".  A body over the cap without a declared
 * length (chunked) is read and dropped instead and answered at its end
 * (take_chunk), which keeps the connection.
 */
static enum MHD_Result queue_too_large(rs_server *srv, struct MHD_Connection *c, request *q)
{
    rs_reply r;
    rs_reply_init(&r);
    too_large_reply(srv, &r);
    r.close = 1;
    enum MHD_Result ok = queue_reply(srv, c, q, &r);
    rs_reply_free(&r);
    return ok;
}

/* The engine's notification (engine thread): resume the connection if it
 * waits, so that its worker calls on_request again. */
static void on_job_event(rs_job *job)
{
    pthread_mutex_lock(&job->lock);
    request *q = job->ctx;
    if (q && q->suspended) {
        q->suspended = 0;
        MHD_resume_connection(q->conn);
    }
    pthread_mutex_unlock(&job->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    rs_server *srv = cls;
    request *q = *req_cls;
    size_t cap_bytes = (size_t)srv->cfg.max_body_bytes;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO; /* no memory for 300 bytes: drop the connection */
        q->start_us = now_us();
        q->route = rs_route_find(url);
        if (q->route == RS_ROUTE_UI && srv->cfg.no_ui)
            q->route = RS_ROUTE_OTHER; /* counted and logged as any unknown path */
        q->method = rs_method_find(method);
        snprintf(q->method_name, sizeof q->method_name, "%s", method);
        *req_cls = q;
        rs_metrics_in_flight(srv->metrics, 1);
        if (declares_too_large(c, cap_bytes)) {
            q->too_large = 1;
            return queue_too_large(srv, c, q);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        take_chunk(q, cap_bytes, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->status)
        return MHD_YES; /* already answered; MHD may call once more */
    rs_reply r;
    rs_reply_init(&r);
    if (!q->job) {
        rs_job *job = NULL;
        if (q->too_large)
            too_large_reply(srv, &r);
        else
            rs_dispatch(srv, q->route, q->method, url, q->body ? q->body : "", q->len, &r, &job);
        if (job) {
            snprintf(q->model, sizeof q->model, "%s", rs_model_name(rs_model_job_of(job)->model));
            job->notify = on_job_event;
            job->ctx = q;
            q->conn = c;
            if (rs_engine_submit(srv->engine, job) != 0) {
                rs_job_unref(job);
                rs_reply_error(&r, 503, RS_ERR_OVERLOADED, NULL,
                               "the server is busy (%d requests queued); retry shortly",
                               rs_engine_pending(srv->engine));
                r.retry_after = 1;
            } else {
                q->job = job;
                const union MHD_ConnectionInfo *info =
                    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
                q->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
                if (job->stream)
                    return queue_stream(srv, c, q);
            }
        }
    }
    if (q->job) {
        rs_job *job = q->job;
        pthread_mutex_lock(&job->lock);
        if (!job->done) {
            q->suspended = 1;
            MHD_suspend_connection(c);
            pthread_mutex_unlock(&job->lock);
            return MHD_YES;
        }
        pthread_mutex_unlock(&job->lock);
        job->finish(job, &r);
    }
    enum MHD_Result ok = queue_reply(srv, c, q, &r);
    rs_reply_free(&r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    rs_server *srv = cls;
    request *q = *req_cls;
    if (!q)
        return;
    *req_cls = NULL;
    uint64_t latency = now_us() - q->start_us;
    if (q->status)
        rs_metrics_observe(srv->metrics, q->route, q->status, latency);
    rs_metrics_in_flight(srv->metrics, -1);
    rs_log_line l;
    rs_log_begin(&l, RS_LOG_INFO, "access");
    rs_log_str(&l, "method", q->method_name);
    rs_log_str(&l, "route", rs_route_label(q->route));
    rs_log_int(&l, "status", q->status);
    rs_log_int(&l, "latency_us", (long long)latency);
    rs_log_str(&l, "model", q->model[0] ? q->model : NULL);
    rs_log_int(&l, "bytes", (long long)q->reply_bytes);
    rs_log_int(&l, "request_bytes", (long long)q->received);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        rs_log_str(&l, "aborted",
                   toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "timeout"
                   : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                   : "connection");
    rs_log_end(&l);
    if (q->job) {
        pthread_mutex_lock(&q->job->lock);
        q->job->ctx = NULL; /* the engine must not reach q any more */
        pthread_mutex_unlock(&q->job->lock);
        rs_job_cancel(q->job); /* nothing if it is done */
        rs_job_unref(q->job);
    }
    free(q->chunk);
    free(q->body);
    free(q);
}

/* Removes fd from the handed list if it is there; caller holds the lock. */
static void forget_handed(rs_http *h, MHD_socket fd)
{
    for (size_t i = 0; i < h->n_handed; i++)
        if (h->handed[i] == fd) {
            h->handed[i] = h->handed[--h->n_handed];
            return;
        }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)socket_ctx;
    rs_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&h->open, 1);
        /* an acceptor waiting at --max-connections may take one more */
        pthread_mutex_lock(&h->lock);
        pthread_cond_signal(&h->room);
        pthread_mutex_unlock(&h->lock);
        return;
    }
    atomic_fetch_add(&h->open, 1);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!info)
        return;
    pthread_mutex_lock(&h->lock);
    forget_handed(h, info->connect_fd);
    pthread_mutex_unlock(&h->lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    rs_logf(RS_LOG_WARN, "libmicrohttpd", "%s", msg);
}

/* 1 while connections open and handed over are below --max-connections;
 * the caller holds h->lock. */
static int has_room_locked(const rs_http *h)
{
    int open = atomic_load(&h->open);
    return (size_t)(open > 0 ? open : 0) + h->n_handed < h->max_connections;
}

/* Gives an accepted socket to the workers, if there is room for it (else
 * closes it, as a full server would).  It is listed (see struct rs_http)
 * before the hand-over, which a worker may complete before
 * MHD_add_connection returns; the lock is not held across that call, as
 * the worker's on_connection takes it. */
static void hand_over(rs_http *h, int fd, const struct sockaddr *addr, socklen_t alen)
{
    pthread_mutex_lock(&h->lock);
    int listed = 0;
    if (has_room_locked(h) && h->n_handed == h->cap_handed) {
        size_t cap = h->cap_handed ? 2 * h->cap_handed : 64;
        MHD_socket *grown = realloc(h->handed, cap * sizeof *grown);
        if (grown) {
            h->handed = grown;
            h->cap_handed = cap;
        }
    }
    if (has_room_locked(h) && h->n_handed < h->cap_handed) {
        h->handed[h->n_handed++] = fd;
        listed = 1;
    }
    pthread_mutex_unlock(&h->lock);
    if (!listed) {
        close(fd); /* no room, or no memory to track it: refuse it */
        return;
    }
    if (MHD_add_connection(h->daemon, fd, addr, alen) != MHD_YES) {
        /* MHD has closed the socket already and will not start it */
        pthread_mutex_lock(&h->lock);
        forget_handed(h, fd);
        pthread_mutex_unlock(&h->lock);
    }
}

/* Makes fd non-blocking and closed on exec, as MHD's sockets are. */
static int set_nonblocking_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* One connection from the (non-blocking) listener, set up as MHD wants
 * it, or -1 with errno (EAGAIN when none is queued). */
static int accept_one(int listen_fd, struct sockaddr_storage *addr, socklen_t *alen)
{
    int fd = accept(listen_fd, (struct sockaddr *)addr, alen);
    if (fd >= 0 && set_nonblocking_cloexec(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Accepts what the kernel has queued while there is room.  0 when the
 * queue is empty (or the limit reached), -1 when out of descriptors or
 * memory: the connections wait in the kernel's queue meanwhile. */
static int accept_queued(rs_http *h)
{
    for (;;) {
        pthread_mutex_lock(&h->lock);
        int room = has_room_locked(h) && !h->stopping;
        pthread_mutex_unlock(&h->lock);
        if (!room)
            return 0;
        struct sockaddr_storage addr;
        socklen_t alen = sizeof addr;
        int fd = accept_one(h->listen_fd, &addr, &alen);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1; /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
        }
        hand_over(h, fd, (struct sockaddr *)&addr, alen);
    }
}

/* Waits until there is room for a connection or the acceptor is stopped;
 * 1 to go on accepting, 0 to return. */
static int wait_for_room(rs_http *h)
{
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && !has_room_locked(h))
        pthread_cond_wait(&h->room, &h->lock);
    int go_on = !h->stopping;
    pthread_mutex_unlock(&h->lock);
    return go_on;
}

/*
 * The acceptor thread.  In poll mode each MHD worker accepts one
 * connection per turn of its loop, and a turn first serves every ready
 * connection: when 1,000 clients connect at once, the last ones wait in
 * the kernel's accept queue for hundreds of turns, each longer as the
 * connections already accepted send requests, and were seen waiting over
 * 2 s on this 2-core machine.  Handed over with MHD_add_connection, a
 * worker takes every new connection at its next turn.  At
 * --max-connections the acceptor waits for a connection to close, so the
 * extra clients wait in the kernel's queue, as they did when MHD accepted.
 */
static void *acceptor_main(void *arg)
{
    rs_http *h = arg;
    int out_of_fds_logged = 0;
    while (wait_for_room(h)) {
        struct pollfd p[2] = {{.fd = h->listen_fd, .events = POLLIN},
                              {.fd = h->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!p[0].revents)
            continue; /* EINTR */
        if (accept_queued(h) == 0) {
            out_of_fds_logged = 0;
            continue;
        }
        /* out of descriptors: retry shortly rather than spin on a
         * listener that stays readable */
        if (!out_of_fds_logged)
            rs_logf(RS_LOG_WARN, "accept_failed",
                    "cannot accept a connection (%s) with %u open; retrying every 10 ms",
                    strerror(errno), rs_http_connections(h));
        out_of_fds_logged = 1;
        poll(&p[1], 1, 10);
    }
    return NULL;
}

/* Stops the acceptor thread, if it runs, and waits for it. */
static void stop_acceptor(rs_http *h)
{
    if (!h->acceptor_running)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_broadcast(&h->room);
    pthread_mutex_unlock(&h->lock);
    char b = 1;
    if (write(h->wake[1], &b, 1) < 0) {
        /* the pipe is non-blocking and holds a byte already */
    }
    pthread_join(h->acceptor, NULL);
    h->acceptor_running = 0;
}

/* A non-blocking listening socket on ai, as MHD would set it up:
 * SO_REUSEADDR, IPv6 only for an IPv6 address, backlog SOMAXCONN.  -1
 * with errno set on failure. */
static int open_listener(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (set_nonblocking_cloexec(fd) != 0) {
        close(fd);
        return -1;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The port fd is bound to, or -1. */
static int bound_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0)
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

/* Binds the listener of cfg into h->listen_fd and h->port. */
static int listen_on(rs_http *h, const rs_serve_config *cfg, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "--host %s: %s", cfg->host, gai_strerror(gai));
        return -1;
    }
    h->listen_fd = open_listener(ai);
    freeaddrinfo(ai);
    if (h->listen_fd < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        return -1;
    }
    h->port = bound_port(h->listen_fd);
    return 0;
}

/* The workers, without a listening socket of their own.  Each worker may
 * hold every connection (MHD splits its limit between them and would
 * refuse a connection handed to a full one); the acceptor keeps the total
 * to --max-connections. */
static struct MHD_Daemon *start_workers(rs_server *srv, rs_http *h)
{
    const rs_serve_config *cfg = &srv->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET;
    unsigned limit = (unsigned)cfg->max_connections * (unsigned)cfg->threads;
    /* the logger goes first so that MHD reports option errors through it */
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
                            on_mhd_log, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_seconds,
                            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)cfg->connection_memory_bytes, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_END);
}

rs_http *rs_http_start(rs_server *srv, char *err, size_t errlen)
{
    rs_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->listen_fd = h->wake[0] = h->wake[1] = -1;
    h->max_connections = (unsigned)srv->cfg.max_connections;
    atomic_init(&h->open, 0);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->room, NULL);
    if (listen_on(h, &srv->cfg, err, errlen) != 0)
        goto fail;
    if (pipe(h->wake) != 0 || set_nonblocking_cloexec(h->wake[0]) != 0 ||
        set_nonblocking_cloexec(h->wake[1]) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    h->daemon = start_workers(srv, h);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot start the libmicrohttpd workers");
        goto fail;
    }
    if (pthread_create(&h->acceptor, NULL, acceptor_main, h) != 0) {
        snprintf(err, errlen, "cannot start the acceptor thread");
        goto fail;
    }
    h->acceptor_running = 1;
    return h;
fail:
    rs_http_stop(h);
    return NULL;
}

int rs_http_port(const rs_http *h) { return h->port; }

void rs_http_quiesce(rs_http *h)
{
    if (!h->acceptor_running)
        return;
    stop_acceptor(h);
    /* The kernel still completes handshakes into the backlog, and those
     * clients would hang until the socket closes and then see a reset.
     * So: hand what is already queued to the workers (as far as
     * --max-connections allows; the rest are closed, as a full server
     * would), then shutdown() the listener, which on Linux stops
     * listening (new connections are refused at once).  A handshake that
     * completes in the microseconds between the last accept() and
     * shutdown() is reset by the kernel: that client never had a request
     * accepted and sees a failed connection, as with any server that
     * closes its listener. */
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof addr;
        int fd = accept_one(h->listen_fd, &addr, &alen);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        hand_over(h, fd, (struct sockaddr *)&addr, alen);
    }
    shutdown(h->listen_fd, SHUT_RDWR);
}

unsigned rs_http_connections(rs_http *h)
{
    pthread_mutex_lock(&h->lock);
    size_t pending = h->n_handed;
    pthread_mutex_unlock(&h->lock);
    int open = atomic_load(&h->open);
    return (unsigned)(open > 0 ? open : 0) + (unsigned)pending;
}

void rs_http_stop(rs_http *h)
{
    if (!h)
        return;
    stop_acceptor(h);
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    for (int i = 0; i < 2; i++)
        if (h->wake[i] >= 0)
            close(h->wake[i]);
    pthread_cond_destroy(&h->room);
    pthread_mutex_destroy(&h->lock);
    free(h->handed);
    free(h);
}
