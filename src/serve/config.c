/*
 * config.c — the settings table, environment, flags and --help, on the
 * table-driven parser of src/util/flags.h that rnntrain uses too.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flags.h"

/* OpenBLAS keeps a fixed table of per-thread buffers (twice its compiled
 * thread count, 64 on Debian); more concurrent callers than that abort the
 * process, so workers are capped well below. */
#define MAX_THREADS 64

/* In the order of rs_log_level, so that the choice's index is the level. */
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};
_Static_assert(RS_LOG_ERROR == 0 && RS_LOG_WARN == 1 && RS_LOG_INFO == 2 && RS_LOG_DEBUG == 3,
               "level_names follows rs_log_level");

static void defaults(rs_serve_config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (rs_serve_config){
        .models = "models",
        .host = "0.0.0.0",
        .port = 8080,
        .threads = cores < 1             ? 1
                   : cores > MAX_THREADS ? MAX_THREADS
                                         : (int)cores,
        .max_body_bytes = 256 * 1024,
        .max_batch = 256,
        .max_name_chars = 64,
        .max_n = 64,
        .max_length = 64,
        .max_tokens = 4096,
        .max_prompt = 4096,
        .max_sentences = 64,
        .max_source_words = 100,
        .max_translation = 200,
        .max_attention = 1 << 20,
        .timeout_seconds = 10,
        .max_connections = 1024,
        .max_queue = 2048,
        .batch_rows = 64,
        .step_threads = 2,
        .connection_memory_bytes = 32 * 1024,
        .shutdown_grace_seconds = 0,
        .shutdown_timeout_seconds = 10,
        .no_ui = 0,
        .log_level = RS_LOG_INFO,
    };
}

