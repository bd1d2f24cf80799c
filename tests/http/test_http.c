/*
 * test_http.c — the real rnnserve daemon, driven over HTTP with libcurl.
 *
 *   test_http RNNSERVE GOLDEN_DIR [RNNTRAIN [SHIPPED_MODELS_DIR]]
 *
 * Builds a temporary model folder from the parity golden files (toy
 * vocabulary "abcdefghi"; labels English/French/Japanese/Russian;
 * categories Czech/Greek/Irish) plus an ascii-fold classifier written here
 * with rs_model_write, starts rnnserve on it with --port 0 on 127.0.0.1,
 * reads the bound port from its "listening" log line (stderr goes to a file
 * in the folder), and checks every route, every error, concurrency, 256
 * keep-alive connections, reload under load, a broken file at reload,
 * readiness and a graceful stop under load.  Expected answers come from
 * the library itself (rs_infer on the same files) and from rnntrain.
 *
 * Loopback only; every client call has a time-out; every daemon started is
 * killed at exit whatever happens.  The temporary folder is removed when
 * every check passed and kept (its path printed) otherwise.
 */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"
#include "rnnserve/status.h"

extern char **environ;

/* Checks attributed to the caller's file:line (for helpers). */
#define CHECK_AT(file, line, cond, ...)                                                            \
    do {                                                                                           \
        test_checks_++;                                                                            \
        if (!(cond)) {                                                                             \
            test_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: ", file, line);                                                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static const char *rnnserve_path, *golden_dir, *rnntrain_path, *shipped_dir;
static char tmp_root[128];

/* ------------------------------------------------------------------ */
/* time and files                                                      */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Copies src to dir/name through a temporary name and rename(), the way
 * a deployment should replace model files. */
static int install_file(const char *src, const char *dir, const char *name, size_t max_bytes)
{
    size_t len;
    char *data = read_file(src, &len);
    if (!data)
        return -1;
    if (max_bytes && len > max_bytes)
        len = max_bytes;
    char tmp[512], dst[512];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    int rc = write_bytes(tmp, data, len) == 0 && rename(tmp, dst) == 0 ? 0 : -1;
    free(data);
    return rc;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A model folder under tmp_root with the three golden models and the
 * ascii-fold classifier. */
static void make_model_dir(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tmp_root, name);
    mkdir(out, 0755);
    char src[512], fold[512];
    static const char *const pairs[][2] = {
        {"gru_classifier_bi2", "tiny-classifier.safetensors"},
        {"gru_generator_cond", "tiny-generator.safetensors"},
        {"gru_generator_l2", "tiny-lm.safetensors"},
    };
    for (int i = 0; i < 3; i++) {
        snprintf(src, sizeof src, "%s/%s.model.safetensors", golden_dir, pairs[i][0]);
        if (install_file(src, out, pairs[i][1], 0) != 0) {
            fprintf(stderr, "cannot copy %s into %s\n", src, out);
            exit(1);
        }
    }
    snprintf(fold, sizeof fold, "%s/fold.safetensors", tmp_root);
    if (install_file(fold, out, "tiny-fold.safetensors", 0) != 0) {
        fprintf(stderr, "cannot copy %s\n", fold);
        exit(1);
    }
}

/* An LSTM classifier over ASCII letters with ascii-fold normalisation and
 * random weights, written by the library's own writer. */
static void write_fold_model(const char *path)
{
    static char letters[52][2];
    const char *vocab[55] = {"<pad>", "<bos>", "<eos>"};
    for (int i = 0; i < 26; i++) {
        letters[i][0] = (char)('A' + i);
        letters[26 + i][0] = (char)('a' + i);
    }
    for (int i = 0; i < 52; i++)
        vocab[3 + i] = letters[i];
    const char *labels[3] = {"Czech", "Polish", "Other"};
    rs_config cfg = {.task = RS_TASK_CLASSIFIER,
                     .cell = RS_CELL_LSTM,
                     .num_layers = 1,
                     .hidden_size = 8,
                     .embedding_dim = 4,
                     .vocab_size = 55,
                     .n_outputs = 3};
    float *flat = calloc(rs_param_count(&cfg), sizeof *flat);
    rs_params p;
    rs_params_bind(&cfg, flat, &p);
    rs_rng rng;
    rs_rng_seed(&rng, 42);
    rs_params_init(&cfg, &p, &rng);
    rs_model_spec spec = {cfg,
                          vocab,
                          labels,
                          NULL,
                          RS_NORMALIZE_ASCII_FOLD,
                          "{\"note\":\"written by test_http\",\"epochs\":0}"};
    char err[512];
    if (rs_model_write(path, &spec, &p, err, sizeof err) != 0) {
        fprintf(stderr, "cannot write the fold model: %s\n", err);
        exit(1);
    }
    free(flat);
}

/* ------------------------------------------------------------------ */
/* the daemon as a child process                                       */

typedef struct daemon_proc {
    pid_t pid;
    int port;
    char log[512];
    char base[64]; /* http://127.0.0.1:PORT */
} daemon_proc;

#define MAX_DAEMONS 16
static pid_t started[MAX_DAEMONS];
static int n_started;

static void kill_all(void)
{
    for (int i = 0; i < n_started; i++)
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
}

/* Starts rnnserve on dir with extra flags (NULL-terminated) and extra
 * environment entries ("K=V", NULL-terminated); waits for "listening".
 * Returns 0, or -1 if the process exited first (exit status in *exited). */
static int daemon_start(daemon_proc *d, const char *dir, const char *const *flags,
                        const char *const *env, int *exited)
{
    static int serial;
    memset(d, 0, sizeof *d);
    snprintf(d->log, sizeof d->log, "%s/daemon-%d.log", tmp_root, ++serial);
    const char *argv[64];
    int a = 0;
    argv[a++] = rnnserve_path;
    argv[a++] = "--models";
    argv[a++] = dir;
    argv[a++] = "--host";
    argv[a++] = "127.0.0.1";
    argv[a++] = "--port";
    argv[a++] = "0";
    argv[a++] = "--threads";
    argv[a++] = "2";
    for (int i = 0; flags && flags[i] && a < 62; i++)
        argv[a++] = flags[i];
    argv[a] = NULL;
    /* the environment is built before fork: the child may only exec */
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env])
        n_env++;
    while (env && env[n_extra])
        n_extra++;
    char **envp = calloc(n_env + n_extra + 2, sizeof *envp);
    size_t e = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "RNNSERVE_", 9) != 0)
            envp[e++] = environ[i];
    for (size_t i = 0; i < n_extra; i++)
        envp[e++] = (char *)env[i];
    envp[e++] = "OPENBLAS_NUM_THREADS=1";
    envp[e] = NULL;
    int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        dup2(null_fd, 1);
        execve(rnnserve_path, (char *const *)argv, envp);
        char msg[128];
        int n = snprintf(msg, sizeof msg, "test_http: cannot execute %s: errno %d\n", rnnserve_path,
                         errno);
        if (write(2, msg, (size_t)n) < 0)
            _exit(126);
        _exit(127);
    }
    close(fd);
    close(null_fd);
    free(envp);
    if (pid < 0)
        return -1;
    d->pid = pid;
    if (n_started < MAX_DAEMONS)
        started[n_started++] = pid;
    double deadline = now_s() + 30;
    while (now_s() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d->pid = 0;
            for (int i = 0; i < n_started; i++)
                if (started[i] == pid)
                    started[i] = 0;
            if (exited)
                *exited = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return -1;
        }
        char *log = read_file(d->log, NULL);
        const char *at = log ? strstr(log, "\"event\":\"listening\"") : NULL;
        const char *port = at ? strstr(at, "\"port\":") : NULL;
        if (port) {
            d->port = atoi(port + 7);
            snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", d->port);
            free(log);
            return 0;
        }
        free(log);
        sleep_ms(10);
    }
    return -1;
}

/* Waits for the process to end (at most seconds); its exit status, or -1. */
static int daemon_wait(daemon_proc *d, double seconds)
{
    double deadline = now_s() + seconds;
    while (d->pid > 0 && now_s() < deadline) {
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            for (int i = 0; i < n_started; i++)
                if (started[i] == d->pid)
                    started[i] = 0;
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        sleep_ms(10);
    }
    return -1;
}

