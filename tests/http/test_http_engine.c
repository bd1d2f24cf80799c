/*
 * test_http_engine.c — the engine (src/serve/engine.h) seen from HTTP:
 *
 *   - batching changes no number: seeded /generate and /score requests sent
 *     together from many threads answer byte for byte as when sent alone,
 *     and /metrics shows that the engine did step several sequences at once;
 *   - streaming: the events of a "stream": true /generate put together give
 *     the plain reply's texts, log-likelihoods and categories, for every
 *     generator, and bad fields are refused before the stream starts;
 *   - a client that closes a stream stops its work (counted in /metrics);
 *   - a full queue answers 503 with Retry-After at once;
 *   - a stop with work in flight answers it (503, or an error event for a
 *     stream) and exits 0;
 *   - a reload (SIGHUP) lets work in flight finish on the model it started
 *     with.
 *
 * Arguments and HTTP_ONLY: harness.h.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../test.h"
#include "harness.h"

/* ---- batching ----------------------------------------------------------- */

#define N_BODIES  8
#define N_THREADS 12
#define ROUNDS    6

static const char *const bodies[N_BODIES][2] = {
    {"/generate", "{\"prefix\":\"ab\",\"n\":3,\"seed\":1,\"temperature\":0.9}"},
    {"/generate", "{\"n\":4,\"seed\":2,\"temperature\":1.2,\"top_k\":4}"},
    {"/generate", "{\"category\":\"Greek\",\"n\":2,\"seed\":3,\"top_p\":0.8}"},
    {"/generate", "{\"model\":\"tiny-lm\",\"n\":5,\"seed\":4,\"max_length\":40}"},
    {"/generate", "{\"model\":\"tiny-lm\",\"prefix\":\"cab\",\"seed\":5,\"temperature\":0}"},
    {"/score", "{\"text\":\"abcabc\",\"category\":\"Irish\"}"},
    {"/score", "{\"model\":\"tiny-lm\",\"text\":\"hgfedcba\"}"},
    {"/generate", "{\"prefix\":\"i\",\"n\":6,\"seed\":8,\"max_length\":30}"},
};
static char *alone[N_BODIES];

typedef struct batch_client {
    int index, ok, failed;
    char first_failure[400];
} batch_client;

