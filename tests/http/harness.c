/*
 * harness.c — the shared half of the http suite (see harness.h): the
 * daemon as a child process, the temporary model folder, libcurl requests,
 * JSON and /metrics readers, the request mix of the load clients, and
 * http_main, which each test_http_<area>.c calls with its scenarios.
 *
 * It makes checks only through CHECK_AT, on the counters the binary hands
 * over, and never includes tests/test.h: that header's counters are static,
 * and a second copy here would count checks no summary prints.
 */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rnnserve/model.h"
#include "rnnserve/status.h"

extern char **environ;

/* until http_main hands over the binary's counters */
static int unused_checks_, unused_failures_;
int *http_checks_ = &unused_checks_, *http_failures_ = &unused_failures_;

const char *rnnserve_path, *golden_dir, *rnntrain_path, *shipped_dir;
char tmp_root[128];
char main_dir[256];
daemon_proc main_d;

/* ------------------------------------------------------------------ */
/* time, files, child processes                                        */

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

char *read_file(const char *path, size_t *len)
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

int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Copies src to dir/name through a temporary name and rename(), the way
 * a deployment should replace model files. */
int install_file(const char *src, const char *dir, const char *name, size_t max_bytes)
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

int run_command(const char *const *argv, const char *const *env, char *out, size_t cap)
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
                          "{\"note\":\"written by test_http\",\"epochs\":0}",
                          NULL,
                          0};
    char err[512];
    if (rs_model_write(path, &spec, &p, err, sizeof err) != 0) {
        fprintf(stderr, "cannot write the fold model: %s\n", err);
        exit(1);
    }
    free(flat);
}

/* ------------------------------------------------------------------ */
/* the daemon as a child process                                       */

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
int daemon_start(daemon_proc *d, const char *dir, const char *const *flags, const char *const *env,
                 int *exited)
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
    int own_threads = 0;
    for (int i = 0; flags && flags[i]; i++)
        own_threads |= strncmp(flags[i], "--threads", 9) == 0;
    if (!own_threads) {
        argv[a++] = "--threads";
        argv[a++] = "2";
    }
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
int daemon_wait(daemon_proc *d, double seconds)
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

int daemon_stop(daemon_proc *d)
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

int log_contains(const daemon_proc *d, const char *a, const char *b)
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

/* Prints a sanitizer report from a daemon's log file, if it has one. */
void dump_sanitizer_report(const char *path)
{
    char *log = read_file(path, NULL);
    const char *at = log ? strstr(log, "==WARNING: ") : NULL;
    if (!at && log)
        at = strstr(log, "==ERROR: ");
    if (at)
        fprintf(stderr, "     daemon's sanitizer report (%s):\n%.6000s\n", path, at);
    free(log);
}

/* ------------------------------------------------------------------ */
/* HTTP client                                                         */

size_t on_body(char *data, size_t size, size_t n, void *cls)
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