static int daemon_stop(daemon_proc *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    int status = daemon_wait(d, 30);
    if (status < 0 && d->pid > 0) {
        kill(d->pid, SIGKILL);
        daemon_wait(d, 5);
    }
    return status;
}

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

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
    resp *r = cls;
    size_t add = size * n;
    char *grown = realloc(r->body, r->len + add + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
    resp *r = cls;
    size_t add = size * n;
    if (r->hlen + add < sizeof r->headers) {
        memcpy(r->headers + r->hlen, data, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

static void resp_free(resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

static CURL *client_new(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    return h;
}

/* One request on handle h (NULL: a fresh handle, closed after).  body may
 * hold any bytes; extra is a header line or NULL. */
static CURLcode request_on(CURL *h, const char *base, const char *method, const char *path,
                           const char *body, size_t len, const char *extra, resp *out)
{
    memset(out, 0, sizeof *out);
    int own = !h;
    if (own)
        h = client_new();
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    if (extra)
        hdrs = curl_slist_append(hdrs, extra);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    }
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (own)
        curl_easy_cleanup(h);
    if (out->body)
        out->json = cJSON_ParseWithLength(out->body, out->len);
    return out->rc;
}

static CURLcode request(const daemon_proc *d, const char *method, const char *path,
                        const char *body, resp *out)
{
    return request_on(NULL, d->base, method, path, body, body ? strlen(body) : 0, NULL, out);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A header's value in a captured block (case-insensitive name), or "". */
static void header_value(const resp *r, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
            return;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
}

/* Expects an error reply: status, code, field (NULL = JSON null) and,
 * if given, a substring of the message. */
static void expect_error_at(const char *file, int line, const daemon_proc *d, const char *method,
                            const char *path, const char *body, size_t len, long status,
                            const char *code, const char *field, const char *message_part)
{
    resp r;
    request_on(NULL, d->base, method, path, body, len, NULL, &r);
    const cJSON *e = r.json ? jget(r.json, "error") : NULL;
    const cJSON *f = e ? jget(e, "field") : NULL;
    const char *got_code = e ? jstr(e, "code") : NULL, *msg = e ? jstr(e, "message") : NULL;
    int field_ok =
        field ? (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0) : cJSON_IsNull(f);
    CHECK_AT(file, line,
             r.rc == CURLE_OK && r.status == status && got_code && strcmp(got_code, code) == 0 &&
                 field_ok && msg && (!message_part || strstr(msg, message_part)),
             "%s %s %.80s: expected %ld %s field %s%s%s, got curl %d status %ld body %s", method,
             path, body ? body : "", status, code, field ? field : "null",
             message_part ? " message ~ " : "", message_part ? message_part : "", (int)r.rc,
             r.status, r.body ? r.body : "(none)");
    resp_free(&r);
}
#define EXPECT_ERROR(d, path, body, status, code, field, part)                                     \
    expect_error_at(__FILE__, __LINE__, d, "POST", path, body, strlen(body), status, code, field,  \
                    part)
#define EXPECT_ERROR_RAW(d, method, path, body, len, status, code, field, part)                    \
    expect_error_at(__FILE__, __LINE__, d, method, path, body, len, status, code, field, part)

/* POSTs body and expects 200 with a JSON object; the reply is in *r. */
static int post_ok_at(const char *file, int line, const daemon_proc *d, const char *path,
                      const char *body, resp *r)
{
    request(d, "POST", path, body, r);
    int ok = r->rc == CURLE_OK && r->status == 200 && cJSON_IsObject(r->json);
    CHECK_AT(file, line, ok, "POST %s %s: curl %d status %ld body %s", path, body, (int)r->rc,
             r->status, r->body ? r->body : "(none)");
    return ok;
}
#define POST_OK(d, path, body, r) post_ok_at(__FILE__, __LINE__, d, path, body, r)

static int get_ok_at(const char *file, int line, const daemon_proc *d, const char *path, resp *r)
{
    request(d, "GET", path, NULL, r);
    int ok = r->rc == CURLE_OK && r->status == 200;
    CHECK_AT(file, line, ok, "GET %s: curl %d status %ld", path, (int)r->rc, r->status);
    return ok;
}
#define GET_OK(d, path, r) get_ok_at(__FILE__, __LINE__, d, path, r)

/* The value of one sample in /metrics ("name{labels}"), or -1. */
static double metric(const daemon_proc *d, const char *series)
{
    resp r;
    double v = -1;
    if (request(d, "GET", "/metrics", NULL, &r) == CURLE_OK && r.status == 200 && r.body) {
        size_t n = strlen(series);
        for (const char *line = r.body; line && *line;) {
            if (strncmp(line, series, n) == 0 && line[n] == ' ') {
                v = strtod(line + n + 1, NULL);
                break;
            }
            line = strchr(line, '\n');
            line = line ? line + 1 : NULL;
        }
        if (v < 0 && strstr(series, "requests_total"))
            v = 0; /* series appear with their first request */
    }
    resp_free(&r);
    return v;
}

/* Polls until cond_fn holds or seconds pass. */
static int wait_for(int (*cond_fn)(const daemon_proc *, long), const daemon_proc *d, long arg,
                    double seconds)
{
    double deadline = now_s() + seconds;
    while (now_s() < deadline) {
        if (cond_fn(d, arg))
            return 1;
        sleep_ms(20);
    }
    return 0;
}

static int model_count_is(const daemon_proc *d, long n)
{
    resp r;
    int ok = request(d, "GET", "/v1/models", NULL, &r) == CURLE_OK && r.status == 200 &&
             cJSON_GetArraySize(jget(r.json, "models")) == n;
    resp_free(&r);
    return ok;
}

static int reload_failures_are(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_reload_failures_total") == (double)n;
}

static int reloads_are(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_reloads_total") == (double)n;
}

static int readyz_is(const daemon_proc *d, long status)
{
    resp r;
    int ok = request(d, "GET", "/readyz", NULL, &r) == CURLE_OK && r.status == status;
    resp_free(&r);
    return ok;
}

/* ------------------------------------------------------------------ */
/* expected answers from the library itself                            */

/* Softmax probabilities of a classifier for a name, as rs_infer computes. */
static int library_classify(const char *model_path, const char *name, double *probs, int *K)
{
    char err[512];
    rs_model *m = NULL;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0)
        return -1;
    const rs_config *cfg = rs_model_config(m);
    rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), 0);
    rs_infer *inf = im ? rs_infer_create(im, 64) : NULL;
    int32_t ids[64];
    int n = rs_model_encode(m, name, strlen(name), ids, 64, NULL, 0);
    int rc = -1;
    if (inf && n > 0) {
        const float *logits = rs_infer_classify(inf, ids, n);
        double mx = logits[0], sum = 0;
        for (int k = 1; k < cfg->n_outputs; k++)
            mx = logits[k] > mx ? logits[k] : mx;
        for (int k = 0; k < cfg->n_outputs; k++)
            sum += probs[k] = exp((double)logits[k] - mx);
        for (int k = 0; k < cfg->n_outputs; k++)
            probs[k] /= sum;
        *K = cfg->n_outputs;
        rc = 0;
    }
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
    rs_model_close(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* the tests                                                           */

static daemon_proc main_d; /* the daemon most tests talk to */
static char main_dir[256];

static void health_and_readiness_answer_json(void)
{
    resp r;
    if (GET_OK(&main_d, "/healthz", &r))
        ASSERT_STREQ("ok", jstr(r.json, "status"));
    char type[128];
    header_value(&r, "Content-Type", type, sizeof type);
    ASSERT_STREQ("application/json", type);
    resp_free(&r);
    if (GET_OK(&main_d, "/readyz", &r)) {
        ASSERT_STREQ("ready", jstr(r.json, "status"));
        ASSERT_EQ(4, jnum(r.json, "models"));
    }
    resp_free(&r);
    request(&main_d, "HEAD", "/healthz", NULL, &r);
    ASSERT_EQ(200, r.status);
    ASSERT_EQ(0, r.len);
    resp_free(&r);
}

static void models_lists_every_model_with_its_metadata(void)
{
    resp r;
    if (!GET_OK(&main_d, "/v1/models", &r))
        return;
    const cJSON *models = jget(r.json, "models");
    ASSERT_EQ(4, cJSON_GetArraySize(models));
    const char *names[] = {"tiny-classifier", "tiny-fold", "tiny-generator", "tiny-lm"};
    for (int i = 0; i < 4 && i < cJSON_GetArraySize(models); i++)
        ASSERT_STREQ(names[i], jstr(cJSON_GetArrayItem(models, i), "name"));
    const cJSON *c = cJSON_GetArrayItem(models, 0);
    ASSERT_STREQ("classifier", jstr(c, "task"));
    ASSERT_STREQ("gru", jstr(c, "cell"));
    ASSERT_EQ(2, jnum(c, "num_layers"));
    ASSERT_EQ(7, jnum(c, "hidden_size"));
    ASSERT_EQ(5, jnum(c, "embedding_dim"));
    ASSERT_TRUE(cJSON_IsTrue(jget(c, "bidirectional")));
    ASSERT_EQ(1674, jnum(c, "parameters"));
    ASSERT_STREQ("none", jstr(c, "normalize"));
    ASSERT_TRUE(cJSON_IsObject(jget(c, "training")));
    const cJSON *labels = jget(c, "labels");
    ASSERT_EQ(4, cJSON_GetArraySize(labels));
    ASSERT_STREQ("English", cJSON_GetArrayItem(labels, 0)->valuestring);
    ASSERT_STREQ("Russian", cJSON_GetArrayItem(labels, 3)->valuestring);
    const cJSON *f = cJSON_GetArrayItem(models, 1);
    ASSERT_STREQ("lstm", jstr(f, "cell"));
    ASSERT_STREQ("ascii-fold", jstr(f, "normalize"));
    ASSERT_STREQ("written by test_http", jstr(jget(f, "training"), "note"));
    const cJSON *g = cJSON_GetArrayItem(models, 2);
    ASSERT_STREQ("generator", jstr(g, "task"));
    ASSERT_EQ(522, jnum(g, "parameters"));
    const cJSON *cats = jget(g, "categories");
    ASSERT_EQ(3, cJSON_GetArraySize(cats));
    ASSERT_STREQ("Czech", cJSON_GetArrayItem(cats, 0)->valuestring);
    ASSERT_TRUE(jget(g, "labels") == NULL);
    const cJSON *lm = cJSON_GetArrayItem(models, 3);
    ASSERT_TRUE(jget(lm, "categories") == NULL);
    ASSERT_TRUE(cJSON_IsFalse(jget(lm, "bidirectional")));
    /* `rnntrain info --json` describes each file as /v1/models does, plus
     * file_bytes and checks */
    for (int i = 0; rnntrain_path && i < 4 && i < cJSON_GetArraySize(models); i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "'%s' info --json --model '%s/%s.safetensors'", rnntrain_path,
                 main_dir, names[i]);
        FILE *p = popen(cmd, "r");
        char out[8192] = "";
        size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
        out[n] = '\0';
        ASSERT_EQ(0, p ? pclose(p) : -1);
        cJSON *info = cJSON_Parse(out);
        ASSERT_TRUE(jnum(info, "file_bytes") > 0);
        ASSERT_STREQ("ok", jstr(info, "checks"));
        cJSON_DeleteItemFromObject(info, "file_bytes");
        cJSON_DeleteItemFromObject(info, "checks");
        ASSERT_TRUE(cJSON_Compare(info, cJSON_GetArrayItem(models, i), 1));
        cJSON_Delete(info);
    }
    resp_free(&r);
}

/* predictions must be the library's probabilities, most likely first */
static void check_predictions_at(const char *file, int line, const cJSON *preds,
                                 const char *model_file, const char *name, int top_k)
{
    double probs[16];
    int K = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", main_dir, model_file);
    CHECK_AT(file, line, library_classify(path, name, probs, &K) == 0, "library classify %s", name);
    CHECK_AT(file, line, cJSON_GetArraySize(preds) == top_k, "%d predictions expected, got %d",
             top_k, cJSON_GetArraySize(preds));
    char err[512];
    rs_model *m = NULL;
    rs_model_open(path, &m, err, sizeof err);
    double prev = 2.0;
    for (int i = 0; m && i < cJSON_GetArraySize(preds); i++) {
        const cJSON *p = cJSON_GetArrayItem(preds, i);
        const char *label = jstr(p, "label");
        double prob = jnum(p, "probability");
        int k = -1;
        for (int j = 0; label && j < K; j++)
            if (strcmp(rs_model_label(m, j), label) == 0)
                k = j;
        CHECK_AT(file, line, k >= 0 && fabs(probs[k] - prob) < 1e-6,
                 "%s: label %s probability %.9f, library says %.9f", name, label ? label : "?",
                 prob, k >= 0 ? probs[k] : -1.0);
        CHECK_AT(file, line, prob <= prev, "%s: predictions not sorted", name);
        prev = prob;
    }
    rs_model_close(m);
}
#define CHECK_PREDICTIONS(preds, file, name, k)                                                    \
    check_predictions_at(__FILE__, __LINE__, preds, file, name, k)

static void classify_returns_the_librarys_top_labels(void)
{
    resp r;
    if (POST_OK(&main_d, "/classify", "{\"name\":\"abc\"}", &r)) {
        ASSERT_STREQ("tiny-classifier", jstr(r.json, "model"));
        ASSERT_STREQ("abc", jstr(r.json, "name"));
        CHECK_PREDICTIONS(jget(r.json, "predictions"), "tiny-classifier.safetensors", "abc", 3);
    }
    resp_free(&r);
    if (POST_OK(&main_d, "/classify",
                "{\"name\":\"hegi\",\"top_k\":4,\"model\":\"tiny-classifier\",\"x\":[1]}", &r)) {
        const cJSON *preds = jget(r.json, "predictions");
        CHECK_PREDICTIONS(preds, "tiny-classifier.safetensors", "hegi", 4);
        double sum = 0;
        for (int i = 0; i < cJSON_GetArraySize(preds); i++)
            sum += jnum(cJSON_GetArrayItem(preds, i), "probability");
        ASSERT_NEAR(1.0, sum, 1e-5); /* each printed with 7 significant digits */
    }
    resp_free(&r);
    /* null means "default" */
    if (POST_OK(&main_d, "/classify", "{\"name\":\"a\",\"top_k\":null,\"model\":null}", &r))
        ASSERT_EQ(3, cJSON_GetArraySize(jget(r.json, "predictions")));
    resp_free(&r);
}

static void classify_batch_equals_single_requests(void)
{
    resp r;
    const char *names[] = {"abc", "ghi", "a", "hhhhhhhh"};
    if (POST_OK(&main_d, "/classify",
                "{\"names\":[\"abc\",\"ghi\",\"a\",\"hhhhhhhh\"],\"top_k\":2}", &r)) {
        ASSERT_STREQ("tiny-classifier", jstr(r.json, "model"));
        const cJSON *results = jget(r.json, "results");
        ASSERT_EQ(4, cJSON_GetArraySize(results));
        for (int i = 0; i < 4 && i < cJSON_GetArraySize(results); i++) {
            const cJSON *one = cJSON_GetArrayItem(results, i);
            ASSERT_STREQ(names[i], jstr(one, "name"));
            CHECK_PREDICTIONS(jget(one, "predictions"), "tiny-classifier.safetensors", names[i], 2);
        }
    }
    resp_free(&r);
    /* the full default batch of 256, and one more */
    char body[256 * 8 + 64];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"names\":[");
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s\"%c%c\"", i ? "," : "", 'a' + i % 9,
                              'a' + (i / 9) % 9);
    snprintf(body + n, sizeof body - n, "]}");
    EXPECT_ERROR(&main_d, "/classify", body, 400, "invalid_argument", "names", "1 to 256");
    char *cut = strrchr(body, ',');
    snprintf(cut, 3, "]}");
    if (POST_OK(&main_d, "/classify", body, &r))
        ASSERT_EQ(256, cJSON_GetArraySize(jget(r.json, "results")));
    resp_free(&r);
}

