/*
 * http.c — libmicrohttpd plumbing (see http.h).
 *
 * Life of a request, as libmicrohttpd drives the access handler:
 *   1st call, *req_cls == NULL: headers are in; allocate our state.
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
 * pipelined request, so nothing is queued before the last call.  A worker
 * thread never waits for the engine: it serves its other connections
 * while a suspended one waits.
 *
 * The job's lock guards q->suspended and job->ctx, so that a notification
 * either finds the connection suspended and resumes it, or comes before
 * the suspension and is seen as job->done by the handler, which then does
 * not suspend; and so that a request freed by the completion callback is
 * never reached from the engine (job->ctx is cleared first).
 */
#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
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
    MHD_socket quiesced_fd; /* closed only after MHD_stop_daemon, as MHD requires */
    int port;
    /* Connections, counted from MHD's connection notifications: MHD's own
     * count (MHD_DAEMON_INFO_CURRENT_CONNECTIONS) leaves out a connection
     * handed over with MHD_add_connection until a worker has set it up, so
     * a drain that trusted it could stop with a request about to start. */
    atomic_int open;
    pthread_mutex_t lock; /* guards handed */
    MHD_socket *handed;   /* sockets given to MHD by rs_http_quiesce, not yet started */
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
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    /* While draining, every reply closes its connection, so keep-alive
     * clients reconnect to another replica instead of to a closing socket. */
    if (atomic_load(&srv->draining))
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
        q->method = rs_method_find(method);
        snprintf(q->method_name, sizeof q->method_name, "%s", method);
        /* A declared length over the cap is refused without buffering any
         * of it (the body is still read and dropped, see take_chunk). */
        const char *declared =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (declared && strtoull(declared, NULL, 10) > cap_bytes)
            q->too_large = 1;
        *req_cls = q;
        rs_metrics_in_flight(srv->metrics, 1);
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
            rs_reply_error(&r, 413, RS_ERR_TOO_LARGE, NULL,
                           "the request body is larger than %d bytes (--max-body-bytes)",
                           srv->cfg.max_body_bytes);
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

rs_http *rs_http_start(rs_server *srv, char *err, size_t errlen)
{
    const rs_serve_config *cfg = &srv->cfg;
    rs_http *h = calloc(1, sizeof *h);
    struct addrinfo hints = {0}, *ai = NULL;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->quiesced_fd = MHD_INVALID_SOCKET;
    atomic_init(&h->open, 0);
    pthread_mutex_init(&h->lock, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "--host %s: %s", cfg->host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the logger goes first so that MHD reports option errors through it */
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_seconds,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->connection_memory_bytes,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (address in use or not local?)", cfg->host,
                 cfg->port);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    freeaddrinfo(ai);
    return h;
fail:
    if (ai)
        freeaddrinfo(ai);
    pthread_mutex_destroy(&h->lock);
    free(h);
    return NULL;
}

int rs_http_port(const rs_http *h) { return h->port; }

void rs_http_quiesce(rs_http *h)
{
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        return;
    h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
    if (h->quiesced_fd == MHD_INVALID_SOCKET)
        return;
    /* Workers no longer accept, but the kernel still completes handshakes
     * into the backlog, and those clients would hang until the socket
     * closes and then see a reset.  So: hand what is already queued to the
     * workers (MHD_add_connection; the listening socket is non-blocking),
     * then shutdown() the listener, which on Linux stops listening (new
     * connections are refused at once) while the descriptor stays valid,
     * as MHD needs until MHD_stop_daemon.  A handshake that completes in
     * the microseconds between the last accept() and shutdown() is reset
     * by the kernel: that client never had a request accepted and sees a
     * failed connection, as with any server that closes its listener.
     * Each socket handed over is listed until a worker has started it (see
     * struct rs_http); it is listed before the hand-over, which a worker
     * may complete before MHD_add_connection returns. */
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof addr;
        int fd = accept(h->quiesced_fd, (struct sockaddr *)&addr, &alen);
        if (fd < 0)
            break;
        pthread_mutex_lock(&h->lock);
        if (h->n_handed == h->cap_handed) {
            size_t cap = h->cap_handed ? 2 * h->cap_handed : 64;
            MHD_socket *grown = realloc(h->handed, cap * sizeof *grown);
            if (grown) {
                h->handed = grown;
                h->cap_handed = cap;
            }
        }
        int listed = h->n_handed < h->cap_handed;
        if (listed)
            h->handed[h->n_handed++] = fd;
        pthread_mutex_unlock(&h->lock);
        if (!listed) {
            close(fd); /* no memory to track it: refuse it as the kernel would */
            continue;
        }
        if (MHD_add_connection(h->daemon, fd, (struct sockaddr *)&addr, alen) != MHD_YES) {
            /* MHD has closed the socket already and will not start it */
            pthread_mutex_lock(&h->lock);
            forget_handed(h, fd);
            pthread_mutex_unlock(&h->lock);
        }
    }
    shutdown(h->quiesced_fd, SHUT_RDWR);
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
    MHD_stop_daemon(h->daemon);
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    pthread_mutex_destroy(&h->lock);
    free(h->handed);
    free(h);
}
