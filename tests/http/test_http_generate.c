/*
 * test_http_generate.c — POST /generate and /score: a seed replays its
 * samples (and a drawn seed is returned so it can), temperature 0 is
 * greedy, every finished sample's log_prob is what /score gives its text,
 * and both agree with rnntrain: `rnntrain sample` draws the same samples
 * from the same seed and `rnntrain eval` the same per-token loss (skipped
 * when no rnntrain is given); /score's "per_token" values add up to its
 * log_prob, one per scored token.  All on main_d.  Arguments and HTTP_ONLY:
 * harness.h.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "harness.h"

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

/* The sum of a JSON array of numbers; its size in *n. */
static double array_sum(const cJSON *a, int *n)
{
    double sum = 0;
    *n = cJSON_GetArraySize(a);
    for (int i = 0; i < *n; i++)
        sum += cJSON_GetArrayItem(a, i)->valuedouble;
    return sum;
}

/* "per_token": one ln p per scored token (each character, then <eos>), in
 * order, adding up to log_prob; without the field the reply is as before */
static void score_per_token_adds_up_to_log_prob(void)
{
    resp plain, off, on, other;
    if (!POST_OK(&main_d, "/score", "{\"text\":\"abcab\",\"model\":\"tiny-lm\"}", &plain))
        return;
    ASSERT_TRUE(!jget(plain.json, "token_log_probs") && !jget(plain.json, "token_texts"));
    if (POST_OK(&main_d, "/score", "{\"text\":\"abcab\",\"model\":\"tiny-lm\",\"per_token\":false}",
                &off))
        ASSERT_STREQ(plain.body, off.body);
    if (POST_OK(&main_d, "/score", "{\"text\":\"abcab\",\"model\":\"tiny-lm\",\"per_token\":true}",
                &on)) {
        const cJSON *lps = jget(on.json, "token_log_probs"), *texts = jget(on.json, "token_texts");
        int n = 0;
        double sum = array_sum(lps, &n);
        ASSERT_EQ(6, jnum(on.json, "tokens"));
        ASSERT_EQ(6, n);
        double lp = jnum(on.json, "log_prob");
        /* each printed to 7 significant digits */
        ASSERT_NEAR(lp, sum, 1e-6 * (fabs(lp) + n));
        for (int i = 0; i < n; i++)
            ASSERT_TRUE(cJSON_GetArrayItem(lps, i)->valuedouble <= 0);
        const char *want[] = {"a", "b", "c", "a", "b", "<eos>"};
        ASSERT_EQ(6, cJSON_GetArraySize(texts));
        for (int i = 0; i < 6 && i < cJSON_GetArraySize(texts); i++)
            ASSERT_STREQ(want[i], cJSON_GetArrayItem(texts, i)->valuestring);
        /* the rest of the reply is the plain one, field for field */
        cJSON *rest = cJSON_Duplicate(on.json, 1);
        cJSON_DeleteItemFromObject(rest, "token_log_probs");
        cJSON_DeleteItemFromObject(rest, "token_texts");
        char *printed = cJSON_PrintUnformatted(rest);
        ASSERT_STREQ(plain.body, printed);
        cJSON_free(printed);
        cJSON_Delete(rest);
        /* each value is its position's: a text with the same first three
         * characters has the same first three values */
        if (POST_OK(&main_d, "/score",
                    "{\"text\":\"abcba\",\"model\":\"tiny-lm\",\"per_token\":true}", &other)) {
            const cJSON *o = jget(other.json, "token_log_probs");
            for (int i = 0; i < 3; i++)
                ASSERT_NEAR(cJSON_GetArrayItem(lps, i)->valuedouble,
                            cJSON_GetArrayItem(o, i)->valuedouble, 1e-9);
            ASSERT_TRUE(fabs(cJSON_GetArrayItem(lps, 3)->valuedouble -
                             cJSON_GetArrayItem(o, 3)->valuedouble) > 1e-6);
        }
        resp_free(&other);
    }
    resp_free(&on);
    resp_free(&off);
    resp_free(&plain);
    /* a conditional model, the empty text: <eos> alone */
    if (POST_OK(&main_d, "/score", "{\"text\":\"\",\"category\":\"Irish\",\"per_token\":true}",
                &on)) {
        const cJSON *lps = jget(on.json, "token_log_probs");
        ASSERT_EQ(1, cJSON_GetArraySize(lps));
        ASSERT_NEAR(jnum(on.json, "log_prob"), cJSON_GetArrayItem(lps, 0)->valuedouble, 1e-9);
        ASSERT_STREQ("<eos>", cJSON_GetArrayItem(jget(on.json, "token_texts"), 0)->valuestring);
    }
    resp_free(&on);
    EXPECT_ERROR(&main_d, "/score", "{\"text\":\"ab\",\"model\":\"tiny-lm\",\"per_token\":1}", 400,
                 "invalid_argument", "per_token", "true or false");
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(generate_with_a_seed_is_reproducible, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(generate_at_temperature_zero_is_greedy_and_deterministic, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(generate_log_prob_equals_score_of_the_text, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(generate_matches_rnntrain_sample, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(score_matches_rnntrain_eval, HTTP_MAIN_DAEMON),
    HTTP_SCENARIO(score_per_token_adds_up_to_log_prob, HTTP_MAIN_DAEMON),
};

HTTP_MAIN(scenarios)