static void *batch_client_main(void *arg)
{
    batch_client *c = arg;
    CURL *h = client_new();
    for (int i = 0; i < ROUNDS * N_BODIES; i++) {
        int k = (c->index * 3 + i) % N_BODIES;
        resp r;
        request_on(h, main_d.base, "POST", bodies[k][0], bodies[k][1], strlen(bodies[k][1]), NULL,
                   &r);
        if (r.status == 200 && r.body && alone[k] && !strcmp(r.body, alone[k])) {
            c->ok++;
        } else {
            if (!c->failed)
                snprintf(c->first_failure, sizeof c->first_failure, "%s %s: %ld %.200s",
                         bodies[k][0], bodies[k][1], r.status, r.body ? r.body : "");
            c->failed++;
        }
        resp_free(&r);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void batched_answers_equal_answers_alone(void)
{
    for (int k = 0; k < N_BODIES; k++) {
        resp r;
        if (POST_OK(&main_d, bodies[k][0], bodies[k][1], &r))
            alone[k] = strdup(r.body);
        resp_free(&r);
    }
    double steps_before = metric(&main_d, "rnnserve_engine_batch_rows_count{kind=\"step\"}");
    double single_before =
        metric(&main_d, "rnnserve_engine_batch_rows_bucket{kind=\"step\",le=\"1\"}");
    pthread_t threads[N_THREADS];
    batch_client clients[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        clients[t] = (batch_client){.index = t};
        pthread_create(&threads[t], NULL, batch_client_main, &clients[t]);
    }
    int ok = 0, failed = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(threads[t], NULL);
        ok += clients[t].ok;
        failed += clients[t].failed;
        if (clients[t].failed)
            fprintf(stderr, "     client %d: %s\n", t, clients[t].first_failure);
    }
    ASSERT_EQ(N_THREADS * ROUNDS * N_BODIES, ok);
    ASSERT_EQ(0, failed);
    /* the engine did batch: some steps advanced more than one sequence */
    double steps =
        metric(&main_d, "rnnserve_engine_batch_rows_count{kind=\"step\"}") - steps_before;
    double single = metric(&main_d, "rnnserve_engine_batch_rows_bucket{kind=\"step\",le=\"1\"}") -
                    single_before;
    double rows = metric(&main_d, "rnnserve_engine_batch_rows_sum{kind=\"step\"}");
    fprintf(stderr, "     %.0f engine steps, %.0f of them with more than one row\n", steps,
            steps - single);
    ASSERT_TRUE(steps > 0 && steps - single > 0 && rows > steps);
    for (int k = 0; k < N_BODIES; k++) {
        free(alone[k]);
        alone[k] = NULL;
    }
}

/* ---- streaming ------------------------------------------------------------ */

/* The events of a text/event-stream body, as JSON objects; *n their number.
 * Every event must be one `data: <json>` line and a blank line. */
static cJSON **parse_events(const char *body, int *n)
{
    cJSON **events = NULL;
    *n = 0;
    for (const char *at = body; at && *at;) {
        const char *end = strstr(at, "\n\n");
        if (!end || strncmp(at, "data: ", 6) != 0) {
            fprintf(stderr, "     not an event: %.80s\n", at);
            (*n) = -1;
            break;
        }
        events = realloc(events, (size_t)(*n + 1) * sizeof *events);
        events[(*n)++] = cJSON_ParseWithLength(at + 6, (size_t)(end - at - 6));
        at = end + 2;
    }
    return events;
}

static void free_events(cJSON **events, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(events[i]);
    free(events);
}

/* Streams body (a /generate request without "stream") and checks the
 * events against the plain reply. */
static void check_stream_matches_plain(const char *body_json)
{
    resp plain, streamed;
    if (!POST_OK(&main_d, "/generate", body_json, &plain)) {
        resp_free(&plain);
        return;
    }
    char body[512];
    snprintf(body, sizeof body, "%.*s,\"stream\":true}", (int)strlen(body_json) - 1, body_json);
    request(&main_d, "POST", "/generate", body, &streamed);
    ASSERT_EQ(200, streamed.status);
    char ctype[128];
    header_value(&streamed, "Content-Type", ctype, sizeof ctype);
    ASSERT_STREQ("text/event-stream", ctype);
    int n = 0;
    cJSON **events = parse_events(streamed.body, &n);
    const cJSON *samples = jget(plain.json, "samples");
    int n_samples = cJSON_GetArraySize(samples);
    char texts[64][512] = {{0}};
    int ends = 0, total = 0, done = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *ev = events[i];
        ASSERT_TRUE(ev != NULL && !done); /* nothing after the final event */
        if (!ev)
            continue;
        double at = jnum(ev, "index"); /* NAN for the final event */
        int index = isfinite(at) ? (int)at : -1;
        if (jstr(ev, "text") && index >= 0 && index < 64) {
            strncat(texts[index], jstr(ev, "text"), sizeof texts[index] - strlen(texts[index]) - 1);
        } else if (jstr(ev, "finish_reason") && !jget(ev, "done")) {
            const cJSON *s = cJSON_GetArrayItem(samples, index);
            ASSERT_EQ(ends, index); /* samples end in order */
            ASSERT_STREQ(jstr(s, "text"), texts[index]);
            ASSERT_NEAR(jnum(s, "log_prob"), jnum(ev, "log_prob"), 0);
            ASSERT_STREQ(cJSON_IsTrue(jget(s, "finished")) ? "eos" : "length",
                         jstr(ev, "finish_reason"));
            if (jstr(s, "category"))
                ASSERT_STREQ(jstr(s, "category"), jstr(ev, "category"));
            total += (int)jnum(ev, "tokens");
            ends++;
        } else if (cJSON_IsTrue(jget(ev, "done"))) {
            done = 1;
            ASSERT_STREQ(jstr(plain.json, "model"), jstr(ev, "model"));
            ASSERT_NEAR(jnum(plain.json, "seed"), jnum(ev, "seed"), 0);
            ASSERT_EQ(n_samples, jnum(ev, "samples"));
            ASSERT_EQ(total, jnum(ev, "tokens"));
        } else {
            TEST_FAIL_("unexpected event %d of %s", i, body);
        }
    }
    ASSERT_EQ(n_samples, ends);
    ASSERT_TRUE(done);
    free_events(events, n);
    resp_free(&plain);
    resp_free(&streamed);
}

static void stream_events_add_up_to_the_plain_reply(void)
{
    check_stream_matches_plain("{\"prefix\":\"ab\",\"n\":3,\"seed\":11}");
    check_stream_matches_plain("{\"n\":5,\"seed\":12,\"max_length\":3}");
    check_stream_matches_plain("{\"model\":\"tiny-lm\",\"n\":2,\"seed\":13,\"temperature\":0}");
    check_stream_matches_plain("{\"model\":\"tiny-lm\",\"prefix\":\"abcd\",\"max_length\":4,"
                               "\"seed\":14}");
    /* a bad field is a plain 400 before any stream starts */
    EXPECT_ERROR(&main_d, "/generate", "{\"stream\":true,\"temperature\":-1}", 400,
                 "invalid_argument", "temperature", NULL);
    EXPECT_ERROR(&main_d, "/generate", "{\"stream\":\"yes\"}", 400, "invalid_argument", "stream",
                 "true or false");
}

