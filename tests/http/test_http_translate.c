/*
 * test_http_translate.c — POST /translate against the real daemon, on a
 * folder of two golden translators (tests/parity/make_translator_golden.py:
 * "tiny-fr", a bidirectional 2-layer GRU; "tiny-fr2", a 2-layer LSTM) and a
 * generator ("tiny-lm"), and "tiny-fs": tiny-fr with a shortlist
 * (common 5, two entries per source word) written by rs_translator_write.
 * Limits: --max-sentences 3, --max-source-words 6, --max-translation 12,
 * --max-attention 200.
 *
 * Answers are compared with the library (rs_translate) on the same
 * sentences and options: text, tokens, log_prob, score, the attention
 * matrix (a row per output token, <eos> included, a column per source
 * token, rows summing to 1), replace_unknown; a batch answers as its
 * sentences one by one; /v1/models describes the translators; every bound
 * and type is a 400 naming its field, a model of another task a 400, an
 * unknown one a 404; a shortlist is searched by default and not with
 * "shortlist": false, as the library does.  Arguments and HTTP_ONLY:
 * harness.h.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../test.h"
#include "harness.h"
#include "rnnserve/translate.h"

static daemon_proc tr_d;
static char tr_dir[256];

/* The shortlist of tiny-fs: target ids below 5 always; source word id w
 * adds 5 + w % 6 and, for even w, 10 (tgt vocab 11). */
static int32_t sl_lexical[10 * 2];

