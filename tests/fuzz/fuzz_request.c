/*
 * fuzz_request.c — libFuzzer target: no request a client can send may crash,
 * hang or leak in the daemon's request path, from routing through parsing
 * and validation to the engine's computation and the reply (plain or
 * streamed).
 *
 * Each input is one request, laid out as
 *
 *   byte 0        bits 0-2: the path: one of the seven routes, or 7 = the
 *                 path is read from the input (up to the first '\n');
 *                 bits 3-4: the method (GET, HEAD, POST, other);
 *                 bit 5: the client goes away right after the job is queued
 *                 (the engine must drop it and still finish it);
 *   then          the path when bits 0-2 are 7, then the body.
 *
 * The body is handed over as http.c hands it: a heap buffer of exactly its
 * length plus the terminating NUL, so ASan sees any read past it.  The
 * server is the daemon's own (registry, engine thread, metrics), with the
 * daemon's default limits, on a folder of small models copied from the
 * test files: an LSTM generator with categories, a 2-layer GRU generator,
 * a bidirectional GRU classifier (small vocabularies, so the 422 paths are
 * reachable), an RNN classifier with ascii-fold normalisation and <unk>,
 * and a translator (a 2-layer bidirectional GRU; POST /translate is reached
 * through a path read from the input).
 *
 * Checked, beyond the sanitizers: every reply has a status in 200..599 and
 * a body; every JSON reply parses; a job is always finished by the engine
 * (no lost notification: the wait would hang and libFuzzer's -timeout
 * reports it); a stream ends with its final event.
 *
 * Built with -Dfuzz=true (tests/fuzz/meson.build, scripts/fuzz.sh request);
 * tests/unit/test_request_corpus.c links the same function and replays
 * corpus_request/ and regressions_request/ in the normal suites.
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers.h"
#include "modeljob.h"
#include "route.h"
#include "server.h"

#ifndef RS_SOURCE_ROOT
#error "RS_SOURCE_ROOT must name the project's source folder"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Jobs the engine finished, and streams read to their final event (the
 * corpus replay checks that its seeds reach the engine). */
unsigned long fuzz_request_jobs, fuzz_request_streams;

/* A fault the daemon must never show: abort so the fuzzer keeps the input. */
static void require(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_request: %s\n", what);
        abort();
    }
}

static const char *const route_paths[7] = {
    "/generate", "/classify", "/score", "/v1/models", "/healthz", "/readyz", "/metrics",
};
static const char *const method_names[4] = {"GET", "HEAD", "POST", "PATCH"};

static rs_server server;
static char model_dir[PATH_MAX];

/* The engine's notifications: one condition for every job of the process
 * (the fuzzer runs one request at a time). */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static unsigned long wake_count;

static void on_job_event(rs_job *job)
{
    (void)job;
    pthread_mutex_lock(&wake_lock);
    wake_count++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&wake_lock);
}

static int job_has_news(rs_job *job, const rs_stream_cursor *cur)
{
    pthread_mutex_lock(&job->lock);
    int news = job->done || rs_job_has_news_locked(job, cur);
    pthread_mutex_unlock(&job->lock);
    return news;
}

static int job_done(rs_job *job)
{
    pthread_mutex_lock(&job->lock);
    int done = job->done;
    pthread_mutex_unlock(&job->lock);
    return done;
}

/* Waits until pred(job) holds; notifications are counted so none is lost
 * between the test and the wait. */
static void wait_for(rs_job *job, int (*pred)(rs_job *, const rs_stream_cursor *),
                     const rs_stream_cursor *cur)
{
    for (;;) {
        pthread_mutex_lock(&wake_lock);
        unsigned long seen = wake_count;
        pthread_mutex_unlock(&wake_lock);
        if (pred(job, cur))
            return;
        pthread_mutex_lock(&wake_lock);
        while (wake_count == seen)
            pthread_cond_wait(&wake, &wake_lock);
        pthread_mutex_unlock(&wake_lock);
    }
}

static int done_pred(rs_job *job, const rs_stream_cursor *cur)
{
    (void)cur;
    return job_done(job);
}

static void check_reply(const rs_reply *r)
{
    require(r->status >= 200 && r->status <= 599, "reply status out of range");
    require(r->body != NULL || r->len == 0, "reply length without a body");
    if (r->content_type && strcmp(r->content_type, "application/json") == 0) {
        cJSON *json = cJSON_ParseWithLength(r->body, r->len);
        require(json != NULL, "a JSON reply does not parse");
        cJSON_Delete(json);
    }
}

/* Reads a streaming job to its end as http.c does: a chunk whenever the
 * engine has news, until stream_chunk says the final event is in. */