static void classify_folds_accents_like_the_training_data(void)
{
    resp a, b;
    if (POST_OK(&main_d, "/classify",
                "{\"name\":\"\xc5\x9alus\xc3\xa0rski\",\"model\":\"tiny-fold\",\"top_k\":3}", &a) &&
        POST_OK(&main_d, "/classify",
                "{\"name\":\"Slusarski\",\"model\":\"tiny-fold\",\"top_k\":3}", &b)) {
        ASSERT_STREQ("\xc5\x9alus\xc3\xa0rski", jstr(a.json, "name"));
        CHECK_PREDICTIONS(jget(a.json, "predictions"), "tiny-fold.safetensors", "Slusarski", 3);
        char *pa = cJSON_PrintUnformatted(jget(a.json, "predictions"));
        char *pb = cJSON_PrintUnformatted(jget(b.json, "predictions"));
        ASSERT_STREQ(pb, pa);
        free(pa);
        free(pb);
    }
    resp_free(&a);
    resp_free(&b);
    /* Ł has no decomposition: the model cannot read it, and the reply says so */
    EXPECT_ERROR(&main_d, "/classify", "{\"name\":\"\xc5\x81ukasz\",\"model\":\"tiny-fold\"}", 422,
                 "unprocessable", "name", "\"\xc5\x81\"");
}

static void generate_with_a_seed_is_reproducible(void)
{
    const char *body = "{\"prefix\":\"ab\",\"n\":5,\"seed\":7,\"temperature\":0.8}";
    resp a, b;
    if (POST_OK(&main_d, "/generate", body, &a) && POST_OK(&main_d, "/generate", body, &b)) {
        ASSERT_STREQ(a.body, b.body);
        ASSERT_STREQ("tiny-generator", jstr(a.json, "model"));
        ASSERT_EQ(7, jnum(a.json, "seed"));
        const cJSON *samples = jget(a.json, "samples");
        ASSERT_EQ(5, cJSON_GetArraySize(samples));
        for (int i = 0; i < cJSON_GetArraySize(samples); i++) {
            const cJSON *s = cJSON_GetArrayItem(samples, i);
            const char *text = jstr(s, "text"), *cat = jstr(s, "category");
            ASSERT_TRUE(text && strncmp(text, "ab", 2) == 0 && strlen(text) <= 24);
            ASSERT_TRUE(cat &&
                        (!strcmp(cat, "Czech") || !strcmp(cat, "Greek") || !strcmp(cat, "Irish")));
            ASSERT_TRUE(jnum(s, "log_prob") < 0);
            ASSERT_TRUE(cJSON_IsBool(jget(s, "finished")));
        }
    }
    resp_free(&a);
    resp_free(&b);
    /* without a seed the reply carries the one drawn, which replays it */
    if (POST_OK(&main_d, "/generate", "{\"n\":3,\"model\":\"tiny-lm\"}", &a)) {
        double seed = jnum(a.json, "seed");
        ASSERT_TRUE(seed >= 0 && seed <= 9007199254740991.0 && seed == floor(seed));
        char replay[128];
        snprintf(replay, sizeof replay, "{\"n\":3,\"model\":\"tiny-lm\",\"seed\":%.0f}", seed);
        if (POST_OK(&main_d, "/generate", replay, &b))
            ASSERT_STREQ(a.body, b.body);
        ASSERT_TRUE(jget(cJSON_GetArrayItem(jget(a.json, "samples"), 0), "category") == NULL);
        resp_free(&b);
    }
    resp_free(&a);
}

static void generate_at_temperature_zero_is_greedy_and_deterministic(void)
{
    resp a, b;
    if (POST_OK(&main_d, "/generate",
                "{\"temperature\":0,\"category\":\"Greek\",\"n\":2,\"seed\":1}", &a) &&
        POST_OK(&main_d, "/generate", "{\"temperature\":0,\"category\":\"Greek\",\"seed\":99}",
                &b)) {
        const cJSON *s1 = cJSON_GetArrayItem(jget(a.json, "samples"), 0);
        const cJSON *s2 = cJSON_GetArrayItem(jget(a.json, "samples"), 1);
        const cJSON *s3 = cJSON_GetArrayItem(jget(b.json, "samples"), 0);
        ASSERT_STREQ(jstr(s1, "text"), jstr(s2, "text"));
        ASSERT_STREQ(jstr(s1, "text"), jstr(s3, "text"));
        ASSERT_STREQ("Greek", jstr(s3, "category"));
        ASSERT_NEAR(jnum(s1, "log_prob"), jnum(s3, "log_prob"), 0);
    }
    resp_free(&a);
    resp_free(&b);
}