static int write_shortlisted(const char *src_path, const char *dst_path)
{
    rs_translator *t = NULL;
    char err[512];
    if (rs_translator_open(src_path, &t, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return -1;
    }
    const rs_s2s_config *cfg = rs_translator_config(t);
    for (int w = 0; w < cfg->src_vocab && w < 10; w++) {
        sl_lexical[w * 2] = 5 + w % 6;
        sl_lexical[w * 2 + 1] = w % 2 == 0 ? 10 : -1;
    }
    rs_shortlist sl = {
        .common = 5, .per_word = 2, .src_vocab = cfg->src_vocab, .lexical = sl_lexical};
    int rc = rs_translator_write_as(t, dst_path, &sl, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("%s", err);
    rs_translator_close(t);
    return rc;
}

static int start_translate_daemon(void)
{
    if (tr_d.pid > 0)
        return 0;
    snprintf(tr_dir, sizeof tr_dir, "%s/translate", tmp_root);
    mkdir(tr_dir, 0755);
    char src[512];
    const char *files[3][2] = {{"translator_gru_bi2", "tiny-fr"},
                               {"translator_lstm_l2", "tiny-fr2"},
                               {"gru_generator_l2", "tiny-lm"}};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(src, sizeof src, "%s/%s.model.safetensors", golden_dir, files[i][0]);
        snprintf(name, sizeof name, "%s.safetensors", files[i][1]);
        if (install_file(src, tr_dir, name, 0) != 0)
            return -1;
    }
    char dst[512];
    snprintf(src, sizeof src, "%s/translator_gru_bi2.model.safetensors", golden_dir);
    snprintf(dst, sizeof dst, "%s/tiny-fs.safetensors", tr_dir);
    if (write_shortlisted(src, dst) != 0)
        return -1;
    const char *flags[] = {"--max-sentences",
                           "3",
                           "--max-source-words",
                           "6",
                           "--max-translation",
                           "12",
                           "--max-attention",
                           "200",
                           NULL};
    int exited = 0;
    int rc = daemon_start(&tr_d, tr_dir, flags, NULL, &exited);
    ASSERT_TRUE(rc == 0);
    if (rc == 0)
        ASSERT_TRUE(wait_for(readyz_is, &tr_d, 200, 10));
    return rc;
}

/* The library's answer for one sentence. */
static rs_translator *open_golden(const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.model.safetensors", golden_dir, name);
    rs_translator *t = NULL;
    if (rs_translator_open(path, &t, err, sizeof err) != 0)
        TEST_FAIL_("%s", err);
    return t;
}

/* Compares one reply object ({"source_tokens", "translations"}) with the
 * library's translation of text. */
static void compare_result_with(const rs_translator *t, const cJSON *got, const char *text,
                                const rs_beam_opts *o, int replace, int use_shortlist)
{
    rs_translation tr;
    size_t len = strlen(text);
    ASSERT_EQ(0, rs_translate(t, &text, &len, 1, 6, o, use_shortlist, &tr));
    ASSERT_EQ(0, tr.status);
    const cJSON *src = jget(got, "source_tokens");
    ASSERT_EQ(tr.n_src, cJSON_GetArraySize(src));
    ASSERT_STREQ("<eos>", cJSON_GetArrayItem(src, tr.n_src - 1)->valuestring);
    ASSERT_EQ(tr.n_unknown, (int)jnum(got, "unknown_words"));
    const cJSON *list = jget(got, "translations");
    ASSERT_EQ(tr.n_hyp, cJSON_GetArraySize(list));
    for (int h = 0; h < tr.n_hyp && h < cJSON_GetArraySize(list); h++) {
        const cJSON *x = cJSON_GetArrayItem(list, h);
        const rs_hypothesis *want = &tr.hyp[h];
        const char **tok = rs_translation_tokens(t, &tr, want, replace);
        char *wtext = rs_translation_text(t, tok, want->n);
        ASSERT_STREQ(wtext, jstr(x, "text"));
        const cJSON *toks = jget(x, "tokens");
        ASSERT_EQ(want->n, cJSON_GetArraySize(toks));
        for (int i = 0; i < want->n && i < cJSON_GetArraySize(toks); i++)
            ASSERT_STREQ(tok[i], cJSON_GetArrayItem(toks, i)->valuestring);
        ASSERT_NEAR(want->log_prob, jnum(x, "log_prob"), 1e-5 * (1 + fabs(want->log_prob)));
        ASSERT_NEAR(want->score, jnum(x, "score"), 1e-5 * (1 + fabs(want->score)));
        ASSERT_EQ(want->finished, cJSON_IsTrue(jget(x, "finished")));
        const cJSON *att = jget(x, "attention");
        if (o->attention) {
            int rows = want->n + want->finished;
            ASSERT_EQ(rows, cJSON_GetArraySize(att));
            for (int r = 0; r < rows && r < cJSON_GetArraySize(att); r++) {
                const cJSON *row = cJSON_GetArrayItem(att, r);
                ASSERT_EQ(tr.n_src, cJSON_GetArraySize(row));
                double sum = 0, worst = 0;
                for (int s = 0; s < tr.n_src; s++) {
                    double v = cJSON_GetArrayItem(row, s)->valuedouble;
                    sum += v;
                    worst = fmax(worst, fabs(v - want->attention[(size_t)r * tr.n_src + s]));
                }
                ASSERT_NEAR(1.0, sum, 2e-3); /* four significant digits each */
                ASSERT_NEAR(0.0, worst, 1e-3);
            }
        } else {
            ASSERT_TRUE(att == NULL);
        }
        free(wtext);
        free(tok);
    }
    rs_translation_free(&tr);
}

static void compare_result(const rs_translator *t, const cJSON *got, const char *text,
                           const rs_beam_opts *o, int replace)
{
    compare_result_with(t, got, text, o, replace, 1);
}

static void a_translation_equals_the_library(void)
{
    if (start_translate_daemon() != 0)
        return;
    rs_translator *t = open_golden("translator_gru_bi2");
    rs_translator *t2 = open_golden("translator_lstm_l2");
    struct {
        const char *body, *text;
        rs_beam_opts o;
        int replace;
        rs_translator *t;
    } cases[] = {
        {"{\"text\":\"I am cold.\"}",
         "I am cold.",
         {4, 1, 50 < 12 ? 50 : 12, 1.0, 0, 0, NULL, 0, NULL},
         0,
         t},
        {"{\"text\":\"you are cold .\",\"beam_size\":3,\"n_best\":3,\"attention\":true}",
         "you are cold .",
         {3, 3, 12, 1.0, 1, 0, NULL, 0, NULL},
         0,
         t},
        {"{\"model\":\"tiny-fr2\",\"text\":\"You are, I am.\",\"beam_size\":1,\"max_length\":7}",
         "You are, I am.",
         {1, 1, 7, 1.0, 0, 0, NULL, 0, NULL},
         0,
         t2},
        {"{\"text\":\"zebra am cold\",\"beam_size\":2,\"length_penalty\":0,"
         "\"replace_unknown\":true,\"attention\":true}",
         "zebra am cold",
         {2, 1, 12, 0.0, 1, 0, NULL, 0, NULL},
         1,
         t},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r = {0};
        if (POST_OK(&tr_d, "/translate", cases[i].body, &r)) {
            ASSERT_STREQ(cases[i].t == t ? "tiny-fr" : "tiny-fr2", jstr(r.json, "model"));
            compare_result(cases[i].t, r.json, cases[i].text, &cases[i].o, cases[i].replace);
        }
        resp_free(&r);
    }
    /* the default max_length is 50, bounded by --max-translation 12 here:
     * the first case asked for neither */
    rs_translator_close(t);
    rs_translator_close(t2);
}

static void a_shortlist_is_searched_unless_turned_off(void)
{
    if (start_translate_daemon() != 0)
        return;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/tiny-fs.safetensors", tr_dir);
    rs_translator *t = NULL;
    if (rs_translator_open(path, &t, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    ASSERT_TRUE(rs_translator_shortlist(t) != NULL);
    rs_beam_opts o = {.beam_size = 4, .n_best = 4, .max_length = 12, .length_penalty = 1.0};
    static const char *const texts[] = {"I am cold.", "you are cold", "Cold, I am!"};
    for (int i = 0; i < 3; i++) {
        for (int use = 0; use <= 1; use++) {
            char body[256];
            snprintf(body, sizeof body, "{\"model\":\"tiny-fs\",\"text\":\"%s\",\"n_best\":4%s}",
                     texts[i], use ? "" : ",\"shortlist\":false");
            resp r = {0};
            if (POST_OK(&tr_d, "/translate", body, &r))
                compare_result_with(t, r.json, texts[i], &o, 0, use);
            /* with the shortlist: every token is one of its ids */
            const cJSON *h, *list = use ? jget(r.json, "translations") : NULL;
            cJSON_ArrayForEach(h, list)
            {
                const cJSON *tok;
                cJSON_ArrayForEach(tok, jget(h, "tokens"))
                {
                    int id =
                        rs_translator_token_id(t, 1, tok->valuestring, strlen(tok->valuestring));
                    int allowed = id >= 0 && id < 5;
                    for (int k = 0; k < 20; k++)
                        allowed |= sl_lexical[k] == id;
                    ASSERT_TRUE(allowed);
                }
            }
            resp_free(&r);
        }
    }
    rs_translator_close(t);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"shortlist\":\"yes\"}", 400,
                 "invalid_argument", "shortlist", NULL);
}

static void a_batch_answers_as_its_sentences_one_by_one(void)
{
    if (start_translate_daemon() != 0)
        return;
    const char *texts[3] = {"I am cold.", "you are", "Cold, I am!"};
    resp all = {0};
    if (!POST_OK(&tr_d, "/translate",
                 "{\"texts\":[\"I am cold.\",\"you are\",\"Cold, I am!\"],\"beam_size\":2,"
                 "\"max_length\":9}",
                 &all))
        return;
    const cJSON *results = jget(all.json, "results");
    ASSERT_EQ(3, cJSON_GetArraySize(results));
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"text\":\"%s\",\"beam_size\":2,\"max_length\":9}", texts[i]);
        resp one = {0};
        if (POST_OK(&tr_d, "/translate", body, &one)) {
            char *a = cJSON_PrintUnformatted(jget(one.json, "translations"));
            char *b = cJSON_PrintUnformatted(jget(cJSON_GetArrayItem(results, i), "translations"));
            ASSERT_STREQ(a, b);
            free(a);
            free(b);
        }
        resp_free(&one);
    }
    resp_free(&all);
}