static void drain_stream(rs_job *job)
{
    rs_stream_cursor cur = {0, 0};
    for (int over = 0; !over;) {
        wait_for(job, job_has_news, &cur);
        char *chunk = NULL;
        size_t len = 0;
        over = job->stream_chunk(job, &cur, &chunk, &len);
        require(chunk != NULL || len == 0, "chunk length without a chunk");
        if (chunk)
            require(len >= 8 && memcmp(chunk, "data: ", 6) == 0 && chunk[len - 1] == '\n',
                    "a stream chunk is not a data: event");
        free(chunk);
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = in ? fopen(to, "wb") : NULL;
    require(in && out, "cannot copy a golden model into the fuzz folder");
    char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        require(fwrite(buf, 1, n, out) == n, "short write copying a golden model");
    fclose(in);
    require(fclose(out) == 0, "cannot close a copied model");
}

static void set_up(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(model_dir, sizeof model_dir, "%.*s/rnnserve-fuzz-request.XXXXXX", 1024,
             tmp ? tmp : "/tmp");
    require(mkdtemp(model_dir) != NULL, "cannot make the model folder");
    static const char *const models[][2] = {
        {"parity/golden/gru_classifier_bi2.model.safetensors", "tiny-classifier.safetensors"},
        {"parity/golden/lstm_generator_cond.model.safetensors", "tiny-generator.safetensors"},
        {"parity/golden/gru_generator_l2.model.safetensors", "tiny-lm.safetensors"},
        {"fuzz/corpus/rnn_classifier_fold_unk_unaligned.safetensors", "tiny-fold.safetensors"},
        {"parity/golden/translator_gru_bi2.model.safetensors", "tiny-fr.safetensors"},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char from[PATH_MAX], to[PATH_MAX];
        int nf = snprintf(from, sizeof from, "%s/tests/%s", RS_SOURCE_ROOT, models[i][0]);
        int nt = snprintf(to, sizeof to, "%.*s/%s", 1024, model_dir, models[i][1]);
        require(nf > 0 && (size_t)nf < sizeof from && nt > 0 && (size_t)nt < sizeof to,
                "model path too long");
        copy_file(from, to);
    }

    char err[1024];
    char *argv[] = {"rnnserve", "--models", model_dir, NULL};
    require(rs_serve_config_parse(&server.cfg, 3, argv, err, sizeof err) == 0, err);
    atomic_init(&server.draining, 0);
    rs_lane_limits limits = {
        .rows = server.cfg.batch_rows,
        .classifier_rows = server.cfg.max_batch > 64 ? server.cfg.max_batch : 64,
        .classifier_max_len = server.cfg.max_name_chars,
    };
    server.metrics = rs_metrics_create();
    server.registry = rs_registry_create(server.cfg.models, &limits);
    server.engine = rs_engine_create(server.cfg.max_queue, server.metrics);
    require(server.metrics && server.registry && server.engine, "out of memory setting up");
    int n = rs_registry_load(server.registry, err, sizeof err);
    require(n == 5, "the five fuzz models did not load");
    rs_metrics_set_models(server.metrics, n);
}

/* Runs at exit: the engine thread stopped and everything freed, so that a
 * leak report names a real leak; the copied models are removed. */
static void tear_down(void)
{
    rs_engine_destroy(server.engine);
    rs_registry_destroy(server.registry);
    rs_metrics_destroy(server.metrics);
    static const char *const names[] = {"tiny-classifier", "tiny-generator", "tiny-lm", "tiny-fold",
                                        "tiny-fr"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%.*s/%s.safetensors", 1024, model_dir, names[i]);
        unlink(path);
    }
    rmdir(model_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        set_up();
        atexit(tear_down);
        ready = 1;
    }
    if (size == 0)
        return 0;
    unsigned flags = data[0];
    const uint8_t *rest = data + 1;
    size_t rest_len = size - 1;

    char path[512];
    unsigned which = flags & 7u;
    if (which < 7) {
        snprintf(path, sizeof path, "%s", route_paths[which]);
    } else {
        const uint8_t *nl = memchr(rest, '\n', rest_len);
        size_t n = nl ? (size_t)(nl - rest) : rest_len;
        if (n >= sizeof path)
            n = sizeof path - 1;
        memcpy(path, rest, n);
        path[n] = '\0';
        rest += nl ? n + 1 : n;
        rest_len -= nl ? n + 1 : n;
        if (strlen(path) != n) /* a NUL inside: libmicrohttpd would have cut the URL there */
            return 0;
    }
    const char *method = method_names[(flags >> 3) & 3u];
    int client_leaves = (flags >> 5) & 1u;

    char *body = malloc(rest_len + 1);
    require(body != NULL, "out of memory");
    if (rest_len)
        memcpy(body, rest, rest_len);
    body[rest_len] = '\0';

    rs_reply r;
    rs_reply_init(&r);
    rs_job *job = NULL;
    rs_dispatch(&server, rs_route_find(path), rs_method_find(method), path, body, rest_len, &r,
                &job);
    if (job) {
        job->notify = on_job_event;
        job->ctx = &server;
        if (rs_engine_submit(server.engine, job) != 0) {
            rs_job_unref(job);
            job = NULL;
            rs_reply_error(&r, 503, RS_ERR_OVERLOADED, NULL, "the engine is busy");
        }
    }
    if (job) {
        if (client_leaves) {
            rs_job_cancel(job);
            wait_for(job, done_pred, NULL);
        } else if (job->stream) {
            drain_stream(job);
            fuzz_request_streams++;
        } else {
            wait_for(job, done_pred, NULL);
            job->finish(job, &r);
            check_reply(&r);
        }
        fuzz_request_jobs++;
        rs_job_unref(job);
    } else {
        check_reply(&r);
    }
    rs_reply_free(&r);
    free(body);
    return 0;
}
