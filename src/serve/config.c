/*
 * config.c — the settings table, environment, flags and --help.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { KIND_STRING, KIND_INT, KIND_LEVEL } kind;

typedef struct setting {
    const char *flag; /* without dashes */
    const char *env;
    kind kind;
    size_t offset; /* of the field in rs_serve_config */
    long lo, hi;   /* inclusive, KIND_INT */
    const char *help;
} setting;

#define FIELD(f) offsetof(rs_serve_config, f)

/* OpenBLAS keeps a fixed table of per-thread buffers (twice its compiled
 * thread count, 64 on Debian); more concurrent callers than that abort the
 * process, so workers are capped well below. */
#define MAX_THREADS 64

static const setting settings[] = {
    {"models", "RNNSERVE_MODELS", KIND_STRING, FIELD(models), 0, 0,
     "folder whose *.safetensors files are served"},
    {"host", "RNNSERVE_HOST", KIND_STRING, FIELD(host), 0, 0, "address to listen on"},
    {"port", "RNNSERVE_PORT", KIND_INT, FIELD(port), 0, 65535,
     "TCP port; 0 picks a free one and logs it (event \"listening\")"},
    {"threads", "RNNSERVE_THREADS", KIND_INT, FIELD(threads), 1, MAX_THREADS,
     "worker threads (default: number of cores)"},
    {"max-body-bytes", "RNNSERVE_MAX_BODY_BYTES", KIND_INT, FIELD(max_body_bytes), 1024,
     64L * 1024 * 1024, "largest request body; larger gets 413"},
    {"max-batch", "RNNSERVE_MAX_BATCH", KIND_INT, FIELD(max_batch), 1, 4096,
     "names per /classify request"},
    {"max-name-chars", "RNNSERVE_MAX_NAME_CHARS", KIND_INT, FIELD(max_name_chars), 1, 1024,
     "characters per name to classify"},
    {"max-n", "RNNSERVE_MAX_N", KIND_INT, FIELD(max_n), 1, 1024, "samples per /generate request"},
    {"max-length", "RNNSERVE_MAX_LENGTH", KIND_INT, FIELD(max_length), 1, 1024,
     "characters per generated text (prefix included) and per /score text"},
    {"timeout-seconds", "RNNSERVE_TIMEOUT_SECONDS", KIND_INT, FIELD(timeout_seconds), 1, 3600,
     "idle connection time-out"},
    {"max-connections", "RNNSERVE_MAX_CONNECTIONS", KIND_INT, FIELD(max_connections), 1, 65536,
     "concurrent connections (also bounded by the open-file limit)"},
    {"connection-memory-bytes", "RNNSERVE_CONNECTION_MEMORY_BYTES", KIND_INT,
     FIELD(connection_memory_bytes), 8192, 1024 * 1024,
     "per-connection buffer; request headers larger than about this get 431"},
    {"shutdown-grace-seconds", "RNNSERVE_SHUTDOWN_GRACE_SECONDS", KIND_INT,
     FIELD(shutdown_grace_seconds), 0, 3600,
     "after SIGTERM, keep accepting this long with /readyz 503 (for load balancers)"},
    {"shutdown-timeout-seconds", "RNNSERVE_SHUTDOWN_TIMEOUT_SECONDS", KIND_INT,
     FIELD(shutdown_timeout_seconds), 0, 3600,
     "then wait at most this long for requests and connections to finish"},
    {"log-level", "RNNSERVE_LOG_LEVEL", KIND_LEVEL, FIELD(log_level), 0, 0,
     "error | warn | info (one access-log line per request) | debug"},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

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
        .timeout_seconds = 10,
        .max_connections = 1024,
        .connection_memory_bytes = 32 * 1024,
        .shutdown_grace_seconds = 0,
        .shutdown_timeout_seconds = 10,
        .log_level = RS_LOG_INFO,
    };
}

/* Stores text into the setting's field; `source` names it in messages. */
static int assign(rs_serve_config *cfg, const setting *s, const char *text, const char *source,
                  char *err, size_t errlen)
{
    char *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case KIND_STRING:
        if (!text[0]) {
            snprintf(err, errlen, "%s must not be empty", source);
            return -1;
        }
        memcpy(field, &text, sizeof text);
        return 0;
    case KIND_LEVEL: {
        rs_log_level level;
        if (rs_log_level_from_name(text, &level) != 0) {
            snprintf(err, errlen, "%s is \"%s\", expected error, warn, info or debug", source,
                     text);
            return -1;
        }
        memcpy(field, &level, sizeof level);
        return 0;
    }
    case KIND_INT: {
        char *end;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < s->lo || v > s->hi) {
            snprintf(err, errlen, "%s is \"%s\", expected an integer from %ld to %ld", source, text,
                     s->lo, s->hi);
            return -1;
        }
        int iv = (int)v;
        memcpy(field, &iv, sizeof iv);
        return 0;
    }
    }
    return -1;
}

static void print_help(void)
{
    rs_serve_config d;
    defaults(&d);
    printf("usage: rnnserve [--models DIR] [--host ADDR] [--port N] [--threads N] [options]\n\n"
           "Serves every *.safetensors model of a folder over HTTP/JSON: POST /generate,\n"
           "/classify, /score; GET /v1/models, /healthz, /readyz, /metrics.\n"
           "SIGHUP reloads the folder; SIGTERM or SIGINT drains and exits 0.\n\n"
           "Each flag also reads its environment variable; a flag wins over the variable.\n\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        const char *field = (const char *)&d + s->offset;
        char def[128], bounds[64] = "";
        switch (s->kind) {
        case KIND_STRING: {
            const char *v;
            memcpy(&v, field, sizeof v);
            snprintf(def, sizeof def, "\"%s\"", v);
            break;
        }
        case KIND_LEVEL: {
            rs_log_level v;
            memcpy(&v, field, sizeof v);
            snprintf(def, sizeof def, "%s", rs_log_level_name(v));
            break;
        }
        case KIND_INT: {
            int v;
            memcpy(&v, field, sizeof v);
            snprintf(def, sizeof def, "%d", v);
            snprintf(bounds, sizeof bounds, ", %ld..%ld", s->lo, s->hi);
            break;
        }
        }
        char usage[64];
        snprintf(usage, sizeof usage, "%s %s", s->flag,
                 s->kind == KIND_INT          ? "N"
                 : s->kind == KIND_LEVEL      ? "LEVEL"
                 : !strcmp(s->flag, "models") ? "DIR"
                                              : "ADDR");
        printf("  --%-26s %s\n  %-28s (%s; default %s%s)\n", usage, s->help, "", s->env, def,
               bounds);
    }
    printf("  --%-26s %s\n", "help", "this text");
    printf("  --%-26s %s\n", "version", "print the version");
}

int rs_serve_config_parse(rs_serve_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    defaults(cfg);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = getenv(settings[i].env);
        if (v && assign(cfg, &settings[i], v, settings[i].env, err, errlen) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help();
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("rnnserve 0.1.0\n");
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const setting *s = NULL;
        for (size_t i = 0; i < N_SETTINGS; i++)
            if (strlen(settings[i].flag) == name_len &&
                strncmp(settings[i].flag, name, name_len) == 0)
                s = &settings[i];
        if (!s) {
            snprintf(err, errlen, "unknown flag \"%s\" (see --help)", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (a + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", s->flag);
                return -1;
            }
            value = argv[++a];
        }
        char source[64];
        snprintf(source, sizeof source, "--%s", s->flag);
        if (assign(cfg, s, value, source, err, errlen) != 0)
            return -1;
    }
    return 0;
}