static void translators_are_listed_and_counted(void)
{
    if (start_translate_daemon() != 0)
        return;
    resp r = {0};
    if (GET_OK(&tr_d, "/v1/models", &r)) {
        const cJSON *m;
        int seen = 0;
        cJSON_ArrayForEach(m, jget(r.json, "models"))
        {
            if (jstr(m, "name") && strcmp(jstr(m, "name"), "tiny-fr") == 0) {
                seen++;
                ASSERT_STREQ("translator", jstr(m, "task"));
                ASSERT_STREQ("gru", jstr(m, "cell"));
                ASSERT_EQ(2, (int)jnum(m, "num_layers"));
                ASSERT_TRUE(cJSON_IsTrue(jget(m, "bidirectional")));
                ASSERT_EQ(10, (int)jnum(m, "src_vocab_size"));
                ASSERT_EQ(11, (int)jnum(m, "tgt_vocab_size"));
                ASSERT_TRUE(jnum(m, "parameters") > 0);
                ASSERT_TRUE(cJSON_IsNull(jget(m, "shortlist")));
            }
            if (jstr(m, "name") && strcmp(jstr(m, "name"), "tiny-fs") == 0) {
                seen++;
                ASSERT_EQ(5, (int)jnum(jget(m, "shortlist"), "common"));
                ASSERT_EQ(2, (int)jnum(jget(m, "shortlist"), "per_word"));
            }
        }
        ASSERT_EQ(2, seen);
    }
    resp_free(&r);
    if (GET_OK(&tr_d, "/readyz", &r))
        ASSERT_EQ(4, (int)jnum(r.json, "models"));
    resp_free(&r);
}

