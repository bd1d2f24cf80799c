/*
 * metrics.h — counters for /metrics in the Prometheus text format 0.0.4.
 *
 * Every counter is a relaxed atomic in one fixed-size object allocated at
 * start-up: recording a request is a handful of atomic adds, no lock and no
 * allocation.  Label sets are closed (routes from route.h, HTTP statuses
 * 100–599), so the exposition is bounded whatever clients send.  Only
 * rendering allocates, the reply body.
 */
#ifndef RNNSERVE_SERVE_METRICS_H
#define RNNSERVE_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "route.h"

typedef struct rs_metrics rs_metrics;

/* NULL on allocation failure; free with rs_metrics_destroy. */
rs_metrics *rs_metrics_create(void);
void rs_metrics_destroy(rs_metrics *m);

/* One finished request: counts route × status and its latency. */
void rs_metrics_observe(rs_metrics *m, rs_route route, int status, uint64_t latency_us);
void rs_metrics_set_models(rs_metrics *m, int n);
/* A reload attempt: ok = 1 when the new set replaced the old one. */
void rs_metrics_reload(rs_metrics *m, int ok);
void rs_metrics_in_flight(rs_metrics *m, int delta);
int rs_metrics_in_flight_now(const rs_metrics *m);

/* The engine (engine.h): one iteration that advanced `rows` sequences or
 * classified `rows` names of one model at once. */
void rs_metrics_engine_batch(rs_metrics *m, int classify, int rows);
/* A job refused because the engine's queue was full (the 503s). */
void rs_metrics_engine_rejected(rs_metrics *m);
/* A job stopped before its end because its client went away. */
void rs_metrics_engine_cancelled(rs_metrics *m);
/* Jobs queued or running in the engine now. */
void rs_metrics_engine_pending(rs_metrics *m, int delta);

/* The exposition text; *len its length.  Caller frees with free().  NULL
 * on allocation failure.  ready: 1 when /readyz would answer 200. */
char *rs_metrics_render(const rs_metrics *m, int ready, size_t *len);

#endif