static void generate_log_prob_equals_score_of_the_text(void)
{
    resp g;
    if (!POST_OK(&main_d, "/generate", "{\"n\":6,\"seed\":11,\"max_length\":40}", &g))
        return;
    const cJSON *samples = jget(g.json, "samples");
    int compared = 0;
    for (int i = 0; i < cJSON_GetArraySize(samples); i++) {
        const cJSON *s = cJSON_GetArrayItem(samples, i);
        if (!cJSON_IsTrue(jget(s, "finished")))
            continue;
        char body[256];
        snprintf(body, sizeof body, "{\"text\":\"%s\",\"category\":\"%s\"}", jstr(s, "text"),
                 jstr(s, "category"));
        resp r;
        if (POST_OK(&main_d, "/score", body, &r)) {
            ASSERT_NEAR(jnum(s, "log_prob"), jnum(r.json, "log_prob"), 1e-9);
            ASSERT_EQ(strlen(jstr(s, "text")) + 1, jnum(r.json, "tokens"));
            compared++;
        }
        resp_free(&r);
    }
    ASSERT_TRUE(compared > 0);
    resp_free(&g);
}

static void generate_matches_rnntrain_sample(void)
{
    if (!rnntrain_path) {
        fprintf(stderr, "     (no rnntrain given: skipped)\n");
        return;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' sample --model '%s/tiny-generator.safetensors' --json --seed 12345 -n 6 "
             "--prefix ab --temperature 0.7 --top-k 5 --top-p 0.9 --max-length 20",
             rnntrain_path, main_dir);
    FILE *p = popen(cmd, "r");
    char out[8192] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    ASSERT_EQ(0, p ? pclose(p) : -1);
    cJSON *cli = cJSON_Parse(out);
    resp r;
    if (cli && POST_OK(&main_d, "/generate",
                       "{\"seed\":12345,\"n\":6,\"prefix\":\"ab\",\"temperature\":0.7,"
                       "\"top_k\":5,\"top_p\":0.9,\"max_length\":20}",
                       &r)) {
        const cJSON *a = jget(cli, "samples"), *b = jget(r.json, "samples");
        ASSERT_EQ(6, cJSON_GetArraySize(a));
        ASSERT_EQ(6, cJSON_GetArraySize(b));
        for (int i = 0; i < 6 && i < cJSON_GetArraySize(a) && i < cJSON_GetArraySize(b); i++) {
            const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
            ASSERT_STREQ(jstr(x, "text"), jstr(y, "text"));
            ASSERT_STREQ(jstr(x, "category"), jstr(y, "category"));
            /* the daemon prints 7 significant digits (rs_json_add_real) */
            ASSERT_NEAR(jnum(x, "log_prob"), jnum(y, "log_prob"), 1e-6 * fabs(jnum(x, "log_prob")));
        }
    } else {
        ASSERT_TRUE(cli != NULL);
    }
    resp_free(&r);
    cJSON_Delete(cli);
}

static void score_matches_rnntrain_eval(void)
{
    resp r;
    if (POST_OK(&main_d, "/score", "{\"text\":\"abc\",\"model\":\"tiny-lm\"}", &r)) {
        ASSERT_STREQ("tiny-lm", jstr(r.json, "model"));
        ASSERT_EQ(4, jnum(r.json, "tokens"));
        ASSERT_NEAR(-jnum(r.json, "log_prob") / 4, jnum(r.json, "nll_per_token"),
                    1e-6 * jnum(r.json, "nll_per_token"));
        if (rnntrain_path) {
            char data[256], cmd[2048];
            snprintf(data, sizeof data, "%s/one.txt", tmp_root);
            write_bytes(data, "abc\n", 4);
            snprintf(cmd, sizeof cmd,
                     "'%s' eval --model '%s/tiny-lm.safetensors' --data '%s' --json", rnntrain_path,
                     main_dir, data);
            FILE *p = popen(cmd, "r");
            char out[4096] = "";
            size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
            out[n] = '\0';
            ASSERT_EQ(0, p ? pclose(p) : -1);
            cJSON *e = cJSON_Parse(out);
            /* eval runs the batched training path: equal to float rounding */
            ASSERT_NEAR(jnum(e, "nll_per_token"), jnum(r.json, "nll_per_token"), 1e-5);
            ASSERT_EQ(jnum(e, "tokens"), jnum(r.json, "tokens"));
            cJSON_Delete(e);
        }
    }
    resp_free(&r);
    if (POST_OK(&main_d, "/score", "{\"text\":\"\",\"category\":\"Irish\"}", &r)) {
        ASSERT_STREQ("Irish", jstr(r.json, "category"));
        ASSERT_EQ(1, jnum(r.json, "tokens"));
    }
    resp_free(&r);
}

