/*
 * test_http_classify.c — POST /classify answers what the library computes:
 * the top labels with rs_infer's softmax probabilities, most likely first;
 * a batch of names equals the names one by one, up to the 256 allowed; and
 * a model trained on ASCII-folded names reads accents as its training data
 * did, and names the characters it cannot read.  All on main_d.
 * Arguments and HTTP_ONLY: harness.h.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "harness.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"

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

/* predictions of two replies, compared as JSON text */
static void same_predictions_at(const char *file, int line, const cJSON *a, const cJSON *b)
{
    char *pa = cJSON_PrintUnformatted(jget(a, "predictions"));
    char *pb = cJSON_PrintUnformatted(jget(b, "predictions"));
    CHECK_AT(file, line, pa && pb && strcmp(pa, pb) == 0, "predictions differ: %s vs %s",
             pa ? pa : "(none)", pb ? pb : "(none)");
    free(pa);
    free(pb);
}
#define SAME_PREDICTIONS(a, b) same_predictions_at(__FILE__, __LINE__, a, b)

/* White space around a name (ASCII or Unicode: no-break, ideographic) is
 * not read: " abc " classifies as "abc", and the reply gives the name as
 * sent.  The tiny models cannot read a space at all, so without the
 * trimming these would be 422s. */
static void classify_trims_white_space_around_names(void)
{
    resp plain = {0}, padded = {0}, batch = {0};
    if (POST_OK(&main_d, "/classify", "{\"name\":\"abc\",\"top_k\":4}", &plain) &&
        POST_OK(&main_d, "/classify", "{\"name\":\" abc \",\"top_k\":4}", &padded)) {
        ASSERT_STREQ(" abc ", jstr(padded.json, "name"));
        SAME_PREDICTIONS(plain.json, padded.json);
        CHECK_PREDICTIONS(jget(padded.json, "predictions"), "tiny-classifier.safetensors", "abc",
                          4);
    }
    /* a space inside a name is part of it, and these models cannot read it */
    EXPECT_ERROR(&main_d, "/classify", "{\"names\":[\" abc\",\"a b\\r\"]}", 422, "unprocessable",
                 "names[1]", "\" \"");
    if (POST_OK(&main_d, "/classify",
                "{\"names\":[\"\\tabc\\n\",\"\xc2\xa0ghi\xe3\x80\x80\"],\"top_k\":4}", &batch)) {
        const cJSON *results = jget(batch.json, "results");
        ASSERT_STREQ("\tabc\n", jstr(cJSON_GetArrayItem(results, 0), "name"));
        ASSERT_STREQ("\xc2\xa0ghi\xe3\x80\x80", jstr(cJSON_GetArrayItem(results, 1), "name"));
        SAME_PREDICTIONS(plain.json, cJSON_GetArrayItem(results, 0));
        CHECK_PREDICTIONS(jget(cJSON_GetArrayItem(results, 1), "predictions"),
                          "tiny-classifier.safetensors", "ghi", 4);
    }
    resp_free(&plain);
    resp_free(&padded);
    resp_free(&batch);
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(classify_returns_the_librarys_top_labels, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(classify_batch_equals_single_requests, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(classify_folds_accents_like_the_training_data, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(classify_trims_white_space_around_names, HTTP_MAIN_DAEMON),
};

HTTP_MAIN(scenarios)