void resp_free(resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

CURL *client_new(void)
{
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    return h;
}

/* One request on handle h (NULL: a fresh handle, closed after).  body may
 * hold any bytes; extra is a header line or NULL. */
CURLcode request_on(CURL *h, const char *base, const char *method, const char *path,
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

CURLcode request(const daemon_proc *d, const char *method, const char *path, const char *body,
                 resp *out)
{
    return request_on(NULL, d->base, method, path, body, body ? strlen(body) : 0, NULL, out);
}

const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A header's value in a captured block (case-insensitive name), or "". */
void header_value(const resp *r, const char *name, char *out, size_t cap)
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
void expect_error_at(const char *file, int line, const daemon_proc *d, const char *method,
                     const char *path, const char *body, size_t len, long status, const char *code,
                     const char *field, const char *message_part)
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
/* POSTs body and expects 200 with a JSON object; the reply is in *r. */
int post_ok_at(const char *file, int line, const daemon_proc *d, const char *path, const char *body,
               resp *r)
{
    request(d, "POST", path, body, r);
    int ok = r->rc == CURLE_OK && r->status == 200 && cJSON_IsObject(r->json);
    CHECK_AT(file, line, ok, "POST %s %s: curl %d status %ld body %s", path, body, (int)r->rc,
             r->status, r->body ? r->body : "(none)");
    return ok;
}
int get_ok_at(const char *file, int line, const daemon_proc *d, const char *path, resp *r)
{
    request(d, "GET", path, NULL, r);
    int ok = r->rc == CURLE_OK && r->status == 200;
    CHECK_AT(file, line, ok, "GET %s: curl %d status %ld", path, (int)r->rc, r->status);
    return ok;
}
/* The value of one sample in /metrics ("name{labels}"), or -1. */
double metric(const daemon_proc *d, const char *series)
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

double metric_settled(const daemon_proc *d, const char *series, double want)
{
    double deadline = now_s() + 2, v = metric(d, series);
    while (v != want && now_s() < deadline) {
        sleep_ms(10);
        v = metric(d, series);
    }
    return v;
}

/* Polls until cond_fn holds or seconds pass. */
int wait_for(int (*cond_fn)(const daemon_proc *, long), const daemon_proc *d, long arg,
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

int model_count_is(const daemon_proc *d, long n)
{
    resp r;
    int ok = request(d, "GET", "/v1/models", NULL, &r) == CURLE_OK && r.status == 200 &&
             cJSON_GetArraySize(jget(r.json, "models")) == n;
    resp_free(&r);
    return ok;
}

int reload_failures_are(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_reload_failures_total") == (double)n;
}

int reloads_are(const daemon_proc *d, long n)
{
    return metric(d, "rnnserve_reloads_total") == (double)n;
}

int readyz_is(const daemon_proc *d, long status)
{
    resp r;
    int ok = request(d, "GET", "/readyz", NULL, &r) == CURLE_OK && r.status == status;
    resp_free(&r);
    return ok;
}

/* ------------------------------------------------------------------ */
/* clients under load                                                  */

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

void *client_main(void *arg)
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

void record_expected_answers(void)
{
    if (expected_mix[0])
        return; /* once per run: the answers do not change */
    for (size_t k = 0; k < N_MIX; k++) {
        resp r;
        if (POST_OK(&main_d, mix[k][0], mix[k][1], &r))
            expected_mix[k] = strdup(r.body);
        else
            expected_mix[k] = strdup("(no reference answer)");
        resp_free(&r);
    }
}

/* ------------------------------------------------------------------ */
/* the run                                                             */

/* Whether name is one of the comma-separated names in list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

int http_main(int argc, char **argv, const http_scenario *scenarios, size_t n, int *checks,
              int *failures)
{
    http_checks_ = checks;
    http_failures_ = failures;
    const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *only = getenv("HTTP_ONLY"), *pos[4] = {NULL};
    int n_pos = 0, list = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--only=", 7) == 0)
            only = argv[i] + 7;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else if (n_pos < 4 && (argv[i][0] != '-' || argv[i][1] == '\0'))
            pos[n_pos++] = argv[i];
        else
            bad = 1; /* an unknown option or a fifth operand */
    }
    if (list && !bad) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", scenarios[i].name);
        return 0;
    }
    if (bad || n_pos < 2) {
        fprintf(stderr,
                "usage: %s [--only=NAME[,NAME...]] [--list] RNNSERVE GOLDEN_DIR [RNNTRAIN "
                "[SHIPPED_MODELS]]\n",
                self);
        return 2;
    }
    rnnserve_path = pos[0];
    golden_dir = pos[1];
    rnntrain_path = n_pos > 2 && pos[2][0] ? pos[2] : NULL;
    shipped_dir = n_pos > 3 ? pos[3] : NULL;
    if (only && !*only)
        only = NULL;
    size_t selected = 0;
    for (size_t i = 0; i < n; i++)
        selected += !only || listed(only, scenarios[i].name);
    if (selected == 0) {
        fprintf(stderr, "%s: no scenario named %s here; its scenarios:\n", self, only);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", scenarios[i].name);
        return 77; /* meson: skipped */
    }

    openblas_set_num_threads(1);
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/rnnserve-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", self);
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

    int main_started = 0;
    for (size_t i = 0; i < n; i++) {
        const http_scenario *s = &scenarios[i];
        if (only && !listed(only, s->name))
            continue;
        if (s->uses_main && !main_started) {
            if (daemon_start(&main_d, main_dir, NULL, NULL, NULL) != 0 ||
                !wait_for(readyz_is, &main_d, 200, 30)) {
                fprintf(stderr, "rnnserve did not start; log in %s\n", main_d.log);
                return 1;
            }
            fprintf(stderr, "     rnnserve on port %d, log %s\n", main_d.port, main_d.log);
            main_started = 1;
        }
        int before = *failures;
        s->run();
        fprintf(stderr, "%s %s\n", *failures == before ? "ok  " : "FAIL", s->name);
    }

    /* the main daemon stops cleanly too (and, under ASan, without leaks) */
    if (main_started) {
        int status = daemon_stop(&main_d);
        CHECK_AT(__FILE__, __LINE__, status == 0, "daemon_stop(&main_d): expected 0, got %d",
                 status);
    }
    for (size_t k = 0; k < N_MIX; k++)
        free(expected_mix[k]);
    curl_global_cleanup();
    if (*failures)
        fprintf(stderr, "logs and models kept in %s\n", tmp_root);
    else
        remove_tree(tmp_root);
    return HTTP_RAN;
}
