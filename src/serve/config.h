/*
 * config.h — every setting of the daemon, from RNNSERVE_* environment
 * variables and then command-line flags (a flag wins over its variable).
 *
 * The table in config.c is the single list: it drives parsing, bounds
 * checking and --help, so a setting cannot exist without a documented
 * default, bound and variable.  Parsing does not touch the network or the
 * model folder; main.c does that with the values found here.
 */
#ifndef RNNSERVE_SERVE_CONFIG_H
#define RNNSERVE_SERVE_CONFIG_H

#include <stddef.h>

#include "log.h"

typedef struct rs_serve_config {
    const char *models;           /* folder of *.safetensors */
    const char *host;             /* numeric address or name to bind */
    int port;                     /* 0 = any free port (printed in the "listening" line) */
    int threads;                  /* MHD worker threads = concurrent requests */
    int max_body_bytes;           /* larger request bodies get 413 */
    int max_batch;                /* names per /classify */
    int max_name_chars;           /* characters per name */
    int max_n;                    /* samples per /generate */
    int max_length;               /* characters per generated text, prefix and /score text */
    int max_tokens;               /* tokens a textlm generates per sample */
    int max_prompt;               /* characters of a textlm's prompt and /score text */
    int max_sentences;            /* sentences per /translate */
    int max_source_words;         /* words per sentence to translate */
    int max_translation;          /* tokens per translation (the bound of max_length) */
    int max_attention;            /* attention weights a /translate may hold (its reply's bound) */
    int timeout_seconds;          /* idle connection time-out */
    int max_connections;          /* concurrent connections */
    int max_queue;                /* jobs queued or running in the engine */
    int batch_rows;               /* generator sequences stepped together per model */
    int step_threads;             /* 2: a helper thread shares steps of one or two sequences */
    int connection_memory_bytes;  /* per-connection buffer: headers over it get 431 */
    int shutdown_grace_seconds;   /* after SIGTERM, keep accepting with /readyz 503 */
    int shutdown_timeout_seconds; /* then wait at most this for requests in flight */
    int no_ui;                    /* 1: no playground page at GET / (a 404 like any other path) */
    rs_log_level log_level;
} rs_serve_config;

/*
 * Fills cfg from the environment and argv[1..argc).  Returns 0 to run,
 * 1 when --help or --version printed to stdout (exit 0), -1 with a
 * one-line message in err (exit 2).  String values point into argv or the
 * environment and live as long as the process.
 */
int rs_serve_config_parse(rs_serve_config *cfg, int argc, char **argv, char *err, size_t errlen);

#endif
