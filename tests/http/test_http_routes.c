/*
 * test_http_routes.c — every route of the daemon and every way to get one
 * wrong: health and readiness, GET /v1/models against `rnntrain info`,
 * each validation error with its status, code and field, unknown routes
 * and methods (405 with Allow), bodies and headers over the limits, the
 * /metrics counters, the JSON access log, and the playground page at GET /
 * (off with --no-ui).  All on main_d but --no-ui; what the
 * answers of /classify, /generate and /score hold is test_http_classify.c's
 * and test_http_generate.c's.  Arguments and HTTP_ONLY: harness.h.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../test.h"
#include "harness.h"

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
    /* white space around a name is trimmed: white space alone is empty */
    EXPECT_ERROR(d, "/classify", "{\"name\":\"   \"}", 400, "invalid_argument", "name",
                 "must not be empty");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"\\t\\n\"}", 400, "invalid_argument", "name",
                 "must not be empty");
    EXPECT_ERROR(d, "/classify", "{\"name\":\"\xc2\xa0\\u3000 \"}", 400, "invalid_argument", "name",
                 "must not be empty");
    EXPECT_ERROR(d, "/classify", "{\"names\":[\"abc\",\" \\r\\n\"]}", 400, "invalid_argument",
                 "names[1]", "names[1] must not be empty");
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
    /* the input before the options on every route: unreadable characters
     * are a 422 naming them whatever else is wrong */
    EXPECT_ERROR(d, "/classify", "{\"name\":\"abz\",\"top_k\":0}", 422, "unprocessable", "name",
                 "\"z\"");
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
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"ab\xe7\x8e\x8b\",\"category\":\"Klingon\"}", 422,
                 "unprocessable", "prefix", "\"\xe7\x8e\x8b\"");
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"abz\",\"category\":1,\"n\":0}", 422,
                 "unprocessable", "prefix", "\"z\"");
    EXPECT_ERROR(d, "/generate", "{\"prefix\":\"abz\",\"max_length\":65}", 422, "unprocessable",
                 "prefix", "\"z\"");
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
    /* the text before the category: a conditional model without one still
     * names the characters it cannot read */
    EXPECT_ERROR(d, "/score", "{\"text\":\"\xe7\x8e\x8b\"}", 422, "unprocessable", "text",
                 "model \"tiny-generator\" cannot read: \"\xe7\x8e\x8b\"");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abz\",\"category\":\"Klingon\"}", 422, "unprocessable",
                 "text", "\"z\"");
    EXPECT_ERROR(d, "/score", "{\"text\":\"abz\",\"category\":5}", 422, "unprocessable", "text",
                 "\"z\"");
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

static void oversized_bodies_get_413(void)
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
    /* one byte over, with Content-Length: refused before the body is read,
     * so the connection closes after the 413 (what is left of the body
     * cannot be told from a next request); the client's next request
     * opens a new one and is answered */
    request_on(h, main_d.base, "POST", "/classify", big, cap + 1, NULL, &r);
    ASSERT_EQ(413, r.status);
    ASSERT_STREQ("payload_too_large", jstr(jget(r.json, "error"), "code"));
    char connection[64];
    header_value(&r, "Connection", connection, sizeof connection);
    ASSERT_STREQ("close", connection);
    resp_free(&r);
    request_on(h, main_d.base, "GET", "/healthz", NULL, 0, NULL, &r);
    ASSERT_EQ(200, r.status);
    ASSERT_EQ(1, r.connects);
    resp_free(&r);
    curl_easy_cleanup(h);
    free(big);

    /* chunked, no declared length: read and dropped to its end, then the
     * 413, and the connection stays in step: the same one still answers */
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
    resp_free(&r);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, NULL);
    request_on(h, main_d.base, "GET", "/healthz", NULL, 0, NULL, &r);
    ASSERT_EQ(200, r.status);
    ASSERT_EQ(0, r.connects);
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

/* Sends request on a new connection to main_d and reads until the server
 * closes it or timeout_s passes; what came in out (NUL-terminated), the
 * seconds it took in *took.  Returns 1 when the server closed the
 * connection, 0 on time-out or failure. */
static int exchange_raw(const char *request, double timeout_s, char *out, size_t cap, double *took)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)main_d.port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    int closed = 0;
    double t0 = now_s();
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        send(fd, request, strlen(request), MSG_NOSIGNAL) == (ssize_t)strlen(request)) {
        ssize_t got = -1;
        while (n + 1 < cap && (got = recv(fd, out + n, cap - 1 - n, 0)) > 0)
            n += (size_t)got;
        closed = got == 0;
    }
    *took = now_s() - t0;
    out[n] = '\0';
    close(fd);
    return closed;
}

/* A client that declares a body far over --max-body-bytes and sends none
 * of it gets the 413 at once (the connection then closes), not after the
 * 10 s connection time-out; one that asks "Expect: 100-continue" gets the
 * 413 instead of 100 Continue, so it never sends the body. */