static void every_bad_request_gets_its_error(void)
{
    const daemon_proc *d = &main_d;
    /* body syntax */
    EXPECT_ERROR(d, "/classify", "{", 400, "invalid_json", NULL, "not valid JSON");
    EXPECT_ERROR(d, "/classify", "", 400, "invalid_json", NULL, "empty");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\"} x", 400, "invalid_json", NULL, "after");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",}", 400, "invalid_json", NULL, NULL);
    EXPECT_ERROR(d, "/classify", "[1,2]", 400, "invalid_argument", NULL, "JSON object");
    EXPECT_ERROR(d, "/generate", "\"abc\"", 400, "invalid_argument", NULL, "JSON object");
    EXPECT_ERROR(d, "/score", "null", 400, "invalid_argument", NULL, "JSON object");
    char deep[20001];
    memset(deep, '[', 20000);
    deep[20000] = '\0';
    EXPECT_ERROR(d, "/classify", deep, 400, "invalid_json", NULL, NULL);
    EXPECT_ERROR_RAW(d, "POST", "/classify", "{\"name\":\"a\0b\"}", 14, 400, "invalid_json", NULL,
                     NULL);
    EXPECT_ERROR(d, "/classify", "{\"name\":\"ab\\u0000zz\"}", 400, "invalid_argument", NULL,
                 "U+0000");
    /* an escaped backslash followed by u0000 is plain text, not the escape */
    EXPECT_ERROR(d, "/classify", "{\"name\":\"ab\\\\u0000\"}", 422, "unprocessable", "name",
                 "\"\\\", \"u\", \"0\"");
    /* /classify fields */
    EXPECT_ERROR(d, "/classify", "{}", 400, "invalid_argument", "name", "required");
    EXPECT_ERROR(d, "/classify", "{\"name\":5}", 400, "invalid_argument", "name", "string");
    EXPECT_ERROR(d, "/classify", "{\"name\":[\"abc\"]}", 400, "invalid_argument", "name", NULL);
    EXPECT_ERROR(d, "/classify", "{\"names\":\"abc\"}", 400, "invalid_argument", "names", NULL);
    EXPECT_ERROR(d, "/classify", "{\"names\":[]}", 400, "invalid_argument", "names", NULL);
    EXPECT_ERROR(d, "/classify", "{\"names\":[\"abc\",7]}", 400, "invalid_argument", "names[1]",
                 "string");
    EXPECT_ERROR(d, "/classify", "{\"names\":[\"abc\",\"\"]}", 400, "invalid_argument", "names[1]",
                 "empty");
    EXPECT_ERROR(d, "/classify", "{\"names\":[\"abc\",\"abz\"]}", 422, "unprocessable", "names[1]",
                 "\"z\"");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"names\":[\"abc\"]}", 400, "invalid_argument",
                 "names", "not both");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"\"}", 400, "invalid_argument", "name", "empty");
    char longname[128];
    snprintf(longname, sizeof longname, "{\"name\":\"%065d\"}", 0);
    memset(strchr(longname, '0'), 'a', 65);
    EXPECT_ERROR(d, "/classify", longname, 400, "invalid_argument", "name", "longer than 64");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"ab\xff\"}", 400, "invalid_argument", "name", "UTF-8");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"ab\xc3\"}", 400, "invalid_argument", "name", "UTF-8");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"\xed\xa0\x80\"}", 400, "invalid_argument", "name",
                 "UTF-8");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abz\"}", 422, "unprocessable", "name", "\"z\"");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"aXbYX\"}", 422, "unprocessable", "name",
                 "\"X\", \"Y\"");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":0}", 400, "invalid_argument", "top_k",
                 "from 1 to 4");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":5}", 400, "invalid_argument", "top_k",
                 "from 1 to 4");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":1.5}", 400, "invalid_argument",
                 "top_k", NULL);
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":\"3\"}", 400, "invalid_argument",
                 "top_k", NULL);
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":true}", 400, "invalid_argument",
                 "top_k", NULL);
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"top_k\":1e999}", 400, "invalid_argument",
                 "top_k", NULL);
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"model\":\"nope\"}", 404, "not_found", "model",
                 "nope");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"model\":\"tiny-generator\"}", 400,
                 "invalid_argument", "model", "generator");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abc\",\"model\":5}", 400, "invalid_argument", "model",
                 "string");
    /* /generate fields */
    EXPECT_ERROR(d, "/generate", "{\"n\":0}", 400, "invalid_argument", "n", "from 1 to 64");
    EXPECT_ERROR(d, "/generate", "{\"n\":65}", 400, "invalid_argument", "n", "from 1 to 64");
    EXPECT_ERROR(d, "/generate", "{\"n\":2.5}", 400, "invalid_argument", "n", NULL);
    EXPECT_ERROR(d, "/generate", "{\"n\":\"2\"}", 400, "invalid_argument", "n", NULL);
    EXPECT_ERROR(d, "/generate", "{\"temperature\":-0.1}", 400, "invalid_argument", "temperature",
                 "between 0 and 5");
    EXPECT_ERROR(d, "/generate", "{\"temperature\":5.5}", 400, "invalid_argument", "temperature",
                 "between 0 and 5");
    EXPECT_ERROR(d, "/generate", "{\"temperature\":1e999}", 400, "invalid_argument", "temperature",
                 "finite");
    EXPECT_ERROR(d, "/generate", "{\"temperature\":-1e999}", 400, "invalid_argument", "temperature",
                 "finite");
    EXPECT_ERROR(d, "/generate", "{\"temperature\":\"hot\"}", 400, "invalid_argument",
                 "temperature", NULL);
    EXPECT_ERROR(d, "/generate", "{\"top_p\":0}", 400, "invalid_argument", "top_p",
                 "greater than 0");
    EXPECT_ERROR(d, "/generate", "{\"top_p\":1.01}", 400, "invalid_argument", "top_p", NULL);
    EXPECT_ERROR(d, "/generate", "{\"top_k\":-1}", 400, "invalid_argument", "top_k", NULL);
    EXPECT_ERROR(d, "/generate", "{\"max_length\":0}", 400, "invalid_argument", "max_length",
                 "from 1 to 64");
    EXPECT_ERROR(d, "/generate", "{\"max_length\":65}", 400, "invalid_argument", "max_length",
                 NULL);
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"abcdef\",\"max_length\":3}", 400,
                 "invalid_argument", "max_length", "prefix length");
    char longprefix[128];
    snprintf(longprefix, sizeof longprefix, "{\"prefix\":\"%065d\"}", 0);
    memset(strchr(longprefix, '0'), 'b', 65);
    EXPECT_ERROR(d, "/generate", longprefix, 400, "invalid_argument", "prefix", "longer than 64");
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"abz\"}", 422, "unprocessable", "prefix", "\"z\"");
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"a\xff\"}", 400, "invalid_argument", "prefix",
                 "UTF-8");
    EXPECT_ERROR(d, "/generate", "{\"prefix\":7}", 400, "invalid_argument", "prefix", NULL);
    EXPECT_ERROR(d, "/generate", "{\"seed\":-1}", 400, "invalid_argument", "seed", NULL);
    EXPECT_ERROR(d, "/generate", "{\"seed\":1.5}", 400, "invalid_argument", "seed", NULL);
    EXPECT_ERROR(d, "/generate", "{\"seed\":1e300}", 400, "invalid_argument", "seed",
                 "9007199254740991");
    EXPECT_ERROR(d, "/generate", "{\"category\":\"Klingon\"}", 400, "invalid_argument", "category",
                 "Czech, Greek, Irish");
    EXPECT_ERROR(d, "/generate", "{\"category\":1}", 400, "invalid_argument", "category", NULL);
    EXPECT_ERROR(d, "/generate", "{\"category\":\"Greek\",\"model\":\"tiny-lm\"}", 400,
                 "invalid_argument", "category", "not conditioned");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-classifier\"}", 400, "invalid_argument",
                 "model", "classifier");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"missing\"}", 404, "not_found", "model", NULL);
    /* /score fields */
    EXPECT_ERROR(d, "/score", "{}", 400, "invalid_argument", "text", "required");
    EXPECT_ERROR(d, "/score", "{\"text\":5,\"category\":\"Greek\"}", 400, "invalid_argument",
                 "text", NULL);
    EXPECT_ERROR(d, "/score", "{\"text\":\"abz\",\"category\":\"Greek\"}", 422, "unprocessable",
                 "text", "\"z\"");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abc\"}", 400, "invalid_argument", "category",
                 "Czech, Greek, Irish");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abc\",\"category\":\"Greek\",\"model\":\"tiny-lm\"}",
                 400, "invalid_argument", "category", "not conditioned");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abc\",\"category\":\"Klingon\"}", 400,
                 "invalid_argument", "category", "has no category \"Klingon\"");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abc\",\"category\":[]}", 400, "invalid_argument",
                 "category", NULL);
    char longtext[128];
    snprintf(longtext, sizeof longtext, "{\"text\":\"%065d\",\"model\":\"tiny-lm\"}", 0);
    memset(strchr(longtext, '0'), 'c', 65);
    EXPECT_ERROR(d, "/score", longtext, 400, "invalid_argument", "text", "longer than 64");
    /* routes and methods */
    EXPECT_ERROR_RAW(d, "GET", "/nope", NULL, 0, 404, "not_found", NULL, "/nope");
    EXPECT_ERROR_RAW(d, "GET", "/classify/", NULL, 0, 404, "not_found", NULL, NULL);
    EXPECT_ERROR_RAW(d, "POST", "/v2/models", "{}", 2, 404, "not_found", NULL, NULL);
    struct {
        const char *method, *path, *allow;
    } wrong[] = {{"GET", "/classify", "POST"},
                 {"GET", "/generate", "POST"},
                 {"PUT", "/score", "POST"},
                 {"POST", "/healthz", "GET, HEAD"},
                 {"DELETE", "/v1/models", "GET, HEAD"},
                 {"POST", "/metrics", "GET, HEAD"},
                 {"PATCH", "/readyz", "GET, HEAD"}};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        resp r;
        request_on(NULL, d->base, wrong[i].method, wrong[i].path, "{}", 2, NULL, &r);
        char allow[64];
        header_value(&r, "Allow", allow, sizeof allow);
        ASSERT_EQ(405, r.status);
        ASSERT_STREQ(wrong[i].allow, allow);
        ASSERT_STREQ("method_not_allowed", jstr(jget(r.json, "error"), "code"));
        resp_free(&r);
    }
}

/* chunked upload of n bytes of spaces */
typedef struct upload {
    size_t left;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *cls)
{
    upload *u = cls;
    size_t give = size * n < u->left ? size * n : u->left;
    memset(buf, ' ', give);
    u->left -= give;
    return give;
}

static void oversized_bodies_get_413_and_the_connection_survives(void)
{
    size_t cap = 256 * 1024;
    char *big = malloc(cap + 2);
    memset(big, ' ', cap + 1);
    big[0] = '{';
    big[cap] = '}';
    big[cap + 1] = '\0';
    CURL *h = client_new();
    resp r;
    /* exactly at the cap: read and parsed (and refused as incomplete JSON) */
    request_on(h, main_d.base, "POST", "/classify", big, cap + 1 - 1, NULL, &r);
    ASSERT_EQ(400, r.status);
    resp_free(&r);
    /* one byte over, with Content-Length */
    request_on(h, main_d.base, "POST", "/classify", big, cap + 1, NULL, &r);
    ASSERT_EQ(413, r.status);
    ASSERT_STREQ("payload_too_large", jstr(jget(r.json, "error"), "code"));
    resp_free(&r);
    /* the same connection still answers */
    request_on(h, main_d.base, "GET", "/healthz", NULL, 0, NULL, &r);
    ASSERT_EQ(200, r.status);
    ASSERT_EQ(0, r.connects);
    resp_free(&r);
    curl_easy_cleanup(h);
    free(big);

    /* chunked, no declared length: cut off while reading */
    h = client_new();
    upload u = {cap * 3};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    hdrs = curl_slist_append(hdrs, "Expect:");
    char url[128];
    snprintf(url, sizeof url, "%s/generate", main_d.base);
    memset(&r, 0, sizeof r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    ASSERT_EQ(CURLE_OK, curl_easy_perform(h));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    ASSERT_EQ(413, r.status);
    ASSERT_EQ(0, u.left);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    resp_free(&r);

    /* headers over the per-connection memory: libmicrohttpd's own 431 */
    char *header = malloc(40 * 1024 + 16);
    strcpy(header, "X-Big: ");
    memset(header + 7, 'x', 40 * 1024);
    header[7 + 40 * 1024] = '\0';
    request_on(NULL, main_d.base, "GET", "/healthz", NULL, 0, header, &r);
    ASSERT_EQ(431, r.status);
    resp_free(&r);
    free(header);
}

static void metrics_count_requests_by_route_and_status(void)
{
    double before = metric(&main_d, "rnnserve_requests_total{route=\"/score\",status=\"200\"}");
    double before404 = metric(&main_d, "rnnserve_requests_total{route=\"other\",status=\"404\"}");
    double count_before =
        metric(&main_d, "rnnserve_request_duration_seconds_count{route=\"/score\"}");
    resp r;
    for (int i = 0; i < 5; i++) {
        POST_OK(&main_d, "/score", "{\"text\":\"abc\",\"model\":\"tiny-lm\"}", &r);
        resp_free(&r);
    }
    request(&main_d, "GET", "/does-not-exist", NULL, &r);
    resp_free(&r);
    ASSERT_EQ(before + 5,
              metric(&main_d, "rnnserve_requests_total{route=\"/score\",status=\"200\"}"));
    ASSERT_EQ(before404 + 1,
              metric(&main_d, "rnnserve_requests_total{route=\"other\",status=\"404\"}"));
    ASSERT_EQ(count_before + 5,
              metric(&main_d, "rnnserve_request_duration_seconds_count{route=\"/score\"}"));
    ASSERT_EQ(
        count_before + 5,
        metric(&main_d, "rnnserve_request_duration_seconds_bucket{route=\"/score\",le=\"+Inf\"}"));
    ASSERT_TRUE(metric(&main_d, "rnnserve_requests_total{route=\"/classify\",status=\"413\"}") >=
                1);
    ASSERT_TRUE(metric(&main_d, "rnnserve_requests_total{route=\"/classify\",status=\"422\"}") >=
                1);
    ASSERT_TRUE(metric(&main_d, "rnnserve_requests_total{route=\"/classify\",status=\"405\"}") >=
                1);
    ASSERT_EQ(4, metric(&main_d, "rnnserve_models_loaded"));
    ASSERT_EQ(0, metric(&main_d, "rnnserve_reloads_total"));
    ASSERT_EQ(0, metric(&main_d, "rnnserve_reload_failures_total"));
    ASSERT_EQ(1, metric(&main_d, "rnnserve_ready"));
    if (GET_OK(&main_d, "/metrics", &r)) {
        char type[128];
        header_value(&r, "Content-Type", type, sizeof type);
        ASSERT_CONTAINS(type, "text/plain");
        ASSERT_CONTAINS(r.body, "# TYPE rnnserve_request_duration_seconds histogram");
        ASSERT_CONTAINS(r.body, "rnnserve_request_duration_seconds_sum{route=\"/score\"}");
    }
    resp_free(&r);
}

static void access_log_has_one_json_line_per_request(void)
{
    resp r;
    POST_OK(&main_d, "/classify", "{\"name\":\"dig\",\"model\":\"tiny-classifier\"}", &r);
    resp_free(&r);
    sleep_ms(100); /* the line is written when the reply is complete */
    char *log = read_file(main_d.log, NULL);
    ASSERT_TRUE(log != NULL);
    int lines = 0, bad = 0, found = 0;
    for (char *line = log; line && *line;) {
        char *end = strchr(line, '\n');
        if (!end)
            break;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(end - line));
        lines++;
        if (!cJSON_IsObject(j) || !jstr(j, "time") || !jstr(j, "level") || !jstr(j, "event"))
            bad++;
        if (j && jstr(j, "event") && !strcmp(jstr(j, "event"), "access") && jstr(j, "route") &&
            !strcmp(jstr(j, "route"), "/classify") && jnum(j, "status") == 200 &&
            jstr(j, "model") && !strcmp(jstr(j, "model"), "tiny-classifier") &&
            !strcmp(jstr(j, "method"), "POST") && jnum(j, "latency_us") >= 0 &&
            jnum(j, "bytes") > 0)
            found++;
        cJSON_Delete(j);
        line = end + 1;
    }
    ASSERT_TRUE(lines > 100);
    ASSERT_EQ(0, bad);
    ASSERT_TRUE(found >= 1);
    free(log);
}