static void translate_bounds_are_400s_naming_the_field(void)
{
    if (start_translate_daemon() != 0)
        return;
    const char *bad = "invalid_argument";
    EXPECT_ERROR(&tr_d, "/translate", "{}", 400, bad, "text", "required");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"\"}", 400, bad, "text", "no word");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"   \"}", 400, bad, "text", "no word");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":5}", 400, bad, "text", NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"a\",\"texts\":[\"b\"]}", 400, bad, "texts",
                 "not both");
    EXPECT_ERROR(&tr_d, "/translate", "{\"texts\":\"a\"}", 400, bad, "texts", "array");
    EXPECT_ERROR(&tr_d, "/translate", "{\"texts\":[]}", 400, bad, "texts", "1 to 3");
    EXPECT_ERROR(&tr_d, "/translate", "{\"texts\":[\"a\",\"b\",\"c\",\"d\"]}", 400, bad, "texts",
                 "1 to 3");
    EXPECT_ERROR(&tr_d, "/translate", "{\"texts\":[\"i am\",7]}", 400, bad, "texts[1]", NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"texts\":[\"i am\",\"i am cold . you are cold\"]}", 400,
                 bad, "texts[1]", "7 words; the limit is 6");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"beam_size\":0}", 400, bad, "beam_size",
                 NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"beam_size\":17}", 400, bad, "beam_size",
                 NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"beam_size\":2,\"n_best\":3}", 400, bad,
                 "n_best", "must not exceed");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"max_length\":13}", 400, bad, "max_length",
                 NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"length_penalty\":-1}", 400, bad,
                 "length_penalty", NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"attention\":\"yes\"}", 400, bad,
                 "attention", NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"model\":\"tiny-lm\"}", 400, bad, "model",
                 "not a translator");
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":\"i\",\"model\":\"nope\"}", 404, "not_found",
                 "model", NULL);
    EXPECT_ERROR_RAW(&tr_d, "POST", "/translate", "{\"text\":\"caf\xc3\"}", 13, 400, "invalid_json",
                     NULL, NULL);
    EXPECT_ERROR(&tr_d, "/translate", "[1]", 400, bad, NULL, NULL);
    EXPECT_ERROR(&tr_d, "/translate", "{\"text\":", 400, "invalid_json", NULL, NULL);
    EXPECT_ERROR_RAW(&tr_d, "GET", "/translate", "", 0, 405, "method_not_allowed", NULL, NULL);
}

