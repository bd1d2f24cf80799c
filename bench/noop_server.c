/*
 * noop_server.c — the HTTP floor for bench/serve_vs_flask.sh: a
 * libmicrohttpd daemon configured as rnnserve's (src/serve/http.c) that
 * does no work beyond HTTP.
 *
 * Same daemon set-up as rnnserve: an internal polling thread pool with
 * poll() (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC),
 * --threads workers (default 2), bound through MHD_OPTION_SOCK_ADDR to the
 * --host address, connection time-out 10 s, at most 1024 connections,
 * 32 KiB of memory per connection, a completion callback that frees the
 * per-request state, RLIMIT_NOFILE raised to its hard limit and SIGPIPE
 * ignored — rnnserve's defaults.  Per request it does what rnnserve's
 * plumbing does around the handler: allocate a per-request state on the
 * first call, copy every body chunk into a growing buffer over as many
 * access-handler calls as MHD makes, and on the last call create a
 * response from a fixed small JSON (any method, any path), add
 * Content-Type, queue it and destroy it.  No JSON parsing, no model, no
 * metrics, no log line.
 *
 * Not part of the meson build; bench/serve_vs_flask.sh compiles it with
 *   cc -O2 -std=c11 bench/noop_server.c -o noop_server \
 *      $(pkg-config --cflags --libs libmicrohttpd)
 * and runs
 *   noop_server --host 127.0.0.1 --port PORT --threads 2
 * It stops on SIGTERM or SIGINT.
 */
#define _POSIX_C_SOURCE 200809L

#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define MAX_BODY_BYTES (256u * 1024u) /* rnnserve's --max-body-bytes default */

static const char REPLY[] = "{\"model\":\"noop\",\"name\":\"noop\",\"predictions\":[{\"label\":"
                            "\"noop\",\"probability\":1}]}";

typedef struct request {
    char *body;
    size_t len, cap;
    int answered;
} request;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    request *q = *req_cls;
    if (!q) { /* headers are in */
        q = calloc(1, sizeof *q);
        if (!q)
            return MHD_NO;
        *req_cls = q;
        return MHD_YES;
    }
    if (*upload_data_size > 0) { /* a body chunk: keep it, under the cap */
        size_t n = *upload_data_size;
        if (q->len + n <= MAX_BODY_BYTES) {
            if (q->len + n + 1 > q->cap) {
                size_t cap = q->cap ? q->cap : 4096;
                while (cap < q->len + n + 1)
                    cap *= 2;
                char *grown = realloc(q->body, cap);
                if (!grown)
                    return MHD_NO;
                q->body = grown;
                q->cap = cap;
            }
            memcpy(q->body + q->len, upload_data, n);
            q->len += n;
            q->body[q->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->answered)
        return MHD_YES;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof REPLY - 1, (void *)REPLY, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        q->answered = 1;
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *q = *req_cls;
    if (!q)
        return;
    *req_cls = NULL;
    free(q->body);
    free(q);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("noop_server: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void usage(void)
{
    fputs("usage: noop_server [--host ADDR] [--port N] [--threads N]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "8080";
    unsigned threads = 2;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--host") == 0)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0)
            port = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0) {
            long t = strtol(argv[++i], NULL, 10);
            if (t < 1 || t > 64)
                usage();
            threads = (unsigned)t;
        } else
            usage();
    }

    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* SIGTERM/SIGINT blocked before MHD starts its threads, so that only
     * sigwait below receives them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "noop_server: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 1;
    }
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)atoi(port), NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 1024u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "noop_server: cannot listen on %s:%s\n", host, port);
        return 1;
    }
    fprintf(stderr, "noop_server: listening on %s:%s with %u threads\n", host, port, threads);
    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}