/* ---- concurrency ---- */

#define CLIENTS    16
#define PER_CLIENT 50
static const char *const mix[][2] = {
    {"/classify", "{\"name\":\"bead\"}"},
    {"/classify", "{\"names\":[\"abc\",\"fig\",\"hi\"],\"top_k\":4}"},
    {"/generate", "{\"n\":4,\"seed\":5,\"prefix\":\"c\"}"},
    {"/generate", "{\"n\":2,\"seed\":9,\"model\":\"tiny-lm\",\"top_k\":3,\"top_p\":0.8}"},
    {"/score", "{\"text\":\"chief\",\"category\":\"Czech\"}"},
    {"/classify", "{\"name\":\"\xc5\xa0imek\",\"model\":\"tiny-fold\"}"},
};
#define N_MIX (sizeof mix / sizeof mix[0])
static char *expected_mix[N_MIX];

typedef struct client_ctx {
    const daemon_proc *d;
    int index;
    int ok, failed;
    atomic_int *stop; /* NULL: run PER_CLIENT requests */
    int connect_refused;
    int reset_at_accept;
    char first_failure[512];
} client_ctx;

static void *client_main(void *arg)
{
    client_ctx *c = arg;
    CURL *h = client_new();
    for (int i = 0; c->stop ? !atomic_load(c->stop) : i < PER_CLIENT; i++) {
        size_t k = (size_t)(c->index + i) % N_MIX;
        resp r;
        request_on(h, c->d->base, "POST", mix[k][0], mix[k][1], strlen(mix[k][1]), NULL, &r);
        if (r.rc == CURLE_OK && r.status == 200 && r.body && !strcmp(r.body, expected_mix[k])) {
            c->ok++;
        } else {
            if (!c->failed)
                snprintf(c->first_failure, sizeof c->first_failure,
                         "%s %s: curl %d (%s) status %ld body %.200s", mix[k][0], mix[k][1],
                         (int)r.rc, curl_easy_strerror(r.rc), r.status, r.body ? r.body : "");
            c->failed++;
        }
        resp_free(&r);
        if (c->stop)
            sleep_ms(1); /* open-ended load: leave the shared cores some air */
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void record_expected_answers(void)
{
    for (size_t k = 0; k < N_MIX; k++) {
        resp r;
        if (POST_OK(&main_d, mix[k][0], mix[k][1], &r))
            expected_mix[k] = strdup(r.body);
        else
            expected_mix[k] = strdup("(no reference answer)");
        resp_free(&r);
    }
}

static void concurrent_clients_get_the_sequential_answers(void)
{
    pthread_t t[CLIENTS];
    client_ctx c[CLIENTS];
    double t0 = now_s();
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client_ctx){.d = &main_d, .index = i};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].ok;
        failed += c[i].failed;
        if (c[i].failed)
            fprintf(stderr, "     client %d: %s\n", i, c[i].first_failure);
    }
    ASSERT_EQ(CLIENTS * PER_CLIENT, ok);
    ASSERT_EQ(0, failed);
    fprintf(stderr, "     %d requests from %d threads in %.2f s\n", ok + failed, CLIENTS,
            now_s() - t0);
}

/* ---- 256 keep-alive connections, raw sockets ---- */

/* Reads one HTTP response (headers + Content-Length body); its status or -1. */
static int read_response(int fd)
{
    char buf[4096];
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        if (n + 1 >= sizeof buf)
            return -1;
        ssize_t got = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    const char *cl = strstr(buf, "Content-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
    size_t have = n - (size_t)(end + 4 - buf);
    while (have < body) {
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got <= 0)
            return -1;
        have += (size_t)got;
    }
    int status = -1;
    sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

static void many_keep_alive_connections_are_all_answered(void)
{
    enum { N = 300 };
    static int fds[N];
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)main_d.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {10, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof addr) == 0)
            opened++;
    }
    ASSERT_EQ(N, opened);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const char *post = "POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: 14\r\n\r\n{\"name\":\"abc\"}";
    for (int round = 0; round < 2; round++) {
        /* every connection sends before any reply is read: all are open
         * and waiting at once */
        for (int i = 0; i < N; i++) {
            const char *msg = (i + round) % 2 ? post : req;
            if (send(fds[i], msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg))
                fds[i] = -fds[i] - 1;
        }
        int answered = 0;
        for (int i = 0; i < N; i++)
            if (fds[i] >= 0 && read_response(fds[i]) == 200)
                answered++;
        ASSERT_EQ(N, answered);
    }
    for (int i = 0; i < N; i++)
        close(fds[i] >= 0 ? fds[i] : -fds[i] - 1);
}

/* ---- reload ---- */

static int log_contains(const daemon_proc *d, const char *a, const char *b)
{
    char *log = read_file(d->log, NULL);
    int found = 0;
    for (char *line = log; line && *line && !found;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        found = strstr(line, a) && (!b || strstr(line, b));
        line = end ? end + 1 : NULL;
    }
    free(log);
    return found;
}

static void reload_under_load_fails_no_request(void)
{
    atomic_int stop;
    atomic_init(&stop, 0);
    enum { N = 4 };
    pthread_t t[N];
    client_ctx c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (client_ctx){.d = &main_d, .index = i, .stop = &stop};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    sleep_ms(200);
    char src[512];
    snprintf(src, sizeof src, "%s/lstm_generator_l2.model.safetensors", golden_dir);
    install_file(src, main_dir, "tiny-xtra.safetensors", 0);
    kill(main_d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(model_count_is, &main_d, 5, 10));
    resp r;
    if (POST_OK(&main_d, "/generate", "{\"model\":\"tiny-xtra\",\"seed\":1}", &r))
        ASSERT_STREQ("tiny-xtra", jstr(r.json, "model"));
    resp_free(&r);
    for (int i = 0; i < 3; i++) { /* a few swaps in a row while requests run */
        kill(main_d.pid, SIGHUP);
        ASSERT_TRUE(wait_for(reloads_are, &main_d, 2 + i, 10));
    }
    char extra[512];
    snprintf(extra, sizeof extra, "%s/tiny-xtra.safetensors", main_dir);
    unlink(extra);
    kill(main_d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(model_count_is, &main_d, 4, 10));
    EXPECT_ERROR(&main_d, "/generate", "{\"model\":\"tiny-xtra\"}", 404, "not_found", "model",
                 NULL);
    sleep_ms(200);
    atomic_store(&stop, 1);
    int ok = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].ok;
        failed += c[i].failed;
        if (c[i].failed)
            fprintf(stderr, "     client %d: %s\n", i, c[i].first_failure);
    }
    ASSERT_EQ(0, failed);
    ASSERT_TRUE(ok > 0);
    ASSERT_EQ(5, metric(&main_d, "rnnserve_reloads_total"));
    ASSERT_EQ(4, metric(&main_d, "rnnserve_models_loaded"));
    ASSERT_TRUE(log_contains(&main_d, "\"event\":\"reloaded\"", "tiny-xtra"));
    fprintf(stderr, "     %d requests during 5 reloads\n", ok);
}