static void declared_oversized_body_is_refused_before_it_is_sent(void)
{
    static const char *const requests[] = {
        "POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n\r\n",
        "POST /generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
        "POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 262145\r\n"
        "Expect: 100-continue\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        char got[2048];
        double took;
        int closed = exchange_raw(requests[i], 3.0, got, sizeof got, &took);
        if (strncmp(got, "HTTP/1.1 413 ", 13) != 0)
            TEST_FAIL_("request %zu: expected 413 first, got %.80s", i, got[0] ? got : "nothing");
        ASSERT_CONTAINS(got, "\"code\":\"payload_too_large\"");
        ASSERT_TRUE(strstr(got, "100 Continue") == NULL);
        ASSERT_TRUE(closed);
        ASSERT_TRUE(took < 1.0);
    }
    /* curl asks "Expect: 100-continue" for a body this large by itself:
     * it gets the 413 and uploads nothing */
    enum { BODY = 8 << 20 };
    CURL *h = client_new();
    upload u = {BODY};
    resp r;
    memset(&r, 0, sizeof r);
    char url[128];
    snprintf(url, sizeof url, "%s/classify", main_d.base);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)BODY);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    double t0 = now_s();
    CURLcode rc = curl_easy_perform(h);
    double took = now_s() - t0;
    curl_off_t uploaded = -1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    ASSERT_EQ(CURLE_OK, rc);
    ASSERT_EQ(413, r.status);
    ASSERT_EQ(0, uploaded);
    ASSERT_TRUE(took < 1.0);
    curl_easy_cleanup(h);
    resp_free(&r);
}

static void metrics_count_requests_by_route_and_status(void)
{
    /* a /classify refusal of each kind counted below (413, 422, 405), so
     * that the scenario holds alone too; in a full run the scenarios
     * before it have made them already */
    size_t over = 256 * 1024 + 1;
    char *big = malloc(over);
    memset(big, ' ', over);
    resp r;
    request_on(NULL, main_d.base, "POST", "/classify", big, over, NULL, &r);
    resp_free(&r);
    free(big);
    request(&main_d, "POST", "/classify", "{\"name\":\"abz\"}", &r);
    resp_free(&r);
    request(&main_d, "GET", "/classify", NULL, &r);
    resp_free(&r);
    double before = metric(&main_d, "rnnserve_requests_total{route=\"/score\",status=\"200\"}");
    double before404 = metric(&main_d, "rnnserve_requests_total{route=\"other\",status=\"404\"}");
    double count_before =
        metric(&main_d, "rnnserve_request_duration_seconds_count{route=\"/score\"}");
    for (int i = 0; i < 5; i++) {
        POST_OK(&main_d, "/score", "{\"text\":\"abc\",\"model\":\"tiny-lm\"}", &r);
        resp_free(&r);
    }
    request(&main_d, "GET", "/does-not-exist", NULL, &r);
    resp_free(&r);
    ASSERT_EQ(before + 5,
              metric_settled(&main_d, "rnnserve_requests_total{route=\"/score\",status=\"200\"}",
                             before + 5));
    ASSERT_EQ(before404 + 1,
              metric_settled(&main_d, "rnnserve_requests_total{route=\"other\",status=\"404\"}",
                             before404 + 1));
    ASSERT_EQ(count_before + 5,
              metric_settled(&main_d, "rnnserve_request_duration_seconds_count{route=\"/score\"}",
                             count_before + 5));
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
    /* traffic of its own, so that the log has over 100 lines when the
     * scenario runs alone too: 101 requests on one connection, most of
     * them refused (bad JSON, bytes that are not UTF-8, an unknown route) */
    static const char *const bodies[] = {"{", "{\"name\":\"ab\xff\"}", "{\"name\":\"abz\"}",
                                         "{\"name\":\"abc\"}"};
    CURL *h = client_new();
    resp r;
    for (int i = 0; i < 101; i++) {
        const char *body = bodies[i % 4];
        request_on(h, main_d.base, "POST", i % 5 == 4 ? "/nope" : "/classify", body, strlen(body),
                   NULL, &r);
        resp_free(&r);
    }
    curl_easy_cleanup(h);
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

/* GET / is the playground page (src/serve/ui/), with its two assets, a
 * strict Content-Security-Policy and Cache-Control; HEAD answers the same
 * headers; the three count under the route label "/" */
static void the_playground_page_is_served_with_its_headers(void)
{
    const char *before_series = "rnnserve_requests_total{route=\"/\",status=\"200\"}";
    double before = metric(&main_d, before_series);
    resp r;
    char type[128], csp[512], cache[64], length[32];
    ASSERT_EQ(CURLE_OK, request(&main_d, "GET", "/", NULL, &r));
    ASSERT_EQ(200, r.status);
    header_value(&r, "Content-Type", type, sizeof type);
    header_value(&r, "Content-Security-Policy", csp, sizeof csp);
    header_value(&r, "Cache-Control", cache, sizeof cache);
    ASSERT_STREQ("text/html; charset=utf-8", type);
    ASSERT_CONTAINS(csp, "default-src 'none'");
    ASSERT_CONTAINS(csp, "script-src 'self'");
    ASSERT_CONTAINS(csp, "connect-src 'self'");
    ASSERT_TRUE(!strstr(csp, "unsafe"));
    ASSERT_STREQ("no-cache", cache);
    ASSERT_TRUE(r.body && strncmp(r.body, "<!doctype html>", 15) == 0);
    ASSERT_CONTAINS(r.body, "src=\"/ui/app.js\"");
    ASSERT_CONTAINS(r.body, "href=\"/ui/app.css\"");
    size_t page_len = r.len;
    resp_free(&r);
    request(&main_d, "HEAD", "/", NULL, &r);
    ASSERT_EQ(200, r.status);
    ASSERT_EQ(0, r.len);
    header_value(&r, "Content-Length", length, sizeof length);
    ASSERT_EQ((long)page_len, atol(length));
    header_value(&r, "Content-Security-Policy", csp, sizeof csp);
    ASSERT_CONTAINS(csp, "default-src 'none'");
    resp_free(&r);
    const char *assets[][2] = {{"/ui/app.js", "text/javascript; charset=utf-8"},
                               {"/ui/app.css", "text/css; charset=utf-8"}};
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(CURLE_OK, request(&main_d, "GET", assets[i][0], NULL, &r));
        ASSERT_EQ(200, r.status);
        header_value(&r, "Content-Type", type, sizeof type);
        ASSERT_STREQ(assets[i][1], type);
        ASSERT_TRUE(r.len > 100);
        resp_free(&r);
    }
    ASSERT_EQ(before + 4, metric_settled(&main_d, before_series, before + 4));
    EXPECT_ERROR_RAW(&main_d, "GET", "/ui/", NULL, 0, 404, "not_found", NULL, "/ui/");
    EXPECT_ERROR_RAW(&main_d, "GET", "/index.html", NULL, 0, 404, "not_found", NULL, "playground");
    request_on(NULL, main_d.base, "POST", "/", "{}", 2, NULL, &r);
    char allow[64];
    header_value(&r, "Allow", allow, sizeof allow);
    ASSERT_EQ(405, r.status);
    ASSERT_STREQ("GET, HEAD", allow);
    resp_free(&r);
}