/* The weights a reply may hold: n_best × max_length × source tokens (<eos>
 * included), summed over the sentences: 2 × 12 × (5 + 4 + 6) = 360 here,
 * over --max-attention 200, with attention or replace_unknown; 180 with
 * max_length 6 is answered in full. */
static void attention_is_bounded_by_max_attention(void)
{
    if (start_translate_daemon() != 0)
        return;
    const char *bad = "invalid_argument";
    EXPECT_ERROR(&tr_d, "/translate",
                 "{\"texts\":[\"I am cold.\",\"you are cold\",\"Cold, I am!\"],\"beam_size\":2,"
                 "\"n_best\":2,\"attention\":true}",
                 400, bad, "attention", "up to 360 attention weights");
    EXPECT_ERROR(&tr_d, "/translate",
                 "{\"texts\":[\"I am cold.\",\"you are cold\",\"Cold, I am!\"],\"beam_size\":2,"
                 "\"n_best\":2,\"replace_unknown\":true}",
                 400, bad, "replace_unknown", "the limit is 200");
    resp r = {0};
    if (POST_OK(&tr_d, "/translate",
                "{\"texts\":[\"I am cold.\",\"you are cold\",\"Cold, I am!\"],\"beam_size\":2,"
                "\"n_best\":2,\"max_length\":6,\"attention\":true}",
                &r)) {
        const cJSON *results = jget(r.json, "results");
        ASSERT_EQ(3, cJSON_GetArraySize(results));
        for (int i = 0; i < cJSON_GetArraySize(results); i++) {
            const cJSON *res = cJSON_GetArrayItem(results, i);
            int n_src = cJSON_GetArraySize(jget(res, "source_tokens"));
            const cJSON *hyps = jget(res, "translations");
            ASSERT_EQ(2, cJSON_GetArraySize(hyps));
            for (int h = 0; h < cJSON_GetArraySize(hyps); h++) {
                const cJSON *rows = jget(cJSON_GetArrayItem(hyps, h), "attention");
                ASSERT_TRUE(cJSON_IsArray(rows) && cJSON_GetArraySize(rows) >= 1 &&
                            cJSON_GetArraySize(rows) <= 6);
                ASSERT_EQ(n_src, cJSON_GetArraySize(cJSON_GetArrayItem(rows, 0)));
            }
        }
    }
    resp_free(&r);
    /* without attention or replace_unknown there is nothing to bound */
    if (POST_OK(&tr_d, "/translate",
                "{\"texts\":[\"I am cold.\",\"you are cold\",\"Cold, I am!\"],\"beam_size\":2,"
                "\"n_best\":2}",
                &r))
        ASSERT_EQ(3, cJSON_GetArraySize(jget(r.json, "results")));
    resp_free(&r);
}

static void stop_translate_daemon(void)
{
    if (tr_d.pid > 0)
        ASSERT_EQ(0, daemon_stop(&tr_d));
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(a_translation_equals_the_library, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_shortlist_is_searched_unless_turned_off, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_batch_answers_as_its_sentences_one_by_one, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(translators_are_listed_and_counted, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(translate_bounds_are_400s_naming_the_field, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(attention_is_bounded_by_max_attention, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(stop_translate_daemon, HTTP_OWN_DAEMON),
};

HTTP_MAIN(scenarios)