static void broken_file_at_reload_keeps_the_old_set(void)
{
    double failures = metric(&main_d, "rnnserve_reload_failures_total");
    char path[512];
    snprintf(path, sizeof path, "%s/broken.safetensors", main_dir);
    write_bytes(path, "\xff\xff\xff\xff\xff\xff\xff\x7fnot a model", 19);
    kill(main_d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(reload_failures_are, &main_d, (long)failures + 1, 10));
    ASSERT_TRUE(model_count_is(&main_d, 4));
    ASSERT_TRUE(log_contains(&main_d, "\"event\":\"reload_failed\"", "broken.safetensors"));
    resp r;
    POST_OK(&main_d, "/classify", "{\"name\":\"abc\"}", &r);
    resp_free(&r);
    ASSERT_TRUE(readyz_is(&main_d, 200));
    unlink(path);

    /* a truncated copy of a good model */
    char src[512];
    snprintf(src, sizeof src, "%s/gru_generator_l2.model.safetensors", golden_dir);
    install_file(src, main_dir, "truncated.safetensors", 3000);
    kill(main_d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(reload_failures_are, &main_d, (long)failures + 2, 10));
    ASSERT_TRUE(log_contains(&main_d, "\"event\":\"reload_failed\"", "truncated.safetensors"));
    snprintf(path, sizeof path, "%s/truncated.safetensors", main_dir);
    unlink(path);
    ASSERT_TRUE(model_count_is(&main_d, 4));

    /* fixed: the next reload succeeds */
    double reloads = metric(&main_d, "rnnserve_reloads_total");
    kill(main_d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(reloads_are, &main_d, (long)reloads + 1, 10));
    ASSERT_EQ(failures + 2, metric(&main_d, "rnnserve_reload_failures_total"));
}

/* ---- readiness and start-up ---- */

static void empty_folder_is_not_ready_until_models_arrive(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/empty", tmp_root);
    mkdir(dir, 0755);
    daemon_proc d;
    if (daemon_start(&d, dir, NULL, NULL, NULL) != 0) {
        ASSERT_TRUE(0);
        return;
    }
    ASSERT_TRUE(wait_for(readyz_is, &d, 503, 10));
    EXPECT_ERROR_RAW(&d, "GET", "/readyz", NULL, 0, 503, "not_ready", NULL, NULL);
    EXPECT_ERROR(&d, "/classify", "{\"name\":\"abc\"}", 503, "not_ready", NULL, NULL);
    resp r;
    if (GET_OK(&d, "/v1/models", &r))
        ASSERT_EQ(0, cJSON_GetArraySize(jget(r.json, "models")));
    resp_free(&r);
    GET_OK(&d, "/healthz", &r);
    resp_free(&r);
    ASSERT_EQ(0, metric(&d, "rnnserve_ready"));
    char src[512];
    snprintf(src, sizeof src, "%s/gru_classifier_l1.model.safetensors", golden_dir);
    install_file(src, dir, "only.safetensors", 0);
    kill(d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(readyz_is, &d, 200, 10));
    if (POST_OK(&d, "/classify", "{\"name\":\"abc\"}", &r))
        ASSERT_STREQ("only", jstr(r.json, "model"));
    resp_free(&r);
    EXPECT_ERROR(&d, "/generate", "{}", 404, "not_found", "model", "no generator");
    /* emptied again: refused, the model keeps serving */
    snprintf(src, sizeof src, "%s/only.safetensors", dir);
    unlink(src);
    kill(d.pid, SIGHUP);
    ASSERT_TRUE(wait_for(reload_failures_are, &d, 1, 10));
    ASSERT_TRUE(readyz_is(&d, 200));
    ASSERT_EQ(0, daemon_stop(&d));
}

static void broken_file_at_start_up_exits_with_its_name(void)
{
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/broken-start", tmp_root);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    write_bytes(path, "12345678{}", 10);
    daemon_proc d;
    int exited = -1;
    /* it may get as far as listening before the load fails */
    if (daemon_start(&d, dir, NULL, NULL, &exited) == 0)
        exited = daemon_wait(&d, 10);
    ASSERT_EQ(1, exited);
    ASSERT_TRUE(log_contains(&d, "\"event\":\"load_failed\"", "bad.safetensors"));
    int missing = -1;
    if (daemon_start(&d, "/nonexistent-rnnserve-dir", NULL, NULL, &missing) == 0)
        missing = daemon_wait(&d, 10);
    ASSERT_TRUE(log_contains(&d, "\"event\":\"load_failed\"", "nonexistent-rnnserve-dir"));
    ASSERT_EQ(1, missing);
}

