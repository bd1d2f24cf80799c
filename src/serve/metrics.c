/*
 * metrics.c — atomic counters and their Prometheus exposition (see metrics.h).
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_STATUS 100
#define N_STATUS   500 /* 100..599 */

/* Upper bounds of the latency buckets, in microseconds: 100 µs … 10 s, a
 * range that covers a classification (tens of µs of compute plus HTTP) up
 * to a large batch on a loaded machine. */
static const uint64_t bucket_us[] = {100,     250,     500,     1000,    2500,   5000,
                                     10000,   25000,   50000,   100000,  250000, 500000,
                                     1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

/* Upper bounds of the engine's batch-size buckets (rows per iteration). */
static const int batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof batch_le / sizeof batch_le[0])

struct rs_metrics {
    atomic_uint_least64_t requests[RS_ROUTE_COUNT][N_STATUS];
    /* per bucket, not cumulative; the last slot counts latencies above every bound */
    atomic_uint_least64_t latency[RS_ROUTE_COUNT][N_BUCKETS + 1];
    atomic_uint_least64_t latency_sum_us[RS_ROUTE_COUNT];
    atomic_int models_loaded;
    atomic_int in_flight;
    atomic_uint_least64_t reloads, reload_failures;
    /* engine: [0] generation and scoring steps, [1] classification batches;
     * per bucket, not cumulative, the last slot above every bound */
    atomic_uint_least64_t batch[2][N_BATCH + 1];
    atomic_uint_least64_t batch_rows[2];
    atomic_uint_least64_t rejected, cancelled;
    atomic_int pending;
};

rs_metrics *rs_metrics_create(void)
{
    rs_metrics *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    for (int r = 0; r < RS_ROUTE_COUNT; r++) {
        for (int s = 0; s < N_STATUS; s++)
            atomic_init(&m->requests[r][s], 0);
        for (size_t b = 0; b <= N_BUCKETS; b++)
            atomic_init(&m->latency[r][b], 0);
        atomic_init(&m->latency_sum_us[r], 0);
    }
    atomic_init(&m->models_loaded, 0);
    atomic_init(&m->in_flight, 0);
    atomic_init(&m->reloads, 0);
    atomic_init(&m->reload_failures, 0);
    for (int k = 0; k < 2; k++) {
        for (size_t b = 0; b <= N_BATCH; b++)
            atomic_init(&m->batch[k][b], 0);
        atomic_init(&m->batch_rows[k], 0);
    }
    atomic_init(&m->rejected, 0);
    atomic_init(&m->cancelled, 0);
    atomic_init(&m->pending, 0);
    return m;
}

void rs_metrics_destroy(rs_metrics *m) { free(m); }