/* --no-ui (or RNNSERVE_NO_UI): the page's paths are unknown routes, counted
 * as "other"; the API answers as before */
static void no_ui_makes_the_page_a_404(void)
{
    const char *const flags[] = {"--no-ui", NULL};
    const char *const env[] = {"RNNSERVE_NO_UI=1", NULL};
    for (int way = 0; way < 2; way++) {
        daemon_proc d;
        if (daemon_start(&d, main_dir, way == 0 ? flags : NULL, way == 0 ? NULL : env, NULL) != 0) {
            TEST_FAIL_("rnnserve %s did not start", way == 0 ? "--no-ui" : "RNNSERVE_NO_UI=1");
            continue;
        }
        ASSERT_TRUE(wait_for(readyz_is, &d, 200, 30)); /* the models load after "listening" */
        for (int i = 0; i < 3; i++) {
            const char *path = (const char *[]){"/", "/ui/app.js", "/ui/app.css"}[i];
            resp r;
            request(&d, "GET", path, NULL, &r);
            ASSERT_EQ(404, r.status);
            ASSERT_STREQ("not_found", jstr(jget(r.json, "error"), "code"));
            const char *msg = jstr(jget(r.json, "error"), "message");
            ASSERT_TRUE(msg && !strstr(msg, "playground"));
            resp_free(&r);
        }
        resp r;
        if (GET_OK(&d, "/v1/models", &r))
            ASSERT_EQ(4, cJSON_GetArraySize(jget(r.json, "models")));
        resp_free(&r);
        ASSERT_EQ(3,
                  metric_settled(&d, "rnnserve_requests_total{route=\"other\",status=\"404\"}", 3));
        ASSERT_TRUE(metric(&d, "rnnserve_requests_total{route=\"/\",status=\"404\"}") <= 0);
        ASSERT_EQ(0, daemon_stop(&d));
    }
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(health_and_readiness_answer_json, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(models_lists_every_model_with_its_metadata, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(every_bad_request_gets_its_error, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(oversized_bodies_get_413, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(declared_oversized_body_is_refused_before_it_is_sent, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(metrics_count_requests_by_route_and_status, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(access_log_has_one_json_line_per_request, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(the_playground_page_is_served_with_its_headers, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(no_ui_makes_the_page_a_404, HTTP_OWN_DAEMON),
};

HTTP_MAIN(scenarios)