static int run_command(const char *const *argv, const char *const *env, char *out, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env])
        n_env++;
    while (env && env[n_extra])
        n_extra++;
    char **envp = calloc(n_env + n_extra + 1, sizeof *envp);
    size_t e = 0;
    for (size_t i = 0; i < n_env; i++)
        envp[e++] = environ[i];
    for (size_t i = 0; i < n_extra; i++)
        envp[e++] = (char *)env[i];
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(pipefd[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(pipefd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    out[n] = '\0';
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void help_lists_every_setting_and_bad_flags_exit_2(void)
{
    static char out[16384];
    const char *help[] = {rnnserve_path, "--help", NULL};
    ASSERT_EQ(0, run_command(help, NULL, out, sizeof out));
    const char *expect[] = {"--models",
                            "RNNSERVE_MODELS",
                            "--host",
                            "--port",
                            "--threads",
                            "--max-body-bytes",
                            "RNNSERVE_MAX_BODY_BYTES",
                            "[262144]",
                            "1024..67108864",
                            "--max-batch",
                            "[256]",
                            "--max-name-chars",
                            "--max-n",
                            "--max-length",
                            "--timeout-seconds",
                            "--max-connections",
                            "--connection-memory-bytes",
                            "--shutdown-grace-seconds",
                            "--shutdown-timeout-seconds",
                            "--log-level",
                            "RNNSERVE_LOG_LEVEL"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        ASSERT_CONTAINS(out, expect[i]);
    const char *bad1[] = {rnnserve_path, "--port", "70000", NULL};
    ASSERT_EQ(2, run_command(bad1, NULL, out, sizeof out));
    ASSERT_CONTAINS(out, "--port must be between 0 and 65535, got 70000");
    const char *bad2[] = {rnnserve_path, "--no-such-flag", NULL};
    ASSERT_EQ(2, run_command(bad2, NULL, out, sizeof out));
    ASSERT_CONTAINS(out, "unknown flag");
    const char *bad3[] = {rnnserve_path, NULL};
    const char *env3[] = {"RNNSERVE_LOG_LEVEL=loud", NULL};
    ASSERT_EQ(2, run_command(bad3, env3, out, sizeof out));
    ASSERT_CONTAINS(out, "RNNSERVE_LOG_LEVEL");
}

static void environment_sets_limits_and_flags_override_it(void)
{
    daemon_proc d;
    const char *env[] = {"RNNSERVE_MAX_BATCH=2", "RNNSERVE_MAX_N=3", "RNNSERVE_LOG_LEVEL=warn",
                         NULL};
    const char *flags[] = {"--max-n", "4", "--max-body-bytes=2048", NULL};
    if (daemon_start(&d, main_dir, flags, env, NULL) != 0) {
        ASSERT_TRUE(0);
        return;
    }
    ASSERT_TRUE(wait_for(readyz_is, &d, 200, 10));
    EXPECT_ERROR(&d, "/classify", "{\"names\":[\"a\",\"b\",\"c\"]}", 400, "invalid_argument",
                 "names", "1 to 2");
    resp r;
    POST_OK(&d, "/generate", "{\"n\":4}", &r);
    resp_free(&r);
    EXPECT_ERROR(&d, "/generate", "{\"n\":5}", 400, "invalid_argument", "n", "from 1 to 4");
    char body[3000];
    memset(body, ' ', sizeof body);
    body[0] = '{';
    body[sizeof body - 2] = '}';
    body[sizeof body - 1] = '\0';
    EXPECT_ERROR(&d, "/classify", body, 413, "payload_too_large", NULL, "2048");
    ASSERT_EQ(0, daemon_stop(&d));
    ASSERT_TRUE(!log_contains(&d, "\"event\":\"access\"", NULL)); /* warn: no access log */
}

/* Prints a sanitizer report from a daemon's log file, if it has one. */
static void dump_sanitizer_report(const char *path)
{
    char *log = read_file(path, NULL);
    const char *at = log ? strstr(log, "==WARNING: ") : NULL;
    if (!at && log)
        at = strstr(log, "==ERROR: ");
    if (at)
        fprintf(stderr, "     daemon's sanitizer report (%s):\n%.6000s\n", path, at);
    free(log);
}

/* ---- graceful stop ---- */

static void *drain_client(void *arg)
{
    client_ctx *c = arg;
    CURL *h = client_new();
    for (int i = 0; i < 100000; i++) {
        resp r;
        const char *body = "{\"n\":16,\"max_length\":30}";
        request_on(h, c->d->base, "POST", "/generate", body, strlen(body), NULL, &r);
        if (r.rc == CURLE_COULDNT_CONNECT) {
            c->connect_refused++;
            resp_free(&r);
            break;
        }
        /* A connection the kernel completed just as the listener closed is
         * reset before the daemon ever accepts it (see rs_http_quiesce):
         * nothing was in flight.  Tolerated on a fresh connection only; the
         * test checks from the daemon's log that it answered no request
         * that did not reach a client. */
        if ((r.rc == CURLE_SEND_ERROR || r.rc == CURLE_RECV_ERROR || r.rc == CURLE_GOT_NOTHING) &&
            r.connects == 1) {
            c->reset_at_accept++;
            resp_free(&r);
            break;
        }
        if (r.rc == CURLE_OK && r.status == 200 &&
            cJSON_GetArraySize(jget(r.json, "samples")) == 16) {
            c->ok++;
        } else {
            if (!c->failed)
                snprintf(c->first_failure, sizeof c->first_failure,
                         "curl %d (%s) status %ld body %.200s", (int)r.rc, curl_easy_strerror(r.rc),
                         r.status, r.body ? r.body : "");
            c->failed++;
            resp_free(&r);
            break;
        }
        resp_free(&r);
        sleep_ms(1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static int ok_total(client_ctx *c, int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += c[i].ok;
    return s;
}

static void sigterm_under_load_drains_and_exits_0(void)
{
    daemon_proc d;
    const char *flags[] = {"--shutdown-grace-seconds", "2", NULL};
    if (daemon_start(&d, main_dir, flags, NULL, NULL) != 0) {
        ASSERT_TRUE(0);
        return;
    }
    ASSERT_TRUE(wait_for(readyz_is, &d, 200, 10));
    enum { N = 4 };
    pthread_t t[N];
    client_ctx c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (client_ctx){.d = &d, .index = i};
        pthread_create(&t[i], NULL, drain_client, &c[i]);
    }
    double deadline = now_s() + 10;
    while (ok_total(c, N) < 40 && now_s() < deadline)
        sleep_ms(5);
    double t0 = now_s();
    kill(d.pid, SIGTERM);
    int saw_503 = 0;
    while (!saw_503 && now_s() < t0 + 1.5) {
        resp r;
        request(&d, "GET", "/readyz", NULL, &r);
        if (r.status == 503 && jstr(jget(r.json, "error"), "code") &&
            !strcmp(jstr(jget(r.json, "error"), "code"), "not_ready"))
            saw_503 = 1;
        resp_free(&r);
        if (!saw_503)
            sleep_ms(10);
    }
    ASSERT_TRUE(saw_503);
    int during = ok_total(c, N);
    int status = daemon_wait(&d, 30);
    double took = now_s() - t0;
    int refused = 0, failed = 0, resets = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        refused += c[i].connect_refused;
        resets += c[i].reset_at_accept;
        failed += c[i].failed;
        if (c[i].failed)
            fprintf(stderr, "     client %d: %s\n", i, c[i].first_failure);
    }
    ASSERT_EQ(0, status);
    if (status != 0) /* a sanitizer's report (exit 66 under TSan) is in the daemon's log */
        dump_sanitizer_report(d.log);
    ASSERT_EQ(0, failed);
    ASSERT_EQ(N, refused + resets);       /* each client ended on a closed listener */
    ASSERT_TRUE(ok_total(c, N) > during); /* requests kept being served while draining */
    ASSERT_TRUE(took >= 1.9 && took < 20);
    /* the daemon's side: every /generate it answered reached a client, and
     * no request was cut off by the shutdown */
    char *log = read_file(d.log, NULL);
    int answered = 0, aborted = 0;
    for (const char *p = log; p && (p = strstr(p, "\"route\":\"/generate\",\"status\":200")); p++)
        answered++;
    for (const char *p = log; p && (p = strstr(p, "\"aborted\"")); p++)
        aborted++;
    free(log);
    ASSERT_EQ(ok_total(c, N), answered);
    ASSERT_EQ(0, aborted);
    ASSERT_TRUE(log_contains(&d, "\"event\":\"stopping\"", "\"requests_in_flight\":0"));
    fprintf(stderr,
            "     %d requests answered, exit 0 after %.2f s (grace 2 s), %d of %d clients "
            "ended refused, %d reset at accept\n",
            ok_total(c, N), took, refused, N, resets);
}

/* ---- the shipped models, when there are any ---- */

static void shipped_models_serve_when_present(void)
{
    int count = 0;
    DIR *dir = shipped_dir ? opendir(shipped_dir) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        count += e->d_name[0] != '.' && n > 12 && !strcmp(e->d_name + n - 12, ".safetensors");
    }
    if (dir)
        closedir(dir);
    if (count == 0) {
        fprintf(stderr, "     (no shipped models in %s: skipped)\n",
                shipped_dir ? shipped_dir : "-");
        return;
    }
    daemon_proc d;
    int exited = -1;
    if (daemon_start(&d, shipped_dir, NULL, NULL, &exited) != 0) {
        TEST_FAIL_("rnnserve on %s did not start (exit %d, log %s)", shipped_dir, exited, d.log);
        return;
    }
    ASSERT_TRUE(wait_for(readyz_is, &d, 200, 30));
    ASSERT_TRUE(model_count_is(&d, count));
    /* whatever they are: every generator generates, and its samples score
     * to the same log-likelihood; every classifier answers a name (or
     * names the characters it cannot read) */
    resp list;
    if (GET_OK(&d, "/v1/models", &list)) {
        const cJSON *m;
        cJSON_ArrayForEach(m, jget(list.json, "models"))
        {
            char body[512];
            resp r;
            if (!strcmp(jstr(m, "task"), "classifier")) {
                snprintf(body, sizeof body,
                         "{\"model\":\"%s\",\"names\":[\"Nakamura\",\"\xc5\x9alus\xc3\xa0rski\"]}",
                         jstr(m, "name"));
                request(&d, "POST", "/classify", body, &r);
                ASSERT_TRUE(r.status == 200 || r.status == 422);
                resp_free(&r);
                continue;
            }
            snprintf(body, sizeof body, "{\"model\":\"%s\",\"n\":4,\"seed\":3}", jstr(m, "name"));
            if (!POST_OK(&d, "/generate", body, &r))
                continue;
            const cJSON *sample;
            cJSON_ArrayForEach(sample, jget(r.json, "samples"))
            {
                if (!cJSON_IsTrue(jget(sample, "finished")))
                    continue;
                cJSON *q = cJSON_CreateObject();
                cJSON_AddStringToObject(q, "model", jstr(m, "name"));
                cJSON_AddStringToObject(q, "text", jstr(sample, "text"));
                if (jstr(sample, "category"))
                    cJSON_AddStringToObject(q, "category", jstr(sample, "category"));
                char *qs = cJSON_PrintUnformatted(q);
                resp sc;
                if (POST_OK(&d, "/score", qs, &sc))
                    ASSERT_NEAR(jnum(sample, "log_prob"), jnum(sc.json, "log_prob"), 1e-9);
                resp_free(&sc);
                free(qs);
                cJSON_Delete(q);
            }
            resp_free(&r);
        }
    }
    resp_free(&list);
    ASSERT_EQ(0, daemon_stop(&d));
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_http RNNSERVE GOLDEN_DIR [RNNTRAIN [SHIPPED_MODELS]]\n");
        return 2;
    }
    rnnserve_path = argv[1];
    golden_dir = argv[2];
    rnntrain_path = argc > 3 && argv[3][0] ? argv[3] : NULL;
    shipped_dir = argc > 4 ? argv[4] : NULL;
    openblas_set_num_threads(1);
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/rnnserve-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(kill_all);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char fold[600];
    snprintf(fold, sizeof fold, "%s/fold.safetensors", tmp_root);
    write_fold_model(fold);
    make_model_dir("models", main_dir, sizeof main_dir);
    if (daemon_start(&main_d, main_dir, NULL, NULL, NULL) != 0 ||
        !wait_for(readyz_is, &main_d, 200, 30)) {
        fprintf(stderr, "rnnserve did not start; log in %s\n", main_d.log);
        return 1;
    }
    fprintf(stderr, "     rnnserve on port %d, log %s\n", main_d.port, main_d.log);

    RUN_TEST(health_and_readiness_answer_json);
    RUN_TEST(models_lists_every_model_with_its_metadata);
    RUN_TEST(classify_returns_the_librarys_top_labels);
    RUN_TEST(classify_batch_equals_single_requests);
    RUN_TEST(classify_folds_accents_like_the_training_data);
    RUN_TEST(generate_with_a_seed_is_reproducible);
    RUN_TEST(generate_at_temperature_zero_is_greedy_and_deterministic);
    RUN_TEST(generate_log_prob_equals_score_of_the_text);
    RUN_TEST(generate_matches_rnntrain_sample);
    RUN_TEST(score_matches_rnntrain_eval);
    RUN_TEST(every_bad_request_gets_its_error);
    RUN_TEST(oversized_bodies_get_413_and_the_connection_survives);
    RUN_TEST(metrics_count_requests_by_route_and_status);
    RUN_TEST(access_log_has_one_json_line_per_request);
    record_expected_answers();
    RUN_TEST(concurrent_clients_get_the_sequential_answers);
    RUN_TEST(many_keep_alive_connections_are_all_answered);
    RUN_TEST(reload_under_load_fails_no_request);
    RUN_TEST(broken_file_at_reload_keeps_the_old_set);
    RUN_TEST(empty_folder_is_not_ready_until_models_arrive);
    RUN_TEST(broken_file_at_start_up_exits_with_its_name);
    RUN_TEST(help_lists_every_setting_and_bad_flags_exit_2);
    RUN_TEST(environment_sets_limits_and_flags_override_it);
    RUN_TEST(sigterm_under_load_drains_and_exits_0);
    RUN_TEST(shipped_models_serve_when_present);

    /* the main daemon stops cleanly too (and, under ASan, without leaks) */
    ASSERT_EQ(0, daemon_stop(&main_d));
    for (size_t k = 0; k < N_MIX; k++)
        free(expected_mix[k]);
    curl_global_cleanup();
    if (test_failures_)
        fprintf(stderr, "logs and models kept in %s\n", tmp_root);
    else
        remove_tree(tmp_root);
    TEST_MAIN_END();
}
