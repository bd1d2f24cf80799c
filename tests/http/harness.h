/*
 * harness.h — what every http test binary shares: the real rnnserve daemon
 * as a child process on a free loopback port, a temporary model folder,
 * libcurl requests with time-outs, JSON and /metrics readers, the checks
 * that helpers make on their caller's file:line, and the main loop that
 * runs a binary's scenarios.
 *
 * The suite is split by area (tests/http/test_http_<area>.c, one meson test
 * `http_<area>` each, as libmicrohttpd's src/testcurl/ is), so that a hang
 * names its area and its own time-out catches it.  It is not a test
 * framework: scenarios are plain functions using tests/test.h's checks.
 *
 * Every binary is run as
 *
 *   test_http_<area> [--only=NAME[,NAME...]] [--list]
 *                    RNNSERVE GOLDEN_DIR [RNNTRAIN [SHIPPED_MODELS_DIR]]
 *
 * and builds a temporary folder (under $TMPDIR, else /tmp) from the parity
 * golden files (toy vocabulary "abcdefghi"; labels English/French/Japanese/
 * Russian; categories Czech/Greek/Irish) plus an ascii-fold classifier
 * written with rs_model_write.  The daemon most scenarios talk to, main_d,
 * is started on it with --port 0 on 127.0.0.1 before the first scenario
 * that needs it; its port comes from its "listening" log line (stderr goes
 * to a file in the folder).  It is stopped at the end, which must exit 0
 * (under ASan: without leaks).  Expected answers come from the library
 * itself and from rnntrain.
 *
 * One scenario alone (or a few, comma-separated; names are the functions'):
 *
 *   HTTP_ONLY=reload_under_load_fails_no_request meson test -C BUILD --suite http
 *   BUILD/tests/test_http_lifecycle --only=reload_under_load_fails_no_request ARGS...
 *
 * --only wins over HTTP_ONLY.  A binary with none of the names runs nothing
 * and exits 77, which meson reports as SKIP, so the first form runs just
 * the binary that has the scenario; --list prints a binary's scenarios.
 * Every scenario holds alone as well as in its binary's full run.
 *
 * Loopback only; every client call has a time-out; every daemon started is
 * killed at exit whatever happens.  The temporary folder is removed when
 * every check passed and kept (its path printed) otherwise.
 */
#ifndef RNNSERVE_TESTS_HTTP_HARNESS_H
#define RNNSERVE_TESTS_HTTP_HARNESS_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ */
/* checks                                                              */

/* tests/test.h keeps its counters static in each file; a binary hands its
 * own to http_main, and the checks helpers make count there too. */
extern int *http_checks_, *http_failures_;

/* Checks attributed to the caller's file:line (for helpers). */
#define CHECK_AT(file, line, cond, ...)                                                            \
    do {                                                                                           \
        (*http_checks_)++;                                                                         \
        if (!(cond)) {                                                                             \
            (*http_failures_)++;                                                                   \
            fprintf(stderr, "%s:%d: ", file, line);                                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ */
/* the run: arguments, folders, scenarios                              */

extern const char *rnnserve_path, *golden_dir;
extern const char *rnntrain_path; /* NULL: not given, its comparisons are skipped */
extern const char *shipped_dir;   /* NULL: not given */
extern char tmp_root[128];        /* the temporary folder of this run */
extern char main_dir[256];        /* tmp_root/models: the four tiny-* models */

/* One scenario: a name (the function's), the function, and whether it talks
 * to main_d (HTTP_MAIN_DAEMON) or starts its own daemons, if any. */
enum { HTTP_OWN_DAEMON = 0, HTTP_MAIN_DAEMON = 1 };
typedef struct http_scenario {
    const char *name;
    void (*run)(void);
    int uses_main;
} http_scenario;
#define HTTP_SCENARIO(fn, on_main)                                                                 \
    {                                                                                              \
        .name = #fn, .run = fn, .uses_main = on_main                                               \
    }

/* Parses the arguments, builds the folders, runs the selected scenarios in
 * order (printing "ok  NAME" or "FAIL NAME" for each), stops main_d if it
 * ran, and removes or keeps the folder.  checks and failures are the
 * caller's tests/test.h counters.  Returns HTTP_RAN when the scenarios ran
 * (the caller then ends with TEST_MAIN_END), else the exit status: 2 for a
 * usage error, 77 when none of the selected names is here, 0 after --list,
 * 1 when the run could not start (the folder or main_d). */
#define HTTP_RAN (-1)
int http_main(int argc, char **argv, const http_scenario *scenarios, size_t n, int *checks,
              int *failures);

/* The main() of a test binary: runs its scenarios table with the file's
 * tests/test.h counters and ends with TEST_MAIN_END's summary. */
#define HTTP_MAIN(scenarios)                                                                       \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        int status = http_main(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0],      \
                               &test_checks_, &test_failures_);                                    \
        if (status != HTTP_RAN)                                                                    \
            return status;                                                                         \
        TEST_MAIN_END();                                                                           \
    }

/* ------------------------------------------------------------------ */
/* time, files, child processes                                        */

double now_s(void); /* CLOCK_MONOTONIC seconds */
void sleep_ms(int ms);
/* The whole file, NUL-terminated (length in *len if given); caller frees;
 * NULL if it cannot be read. */
char *read_file(const char *path, size_t *len);
int write_bytes(const char *path, const void *data, size_t len);
/* Copies src to dir/name through a temporary name and rename(), cut to
 * max_bytes if that is not 0. */
