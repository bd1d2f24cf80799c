/*
 * server.h — the state every part of the daemon shares: settings, the
 * model registry, metrics and the lifecycle flags.  One instance, created
 * by main.c and passed by pointer (libmicrohttpd hands it back to the
 * access handler as its closure), so no module keeps global state of its
 * own.
 */
#ifndef RNNSERVE_SERVE_SERVER_H
#define RNNSERVE_SERVE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "engine.h"
#include "metrics.h"
#include "registry.h"

typedef struct rs_server {
    rs_serve_config cfg;
    rs_registry *registry;
    rs_metrics *metrics;
    rs_engine *engine;   /* runs every model's computation (engine.h) */
    atomic_int draining; /* set by SIGTERM/SIGINT: /readyz 503, replies close the connection */
    /* A second core for one translation at a time (translate.c): the
     * translation that finds the lock free takes it, the others run alone.
     * NULL with --step-threads 1 or one core. */
    rs_team *translate_team;
    pthread_mutex_t *translate_team_lock; /* main.c's */
} rs_server;

#endif