/* ---- cancellation, a full queue, stopping --------------------------------- */

/* A long job: 1,024 samples, each fed a 1,000-token prefix (a million
 * engine steps: seconds even for the tiny models, which take a few µs a
 * step).  Its daemon needs --max-n 1024 --max-length 1024. */
static char long_job[1200];
static const char *const long_flags[] = {"--max-n", "1024", "--max-length", "1024", NULL};

static void make_long_job(int stream)
{
    char prefix[1001];
    for (int i = 0; i < 1000; i++)
        prefix[i] = (char)('a' + i % 9);
    prefix[1000] = '\0';
    snprintf(long_job, sizeof long_job,
             "{\"n\":1024,\"max_length\":1024,\"seed\":3,\"prefix\":\"%s\"%s}", prefix,
             stream ? ",\"stream\":true" : "");
}

/* Opens a connection, sends a streaming long job and reads until the first
 * event has arrived; returns the socket, or -1. */
static int start_long_stream(const daemon_proc *d)
{
    make_long_job(1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    char req[1400];
    int len = snprintf(req, sizeof req,
                       "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(long_job), long_job);
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        close(fd);
        return -1;
    }
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "data: "))
            return fd;
    }
    close(fd);
    return -1;
}

/* Starts a daemon of its own on main_dir's models and waits until ready. */
static int start_ready(daemon_proc *d, const char *const *flags)
{
    int exited = 0;
    if (daemon_start(d, main_dir, flags, NULL, &exited) != 0) {
        TEST_FAIL_("daemon did not start (exit %d)", exited);
        return -1;
    }
    if (!wait_for(readyz_is, d, 200, 10.0)) {
        TEST_FAIL_("daemon not ready after 10 s");
        daemon_stop(d);
        return -1;
    }
    return 0;
}

static int pending_is(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_engine_pending") == (double)n;
}

static void a_client_that_leaves_stops_its_stream(void)
{
    daemon_proc d;
    if (start_ready(&d, long_flags) != 0)
        return;
    int fd = start_long_stream(&d);
    ASSERT_TRUE(fd >= 0);
    if (fd >= 0) {
        close(fd);
        /* the job is dropped long before its 65k steps would end */
        double t0 = now_s();
        ASSERT_TRUE(wait_for(pending_is, &d, 0, 2.0));
        fprintf(stderr, "     stream stopped %.1f ms after the client closed\n",
                (now_s() - t0) * 1000);
        ASSERT_EQ(1, metric(&d, "rnnserve_engine_cancelled_total"));
        /* and the daemon serves on */
        resp r;
        POST_OK(&d, "/generate", "{\"seed\":1}", &r);
        resp_free(&r);
    }
    ASSERT_EQ(0, daemon_stop(&d));
}

static void a_full_queue_answers_503_with_retry_after(void)
{
    daemon_proc d;
    const char *flags[] = {"--max-queue", "1", "--max-n", "1024", "--max-length", "1024", NULL};
    if (start_ready(&d, flags) != 0)
        return;
    int fd = start_long_stream(&d); /* takes the only place */
    ASSERT_TRUE(fd >= 0);
    resp r;
    double t0 = now_s();
    request(&d, "POST", "/classify", "{\"name\":\"abc\"}", &r);
    ASSERT_EQ(503, r.status);
    ASSERT_STREQ("overloaded", jstr(jget(r.json, "error"), "code"));
    char retry[32];
    header_value(&r, "Retry-After", retry, sizeof retry);
    ASSERT_STREQ("1", retry);
    ASSERT_TRUE(now_s() - t0 < 1.0); /* at once, not after waiting */
    resp_free(&r);
    ASSERT_EQ(1, metric(&d, "rnnserve_engine_rejected_total"));
    if (fd >= 0)
        close(fd);
    ASSERT_TRUE(wait_for(pending_is, &d, 0, 2.0));
    POST_OK(&d, "/classify", "{\"name\":\"abc\"}", &r); /* room again */
    resp_free(&r);
    ASSERT_EQ(0, daemon_stop(&d));
}

typedef struct long_call {
    const daemon_proc *d;
    int stream;
    resp r;
} long_call;

static void *long_request(void *arg)
{
    long_call *c = arg;
    char body[sizeof long_job];
    memcpy(body, long_job, sizeof body); /* made before the threads start */
    if (c->stream)
        strcpy(body + strlen(body) - 1, ",\"stream\":true}");
    request(c->d, "POST", "/generate", body, &c->r);
    return NULL;
}