void rs_metrics_observe(rs_metrics *m, rs_route route, int status, uint64_t latency_us)
{
    if ((unsigned)route >= RS_ROUTE_COUNT)
        route = RS_ROUTE_OTHER;
    if (status >= MIN_STATUS && status < MIN_STATUS + N_STATUS)
        atomic_fetch_add_explicit(&m->requests[route][status - MIN_STATUS], 1,
                                  memory_order_relaxed);
    size_t b = 0;
    while (b < N_BUCKETS && latency_us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&m->latency[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[route], latency_us, memory_order_relaxed);
}

void rs_metrics_set_models(rs_metrics *m, int n) { atomic_store(&m->models_loaded, n); }

void rs_metrics_reload(rs_metrics *m, int ok)
{
    atomic_fetch_add(ok ? &m->reloads : &m->reload_failures, 1);
}

void rs_metrics_in_flight(rs_metrics *m, int delta) { atomic_fetch_add(&m->in_flight, delta); }

int rs_metrics_in_flight_now(const rs_metrics *m)
{
    return atomic_load(&((rs_metrics *)m)->in_flight);
}

void rs_metrics_engine_batch(rs_metrics *m, int classify, int rows)
{
    int k = classify ? 1 : 0;
    size_t b = 0;
    while (b < N_BATCH && rows > batch_le[b])
        b++;
    atomic_fetch_add_explicit(&m->batch[k][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batch_rows[k], (uint64_t)rows, memory_order_relaxed);
}

void rs_metrics_engine_rejected(rs_metrics *m) { atomic_fetch_add(&m->rejected, 1); }
void rs_metrics_engine_cancelled(rs_metrics *m) { atomic_fetch_add(&m->cancelled, 1); }
void rs_metrics_engine_pending(rs_metrics *m, int delta) { atomic_fetch_add(&m->pending, delta); }

/* A growable text buffer for the exposition; on allocation failure it
 * stops growing and remembers, and render returns NULL. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void appendf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void appendf(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

/* Counters are read one at a time, so a scrape racing with requests may
 * see a histogram whose count and sum differ by a request or two; every
 * counter is still monotonic, which is all Prometheus needs. */
char *rs_metrics_render(const rs_metrics *cm, int ready, size_t *len)
{
    rs_metrics *m = (rs_metrics *)cm; /* atomic loads need a non-const object */
    text t = {malloc(8192), 0, 8192, 0};
    if (!t.s)
        return NULL;
    appendf(&t, "# HELP rnnserve_requests_total HTTP requests answered, by route and status.\n"
                "# TYPE rnnserve_requests_total counter\n");
    for (int r = 0; r < RS_ROUTE_COUNT; r++)
        for (int s = 0; s < N_STATUS; s++) {
            uint64_t v = atomic_load_explicit(&m->requests[r][s], memory_order_relaxed);
            if (v)
                appendf(&t, "rnnserve_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        rs_route_label((rs_route)r), s + MIN_STATUS, (unsigned long long)v);
        }
    appendf(&t, "# HELP rnnserve_request_duration_seconds Time from the request's headers to "
                "the end of its reply, by route.\n"
                "# TYPE rnnserve_request_duration_seconds histogram\n");
    for (int r = 0; r < RS_ROUTE_COUNT; r++) {
        const char *label = rs_route_label((rs_route)r);
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cumulative += atomic_load_explicit(&m->latency[r][b], memory_order_relaxed);
            if (b < N_BUCKETS)
                appendf(&t,
                        "rnnserve_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                        label, (double)bucket_us[b] / 1e6, (unsigned long long)cumulative);
            else
                appendf(&t,
                        "rnnserve_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                        label, (unsigned long long)cumulative);
        }
        uint64_t sum = atomic_load_explicit(&m->latency_sum_us[r], memory_order_relaxed);
        appendf(&t, "rnnserve_request_duration_seconds_sum{route=\"%s\"} %.6f\n", label,
                (double)sum / 1e6);
        appendf(&t, "rnnserve_request_duration_seconds_count{route=\"%s\"} %llu\n", label,
                (unsigned long long)cumulative);
    }
    appendf(&t,
            "# HELP rnnserve_models_loaded Models in the serving set.\n"
            "# TYPE rnnserve_models_loaded gauge\n"
            "rnnserve_models_loaded %d\n"
            "# HELP rnnserve_reloads_total Reloads (SIGHUP) that replaced the model set.\n"
            "# TYPE rnnserve_reloads_total counter\n"
            "rnnserve_reloads_total %llu\n"
            "# HELP rnnserve_reload_failures_total Reloads refused because a file failed to "
            "load; the previous set kept serving.\n"
            "# TYPE rnnserve_reload_failures_total counter\n"
            "rnnserve_reload_failures_total %llu\n"
            "# HELP rnnserve_requests_in_flight Requests received and not yet answered.\n"
            "# TYPE rnnserve_requests_in_flight gauge\n"
            "rnnserve_requests_in_flight %d\n"
            "# HELP rnnserve_ready 1 when /readyz answers 200.\n"
            "# TYPE rnnserve_ready gauge\n"
            "rnnserve_ready %d\n",
            atomic_load(&m->models_loaded), (unsigned long long)atomic_load(&m->reloads),
            (unsigned long long)atomic_load(&m->reload_failures), atomic_load(&m->in_flight),
            ready ? 1 : 0);
    appendf(&t, "# HELP rnnserve_engine_batch_rows Rows one engine iteration computed "
                "together: sequences stepped (kind=\"step\") or names classified "
                "(kind=\"classify\").\n"
                "# TYPE rnnserve_engine_batch_rows histogram\n");
    for (int k = 0; k < 2; k++) {
        const char *kind = k ? "classify" : "step";
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BATCH; b++) {
            cumulative += atomic_load_explicit(&m->batch[k][b], memory_order_relaxed);
            if (b < N_BATCH)
                appendf(&t, "rnnserve_engine_batch_rows_bucket{kind=\"%s\",le=\"%d\"} %llu\n", kind,
                        batch_le[b], (unsigned long long)cumulative);
            else
                appendf(&t, "rnnserve_engine_batch_rows_bucket{kind=\"%s\",le=\"+Inf\"} %llu\n",
                        kind, (unsigned long long)cumulative);
        }
        appendf(&t, "rnnserve_engine_batch_rows_sum{kind=\"%s\"} %llu\n", kind,
                (unsigned long long)atomic_load(&m->batch_rows[k]));
        appendf(&t, "rnnserve_engine_batch_rows_count{kind=\"%s\"} %llu\n", kind,
                (unsigned long long)cumulative);
    }
    appendf(&t,
            "# HELP rnnserve_engine_pending Jobs queued or running in the engine.\n"
            "# TYPE rnnserve_engine_pending gauge\n"
            "rnnserve_engine_pending %d\n"
            "# HELP rnnserve_engine_rejected_total Requests refused with 503 because the "
            "engine's queue was full.\n"
            "# TYPE rnnserve_engine_rejected_total counter\n"
            "rnnserve_engine_rejected_total %llu\n"
            "# HELP rnnserve_engine_cancelled_total Jobs stopped early because their client "
            "closed the connection.\n"
            "# TYPE rnnserve_engine_cancelled_total counter\n"
            "rnnserve_engine_cancelled_total %llu\n",
            atomic_load(&m->pending), (unsigned long long)atomic_load(&m->rejected),
            (unsigned long long)atomic_load(&m->cancelled));
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    *len = t.len;
    return t.s;
}
