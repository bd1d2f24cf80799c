/*
 * main.c — rnnserve: settings, start-up, the signal loop, graceful stop.
 *
 * Signals are turned into bytes on a pipe by a minimal handler (the
 * self-pipe trick) and acted on by the main thread, which does nothing
 * else: SIGHUP reloads the model folder; SIGTERM or SIGINT drains.
 * Handlers rather than sigwait because threads this program does not own
 * (OpenBLAS starts its pool before main runs) would otherwise receive a
 * process-directed signal with its default action and kill the process.
 *
 * Drain: /readyz turns 503 at once; after --shutdown-grace-seconds the
 * listening socket is closed; then the daemon waits, at most
 * --shutdown-timeout-seconds, until no request is in flight and no
 * connection is open (every reply while draining closes its connection),
 * stops the workers and exits 0.  A second SIGTERM/SIGINT skips the waits.
 */
#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "handlers.h"
#include "http.h"
#include "log.h"
#include "registry.h"
#include "server.h"

/* The write end of the signal pipe: a signal handler can reach nothing
 * but a static. */
static volatile sig_atomic_t signal_fd = -1;

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (write(signal_fd, &b, 1) < 0) {
        /* pipe full: enough signals are already pending */
    }
    errno = saved;
}

static int install_signals(int *read_fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    signal_fd = fds[1];
    *read_fd = fds[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    /* a client that hangs up must not kill the daemon (MHD also uses
     * MSG_NOSIGNAL, this covers every other write) */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Waits up to timeout_ms for a signal; returns it, or 0 on time-out. */
static int next_signal(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);
    if (rc <= 0)
        return 0;
    unsigned char b;
    return read(fd, &b, 1) == 1 ? b : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Room for every allowed connection plus model files: raise the soft
 * open-file limit to the hard one (often 1024 soft, 1M hard), and say so
 * when even that cannot hold --max-connections: the connections over it
 * would wait in the kernel's queue (http.c) until others close. */
static void raise_fd_limit(int max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t want = (rlim_t)max_connections + 64; /* + models, logs, pipes */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        rs_logf(RS_LOG_WARN, "open_file_limit",
                "the open-file limit (%llu) is below --max-connections (%d) + 64; raise it "
                "(ulimit -n, LimitNOFILE=) or lower --max-connections",
                (unsigned long long)rl.rlim_cur, max_connections);
}

static int reload(rs_server *srv, int at_start)
{
    char err[1024];
    double t0 = now_s();
    int n = rs_registry_load(srv->registry, err, sizeof err);
    if (n < 0) {
        rs_log_line l;
        rs_log_begin(&l, RS_LOG_ERROR, at_start ? "load_failed" : "reload_failed");
        rs_log_str(&l, "msg", err);
        rs_log_str(&l, "models", srv->cfg.models);
        rs_log_end(&l);
        /* counted after the line is out: a client that sees the count can
         * read the reason */
        if (!at_start)
            rs_metrics_reload(srv->metrics, 0);
        return -1;
    }
    if (!at_start)
        rs_metrics_reload(srv->metrics, 1);
    rs_metrics_set_models(srv->metrics, n);
    rs_model_set *set = rs_registry_acquire(srv->registry);
    char names[768] = "";
    size_t used = 0;
    int n_models = rs_model_set_count(set);
    for (int i = 0; i < n_models; i++) {
        const rs_model *m = rs_model_set_model(set, i);
        if (used + 8 < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? " " : "",
                                     rs_model_name(m));
        rs_log_line d;
        rs_log_begin(&d, RS_LOG_DEBUG, "model");
        rs_log_str(&d, "name", rs_model_name(m));
        rs_log_str(&d, "path", rs_model_path(m));
        rs_log_str(&d, "task", rs_task_name(rs_model_config(m)->task));
        rs_log_int(&d, "parameters", (long long)rs_param_count(rs_model_config(m)));
        rs_log_int(&d, "prepared_bytes",
                   (long long)rs_lane_weight_bytes(rs_model_set_lane(set, i)));
        rs_log_end(&d);
    }
    for (int i = 0; i < rs_model_set_translator_count(set); i++) {
        const char *name = rs_model_set_translator_name(set, i);
        if (used + 8 < sizeof names)
            used +=
                (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? " " : "", name);
        rs_log_line d;
        rs_log_begin(&d, RS_LOG_DEBUG, "model");
        rs_log_str(&d, "name", name);
        rs_log_str(&d, "path", rs_translator_path(rs_model_set_translator(set, i)));
        rs_log_str(&d, "task", "translator");
        rs_log_int(
            &d, "parameters",
            (long long)rs_s2s_param_count(rs_translator_config(rs_model_set_translator(set, i))));
        rs_log_end(&d);
    }
    rs_model_set_release(set);
    rs_log_line l;
    rs_log_begin(&l, n ? RS_LOG_INFO : RS_LOG_WARN, at_start ? "loaded" : "reloaded");
    rs_log_int(&l, "count", n);
    rs_log_str(&l, "names", names);
    rs_log_str(&l, "models", srv->cfg.models);
    rs_log_int(&l, "ms", (long long)((now_s() - t0) * 1000));
    rs_log_end(&l);
    return 0;
}

/* Graceful stop; see the file comment.  fd: the signal pipe. */
static void drain(rs_server *srv, rs_http *http, int fd)
{
    atomic_store(&srv->draining, 1);
    rs_logf(RS_LOG_INFO, "draining", "readiness off; closing the listener in %d s",
            srv->cfg.shutdown_grace_seconds);
    int hurry = 0;
    double until = now_s() + srv->cfg.shutdown_grace_seconds;
    while (!hurry && now_s() < until) {
        int sig = next_signal(fd, 50);
        hurry = sig == SIGTERM || sig == SIGINT;
    }
    rs_http_quiesce(http);
    until = now_s() + srv->cfg.shutdown_timeout_seconds;
    int busy = 0;
    unsigned open = 0;
    while (!hurry) {
        busy = rs_metrics_in_flight_now(srv->metrics);
        open = rs_http_connections(http);
        if ((busy == 0 && open == 0) || now_s() >= until)
            break;
        int sig = next_signal(fd, 10);
        hurry = sig == SIGTERM || sig == SIGINT;
    }
    rs_log_line l;
    rs_log_begin(&l, busy || open ? RS_LOG_WARN : RS_LOG_INFO, "stopping");
    rs_log_int(&l, "requests_in_flight", busy);
    rs_log_int(&l, "connections_open", open);
    rs_log_end(&l);
    /* Jobs still in the engine (the time-out ran out) are cancelled and
     * their connections resumed, as MHD_stop_daemon requires; the workers
     * get a moment (at most 1 s, less when hurried) to send those answers
     * (503, or a stream's error event) before the connections close. */
    rs_engine_stop(srv->engine);
    double answered_by = now_s() + (hurry ? 0.1 : 1.0);
    while (rs_metrics_in_flight_now(srv->metrics) > 0 && now_s() < answered_by)
        next_signal(fd, 5);
    rs_http_stop(http);
}

int main(int argc, char **argv)
{
    rs_server srv;
    memset(&srv, 0, sizeof srv);
    atomic_init(&srv.draining, 0);
    char err[1024];
    int rc = rs_serve_config_parse(&srv.cfg, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "rnnserve: %s\n", err);
        return rc < 0 ? 2 : 0;
    }
    rs_log_set_level(srv.cfg.log_level);
    /* The daemon's products are rs_linear's, not OpenBLAS's; keep its pool
     * from spinning up threads if anything in the library calls it. */
    openblas_set_num_threads(1);
#ifdef __GLIBC__
    /* A model set's big buffers (packed weights, tables: 64 KiB to MBs)
     * must go back to the system when a reload frees the old set.  glibc
     * raises its mmap threshold to the size of each mmap'd block freed, so
     * after the first reload the next set's buffers would come from the
     * heap and stay there, fragmented (the soak test saw RSS climb with
     * each SIGHUP); a fixed threshold keeps every one of them mmap'd.
     * Requests allocate far less than this. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
#endif
    raise_fd_limit(srv.cfg.max_connections);

    int status = 1, sig_fd = -1;
    rs_http *http = NULL;
    if (install_signals(&sig_fd) != 0) {
        fprintf(stderr, "rnnserve: cannot install signal handlers: %s\n", strerror(errno));
        return 1;
    }
    /* a helper core for steps of few sequences, when there is a second core */
    rs_team *team =
        srv.cfg.step_threads > 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1 ? rs_team_create() : NULL;
    /* and one for translations, which run on the HTTP threads, not the
     * engine's (its helper sleeps when no translation runs) */
    pthread_mutex_t translate_team_lock = PTHREAD_MUTEX_INITIALIZER;
    srv.translate_team_lock = &translate_team_lock;
    srv.translate_team = team ? rs_team_create() : NULL;
    rs_lane_limits limits = {
        .rows = srv.cfg.batch_rows,
        .team = team,
        .classifier_rows = srv.cfg.max_batch > 64 ? srv.cfg.max_batch : 64,
        .classifier_max_len = srv.cfg.max_name_chars,
    };
    srv.metrics = rs_metrics_create();
    srv.registry = rs_registry_create(srv.cfg.models, &limits);
    srv.engine = srv.metrics ? rs_engine_create(srv.cfg.max_queue, srv.metrics) : NULL;
    if (!srv.metrics || !srv.registry || !srv.engine) {
        fprintf(stderr, "rnnserve: out of memory\n");
        goto done;
    }
    /* Listen first, so /healthz answers and /readyz says 503 while the
     * models load, as an orchestrator expects. */
    http = rs_http_start(&srv, err, sizeof err);
    if (!http) {
        rs_logf(RS_LOG_ERROR, "listen_failed", "%s", err);
        goto done;
    }
    rs_log_line l;
    rs_log_begin_always(&l, RS_LOG_INFO, "listening");
    rs_log_str(&l, "host", srv.cfg.host);
    rs_log_int(&l, "port", rs_http_port(http));
    rs_log_int(&l, "threads", srv.cfg.threads);
    rs_log_end(&l);
    if (reload(&srv, 1) != 0)
        goto done;

    for (;;) {
        int sig = next_signal(sig_fd, -1);
        if (sig == SIGHUP) {
            reload(&srv, 0);
        } else if (sig == SIGTERM || sig == SIGINT) {
            drain(&srv, http, sig_fd);
            http = NULL;
            status = 0;
            break;
        }
    }
    rs_logf(RS_LOG_INFO, "stopped", "bye");
done:
    rs_engine_stop(srv.engine);
    rs_http_stop(http);
    rs_engine_destroy(srv.engine);
    rs_registry_destroy(srv.registry);
    rs_metrics_destroy(srv.metrics);
    rs_team_destroy(team); /* last: the lanes' steppers used it */
    rs_team_destroy(srv.translate_team);
    return status;
}