static void a_stop_answers_the_work_in_flight(void)
{
    daemon_proc d;
    const char *flags[] = {"--max-n", "1024", "--max-length", "1024", "--shutdown-timeout-seconds",
                           "0",       NULL};
    if (start_ready(&d, flags) != 0)
        return;
    make_long_job(0);
    long_call calls[2] = {{.d = &d, .stream = 1}, {.d = &d, .stream = 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, long_request, &calls[i]);
    ASSERT_TRUE(wait_for(pending_is, &d, 2, 5.0)); /* both are in the engine */
    kill(d.pid, SIGTERM);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* the stream ends with an error event, the plain request with a 503 */
    ASSERT_EQ(200, calls[0].r.status);
    const char *body = calls[0].r.body ? calls[0].r.body : "";
    const char *last = strstr(body, "data: {\"error\"");
    ASSERT_TRUE(last != NULL);
    if (last)
        ASSERT_STREQ("data: {\"error\":{\"code\":\"not_ready\",\"message\":\"the server is "
                     "shutting down\",\"field\":null}}\n\n",
                     last);
    ASSERT_EQ(503, calls[1].r.status);
    ASSERT_STREQ("not_ready", jstr(jget(calls[1].r.json, "error"), "code"));
    for (int i = 0; i < 2; i++)
        resp_free(&calls[i].r);
    ASSERT_EQ(0, daemon_wait(&d, 10));
}

typedef struct generate_call {
    const daemon_proc *d;
    const char *body;
    resp r;
} generate_call;

static void *generate_request(void *arg)
{
    generate_call *c = arg;
    request(c->d, "POST", "/generate", c->body, &c->r);
    return NULL;
}

static int reloads_are_at_least(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_reloads_total") >= (double)n;
}

/* A reload swaps the models under a job in flight: the job finishes on the
 * model it started with (its answer equals the old model's), and the next
 * request gets the new model. */
static void a_reload_keeps_work_in_flight_on_its_model(void)
{
    char dir[512], src[512];
    snprintf(dir, sizeof dir, "%s/swap", tmp_root);
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/gru_generator_l2.model.safetensors", golden_dir);
    if (install_file(src, dir, "swap.safetensors", 0) != 0) {
        TEST_FAIL_("cannot install %s", src);
        return;
    }
    daemon_proc d;
    int exited = 0;
    if (daemon_start(&d, dir, long_flags, NULL, &exited) != 0 ||
        !wait_for(readyz_is, &d, 200, 10.0)) {
        TEST_FAIL_("daemon did not start (exit %d)", exited);
        return;
    }
    /* the long job, plain: most of a second of work in a release build */
    make_long_job(0);
    char body[sizeof long_job];
    snprintf(body, sizeof body, "%s", long_job);
    resp before;
    double t0 = now_s();
    if (!POST_OK(&d, "/generate", body, &before)) {
        resp_free(&before);
        daemon_stop(&d);
        return;
    }
    fprintf(stderr, "     the job alone took %.0f ms\n", (now_s() - t0) * 1000);
    generate_call call = {.d = &d, .body = body};
    pthread_t t;
    pthread_create(&t, NULL, generate_request, &call);
    ASSERT_TRUE(wait_for(pending_is, &d, 1, 5.0));
    snprintf(src, sizeof src, "%s/lstm_generator_l2.model.safetensors", golden_dir);
    ASSERT_EQ(0, install_file(src, dir, "swap.safetensors", 0));
    kill(d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(reloads_are_at_least, &d, 1, 5.0));
    ASSERT_EQ(1, metric(&d, "rnnserve_engine_pending")); /* still running across the reload */
    pthread_join(t, NULL);
    ASSERT_EQ(200, call.r.status);
    ASSERT_TRUE(call.r.body && before.body && !strcmp(call.r.body, before.body));
    /* the next request runs on the new model: different numbers */
    resp after;
    if (POST_OK(&d, "/generate", body, &after))
        ASSERT_TRUE(strcmp(after.body, before.body) != 0);
    resp_free(&after);
    resp_free(&call.r);
    resp_free(&before);
    ASSERT_EQ(0, daemon_stop(&d));
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(batched_answers_equal_answers_alone, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(stream_events_add_up_to_the_plain_reply, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(a_client_that_leaves_stops_its_stream, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_full_queue_answers_503_with_retry_after, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_stop_answers_the_work_in_flight, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_reload_keeps_work_in_flight_on_its_model, HTTP_OWN_DAEMON),
};

HTTP_MAIN(scenarios)