int install_file(const char *src, const char *dir, const char *name, size_t max_bytes);
/* Runs argv (with env's "K=V" entries added, NULL-terminated) to the end,
 * stdout and stderr into out; its exit status, or -1. */
int run_command(const char *const *argv, const char *const *env, char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* the daemon as a child process                                       */

typedef struct daemon_proc {
    pid_t pid;
    int port;
    char log[512];
    char base[64]; /* http://127.0.0.1:PORT */
} daemon_proc;

extern daemon_proc main_d; /* the daemon most scenarios talk to, on main_dir */

/* Starts rnnserve on dir (127.0.0.1, a free port, --threads 2 unless flags
 * give --threads) with extra flags (NULL-terminated) and extra
 * environment entries ("K=V", NULL-terminated); waits for "listening".
 * Returns 0, or -1 if the process exited first (exit status in *exited). */
int daemon_start(daemon_proc *d, const char *dir, const char *const *flags, const char *const *env,
                 int *exited);
/* Waits for the process to end (at most seconds); its exit status, or -1. */
int daemon_wait(daemon_proc *d, double seconds);
/* SIGTERM, then the exit status (SIGKILL after 30 s: -1). */
int daemon_stop(daemon_proc *d);
/* Whether one line of the daemon's log holds a (and b, if not NULL). */
int log_contains(const daemon_proc *d, const char *a, const char *b);
/* Prints a sanitizer report from a daemon's log file, if it has one. */
void dump_sanitizer_report(const char *path);

/* ------------------------------------------------------------------ */
/* HTTP client                                                         */

typedef struct resp {
    long status;
    CURLcode rc;
    char *body;
    size_t len;
    char headers[8192];
    size_t hlen;
    cJSON *json;
    long connects; /* new connections this request opened (0 = reused) */
} resp;

/* A curl handle with the suite's time-outs; caller cleans it up. */
CURL *client_new(void);
/* CURLOPT_WRITEFUNCTION appending to the resp given as data. */
size_t on_body(char *data, size_t size, size_t n, void *cls);
void resp_free(resp *r);
/* One request on handle h (NULL: a fresh handle, closed after).  body may
 * hold any bytes; extra is a header line or NULL.  *out is always filled
 * and must be freed with resp_free. */
CURLcode request_on(CURL *h, const char *base, const char *method, const char *path,
                    const char *body, size_t len, const char *extra, resp *out);
CURLcode request(const daemon_proc *d, const char *method, const char *path, const char *body,
                 resp *out);

const cJSON *jget(const cJSON *o, const char *key);
const char *jstr(const cJSON *o, const char *key); /* NULL unless a string */
double jnum(const cJSON *o, const char *key);      /* NAN unless a number */
/* A header's value in a captured block (case-insensitive name), or "". */
void header_value(const resp *r, const char *name, char *out, size_t cap);

/* Expects an error reply: status, code, field (NULL = JSON null) and,
 * if given, a substring of the message. */
void expect_error_at(const char *file, int line, const daemon_proc *d, const char *method,
                     const char *path, const char *body, size_t len, long status, const char *code,
                     const char *field, const char *message_part);
#define EXPECT_ERROR(d, path, body, status, code, field, part)                                     \
    expect_error_at(__FILE__, __LINE__, d, "POST", path, body, strlen(body), status, code, field,  \
                    part)
#define EXPECT_ERROR_RAW(d, method, path, body, len, status, code, field, part)                    \
    expect_error_at(__FILE__, __LINE__, d, method, path, body, len, status, code, field, part)

/* POSTs body and expects 200 with a JSON object; the reply is in *r. */
int post_ok_at(const char *file, int line, const daemon_proc *d, const char *path, const char *body,
               resp *r);
#define POST_OK(d, path, body, r) post_ok_at(__FILE__, __LINE__, d, path, body, r)
int get_ok_at(const char *file, int line, const daemon_proc *d, const char *path, resp *r);
#define GET_OK(d, path, r) get_ok_at(__FILE__, __LINE__, d, path, r)

/* The value of one sample in /metrics ("name{labels}"), or -1. */
double metric(const daemon_proc *d, const char *series);
/* The same once it equals want, polled for up to 2 s (else its last value):
 * a request is counted when its connection completes, which may be just
 * after the client has read the reply. */
double metric_settled(const daemon_proc *d, const char *series, double want);
/* Polls until cond_fn holds or seconds pass. */
int wait_for(int (*cond_fn)(const daemon_proc *, long), const daemon_proc *d, long arg,
             double seconds);
int model_count_is(const daemon_proc *d, long n);
int reload_failures_are(const daemon_proc *d, long n);
int reloads_are(const daemon_proc *d, long n);
int readyz_is(const daemon_proc *d, long status);

/* ------------------------------------------------------------------ */
/* clients under load                                                  */

/* Each client_main thread cycles through a fixed mix of six /classify,
 * /generate and /score requests on one keep-alive handle, and counts an
 * answer ok only if it is byte for byte the one main_d gave when asked
 * alone (record_expected_answers, which must run first; it runs once). */
#define PER_CLIENT 50
typedef struct client_ctx {
    const daemon_proc *d;
    int index;
    int ok, failed;
    atomic_int *stop; /* NULL: run PER_CLIENT requests */
    int connect_refused;
    int reset_at_accept;
    char first_failure[512];
} client_ctx;

void *client_main(void *arg);
void record_expected_answers(void);

#endif