/* The single list of settings: parsing, bounds, variables and --help. */
#define N_SETTINGS 25
static void settings(rs_serve_config *c, int *level, flag out[N_SETTINGS])
{
    const flag table[N_SETTINGS] = {
        {"models", NULL, FLAG_STRING, &c->models, 0, 0, NULL,
         "folder whose *.safetensors files are served", 0, "RNNSERVE_MODELS"},
        {"host", NULL, FLAG_STRING, &c->host, 0, 0, NULL, "address to listen on", 0,
         "RNNSERVE_HOST"},
        {"port", NULL, FLAG_INT, &c->port, 0, 65535, NULL,
         "TCP port; 0 picks a free one and logs it (event \"listening\")", 0, "RNNSERVE_PORT"},
        {"threads", NULL, FLAG_INT, &c->threads, 1, MAX_THREADS, NULL,
         "worker threads (default: number of cores)", 0, "RNNSERVE_THREADS"},
        {"max-body-bytes", NULL, FLAG_INT, &c->max_body_bytes, 1024, 64.0 * 1024 * 1024, NULL,
         "largest request body; larger gets 413", 0, "RNNSERVE_MAX_BODY_BYTES"},
        {"max-batch", NULL, FLAG_INT, &c->max_batch, 1, 4096, NULL, "names per /classify request",
         0, "RNNSERVE_MAX_BATCH"},
        {"max-name-chars", NULL, FLAG_INT, &c->max_name_chars, 1, 1024, NULL,
         "characters per name to classify", 0, "RNNSERVE_MAX_NAME_CHARS"},
        {"max-n", NULL, FLAG_INT, &c->max_n, 1, 1024, NULL, "samples per /generate request", 0,
         "RNNSERVE_MAX_N"},
        {"max-length", NULL, FLAG_INT, &c->max_length, 1, 1024, NULL,
         "characters per generated text (prefix included) and per /score text", 0,
         "RNNSERVE_MAX_LENGTH"},
        {"max-tokens", NULL, FLAG_INT, &c->max_tokens, 1, 65536, NULL,
         "tokens a textlm generates per sample (the bound of max_tokens)", 0,
         "RNNSERVE_MAX_TOKENS"},
        {"max-prompt", NULL, FLAG_INT, &c->max_prompt, 1, 65536, NULL,
         "characters of a textlm's prompt and /score text", 0, "RNNSERVE_MAX_PROMPT"},
        {"max-sentences", NULL, FLAG_INT, &c->max_sentences, 1, 4096, NULL,
         "sentences per /translate request", 0, "RNNSERVE_MAX_SENTENCES"},
        {"max-source-words", NULL, FLAG_INT, &c->max_source_words, 1, 4096, NULL,
         "words per sentence to translate", 0, "RNNSERVE_MAX_SOURCE_WORDS"},
        {"max-translation", NULL, FLAG_INT, &c->max_translation, 1, 4096, NULL,
         "tokens per translation (the bound of /translate's max_length)", 0,
         "RNNSERVE_MAX_TRANSLATION"},
        {"max-attention", NULL, FLAG_INT, &c->max_attention, 1, 1 << 30, NULL,
         "attention weights a /translate with attention or replace_unknown may hold: n_best x "
         "max_length x source tokens, summed over its sentences",
         0, "RNNSERVE_MAX_ATTENTION"},
        {"timeout-seconds", NULL, FLAG_INT, &c->timeout_seconds, 1, 3600, NULL,
         "idle connection time-out", 0, "RNNSERVE_TIMEOUT_SECONDS"},
        {"max-connections", NULL, FLAG_INT, &c->max_connections, 1, 65536, NULL,
         "concurrent connections (also bounded by the open-file limit)", 0,
         "RNNSERVE_MAX_CONNECTIONS"},
        {"max-queue", NULL, FLAG_INT, &c->max_queue, 1, 1000000, NULL,
         "requests queued or running in the engine; more get 503 with Retry-After", 0,
         "RNNSERVE_MAX_QUEUE"},
        {"batch-rows", NULL, FLAG_INT, &c->batch_rows, 1, 1024, NULL,
         "sequences of one model the engine steps together", 0, "RNNSERVE_BATCH_ROWS"},
        {"step-threads", NULL, FLAG_INT, &c->step_threads, 1, 2, NULL,
         "threads that compute a step of one or two sequences, and one translation at a time (2: a "
         "helper shares each product; the same numbers)",
         0, "RNNSERVE_STEP_THREADS"},
        {"connection-memory-bytes", NULL, FLAG_INT, &c->connection_memory_bytes, 8192, 1024 * 1024,
         NULL, "per-connection buffer; request headers larger than about this get 431", 0,
         "RNNSERVE_CONNECTION_MEMORY_BYTES"},
        {"shutdown-grace-seconds", NULL, FLAG_INT, &c->shutdown_grace_seconds, 0, 3600, NULL,
         "after SIGTERM, keep accepting this long with /readyz 503 (for load balancers)", 0,
         "RNNSERVE_SHUTDOWN_GRACE_SECONDS"},
        {"shutdown-timeout-seconds", NULL, FLAG_INT, &c->shutdown_timeout_seconds, 0, 3600, NULL,
         "then wait at most this long for requests and connections to finish", 0,
         "RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS"},
        {"no-ui", NULL, FLAG_BOOL, &c->no_ui, 0, 0, NULL,
         "serve no playground page at GET / (the API only; / is then a 404)", 0, "RNNSERVE_NO_UI"},
        {"log-level", NULL, FLAG_CHOICE, level, 0, 0, level_names,
         "error | warn | info (one access-log line per request) | debug", 0, "RNNSERVE_LOG_LEVEL"},
    };
    memcpy(out, table, sizeof table);
}

int rs_serve_config_parse(rs_serve_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    defaults(cfg);
    int level = (int)cfg->log_level;
    flag flags[N_SETTINGS];
    settings(cfg, &level, flags);
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            printf("usage: rnnserve [--models DIR] [--host ADDR] [--port N] [--threads N] "
                   "[options]\n\n"
                   "Serves every *.safetensors model of a folder over HTTP/JSON: POST "
                   "/generate,\n/classify, /score, /translate; GET /v1/models, /healthz, /readyz, "
                   "/metrics;\nand a playground page at GET / (--no-ui turns it off).\n"
                   "SIGHUP reloads the folder; SIGTERM or SIGINT drains and exits 0.\n\n"
                   "Each flag also reads its environment variable; a flag wins over the "
                   "variable.\n\n");
            flags_print(flags, N_SETTINGS);
            printf("  %-22s %s\n  %-22s %s\n", "--help", "this text", "--version",
                   "print the version");
            return 1;
        }
        if (strcmp(argv[a], "--version") == 0) {
            printf("rnnserve 0.1.0\n");
            return 1;
        }
    }
    if (flags_parse_env(flags, N_SETTINGS, err, errlen) != 0 ||
        flags_parse(flags, N_SETTINGS, argc - 1, argv + 1, err, errlen) != 0)
        return -1;
    cfg->log_level = (rs_log_level)level;
    return 0;
}
