/*
 * test_http_textlm.c — /generate and /score on a textlm (DESIGN.md: a
 * model of one running text, continued from a prompt), and acrostic poems.
 * Its own daemon on a folder of the golden 2-layer LSTM textlm
 * ("tiny-text": vocabulary "abcdefghi", no line break), an item generator
 * ("tiny-lm") and a poem generator with random weights written here
 * ("tiny-poem": 春夏秋冬花月风雨 and the line breaks ，。).
 *
 * Expected answers are computed here with the library, one step at a time
 * (rs_infer): greedy continuations with and without llama.cpp's repetition
 * penalty, where a stop sequence cuts the text, and the log-likelihood of a
 * text after its first character; /score is also compared with `rnntrain
 * eval` on the same text.  Streams add up to the plain reply, and the
 * bounds of max_tokens, stop, prompt and repetition_penalty are 400s
 * naming the field.  Arguments and HTTP_ONLY: harness.h.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../test.h"
#include "harness.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"

static daemon_proc text_d;
static char text_dir[256];

/* A GRU item generator over eight CJK characters and ，。 with random
 * weights, written by the library's own writer. */
static int write_poem_model(void)
{
    const char *vocab[13] = {"<pad>", "<bos>", "<eos>", "春", "夏", "秋", "冬",
                             "花",    "月",    "风",    "雨", "，", "。"};
    rs_config cfg = {.task = RS_TASK_GENERATOR,
                     .cell = RS_CELL_GRU,
                     .num_layers = 1,
                     .hidden_size = 8,
                     .embedding_dim = 4,
                     .vocab_size = 13,
                     .n_outputs = 13};
    float *flat = calloc(rs_param_count(&cfg), sizeof *flat);
    rs_params p;
    rs_params_bind(&cfg, flat, &p);
    rs_rng rng;
    rs_rng_seed(&rng, 7);
    rs_params_init(&cfg, &p, &rng);
    rs_model_spec spec = {cfg, vocab, NULL, NULL, RS_NORMALIZE_NONE, "{}", NULL, 0};
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/tiny-poem.safetensors", text_dir);
    int rc = rs_model_write(path, &spec, &p, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("cannot write the poem model: %s", err);
    free(flat);
    return rc;
}

/* A word-level LSTM textlm with random weights: English words, punctuation,
 * a line break, Chinese words (我 爱 北京 天安门) and <unk>, with counts
 * that make 北京 and 天安门 the dictionary's words. */
static int write_word_model(void)
{
    const char *vocab[16] = {"<pad>", "<bos>", "<eos>", "<unk>", "the",  "king",   "queen", ",",
                             ".",     "\n",    "我",    "爱",    "北京", "天安门", "北",    "京"};
    double unigram[16] = {0, 0, 0, 0, 5, 3, 3, 4, 4, 4, 3, 3, 3, 2, 0.5, 0.5};
    rs_config cfg = {.task = RS_TASK_TEXTLM,
                     .cell = RS_CELL_LSTM,
                     .num_layers = 1,
                     .hidden_size = 8,
                     .embedding_dim = 4,
                     .vocab_size = 16,
                     .n_outputs = 16};
    float *flat = calloc(rs_param_count(&cfg), sizeof *flat);
    rs_params p;
    rs_params_bind(&cfg, flat, &p);
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    rs_params_init(&cfg, &p, &rng);
    rs_model_spec spec = {cfg, vocab, NULL, NULL, RS_NORMALIZE_NONE, "{}", unigram, 0};
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/tiny-words.safetensors", text_dir);
    int rc = rs_model_write(path, &spec, &p, err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("cannot write the word model: %s", err);
    free(flat);
    return rc;
}

static int start_text_daemon(void)
{
    if (text_d.pid > 0)
        return 0;
    snprintf(text_dir, sizeof text_dir, "%s/textlm", tmp_root);
    mkdir(text_dir, 0755);
    char src[512];
    snprintf(src, sizeof src, "%s/textlm_lstm.model.safetensors", golden_dir);
    if (install_file(src, text_dir, "tiny-text.safetensors", 0) != 0)
        return -1;
    snprintf(src, sizeof src, "%s/gru_generator_l2.model.safetensors", golden_dir);
    if (install_file(src, text_dir, "tiny-lm.safetensors", 0) != 0)
        return -1;
    if (write_poem_model() != 0 || write_word_model() != 0)
        return -1;
    const char *flags[] = {"--max-prompt", "16", "--max-tokens", "100", NULL};
    int exited = 0;
    int rc = daemon_start(&text_d, text_dir, flags, NULL, &exited);
    ASSERT_TRUE(rc == 0);
    if (rc == 0)
        ASSERT_TRUE(wait_for(readyz_is, &text_d, 200, 10));
    return rc;
}

/* The model's ids of a text over "abcdefghi" (special ids 0..2 first). */
static int ids_of(const rs_model *m, const char *text, int32_t *ids)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        ids[n++] = rs_model_token_id(m, p, 1);
    return n;
}

/* Greedy continuation of prompt for n tokens under penalty (1 = none),
 * one step at a time, as DESIGN.md defines it: from zero state the prompt
 * is read, then the argmax of every token but <pad> <bos> <eos>, after
 * llama.cpp's penalty over the last 64 tokens, prompt included. */
static void greedy(const rs_model *m, const char *prompt, int n, float penalty, char *out)
{
    const rs_config *cfg = rs_model_config(m);
    rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    rs_infer *inf = im ? rs_infer_create(im, 4096) : NULL;
    int32_t seq[4096];
    int len = ids_of(m, prompt, seq);
    const float *logits = NULL;
    rs_infer_reset(inf, -1);
    for (int i = 0; i < len; i++)
        logits = rs_infer_step(inf, seq[i]);
    int V = cfg->vocab_size;
    for (int k = 0; k < n; k++) {
        float z[64];
        for (int v = 0; v < V; v++)
            z[v] = logits[v];
        if (penalty != 1.0f) {
            int seen[64] = {0};
            for (int i = len > 64 ? len - 64 : 0; i < len; i++)
                if (!seen[seq[i]]++)
                    z[seq[i]] = z[seq[i]] > 0 ? z[seq[i]] / penalty : z[seq[i]] * penalty;
        }
        int best = -1;
        for (int v = 3; v < V; v++) /* 0..2: <pad> <bos> <eos> */
            if (best < 0 || z[v] > z[best])
                best = v;
        seq[len++] = best;
        out[k] = rs_model_token(m, best)[0];
        logits = rs_infer_step(inf, best);
    }
    out[n] = '\0';
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
}

/* Σ log p(text[i] | text[..i]) for i >= 1, state from zeros. */
/* ln p of each token after the first (at most cap), by the library; their
 * number. */
static int text_token_log_probs(const rs_model *m, const char *text, double *terms, int cap)
{
    const rs_config *cfg = rs_model_config(m);
    rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    rs_infer *inf = im ? rs_infer_create(im, 4096) : NULL;
    int32_t ids[256];
    int n = ids_of(m, text, ids), k = 0;
    rs_infer_reset(inf, -1);
    for (int i = 0; i + 1 < n && k < cap; i++)
        terms[k++] = rs_log_softmax_at(rs_infer_step(inf, ids[i]), cfg->vocab_size, ids[i + 1]);
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
    return k;
}

static double text_log_prob(const rs_model *m, const char *text)
{
    const rs_config *cfg = rs_model_config(m);
    rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    rs_infer *inf = im ? rs_infer_create(im, 4096) : NULL;
    int32_t ids[256];
    int n = ids_of(m, text, ids);
    rs_infer_reset(inf, -1);
    double lp = 0;
    for (int i = 0; i + 1 < n; i++)
        lp += rs_log_softmax_at(rs_infer_step(inf, ids[i]), cfg->vocab_size, ids[i + 1]);
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
    return lp;
}

static rs_model *open_text_model(void)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/textlm_lstm.model.safetensors", golden_dir);
    rs_model *m = NULL;
    if (rs_model_open(path, &m, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return NULL;
    }
    return m;
}

static void greedy_continuation_and_penalty_match_the_library(void)
{
    rs_model *m = open_text_model();
    if (!m || start_text_daemon() != 0)
        return;
    char want[64], want_pen[64];
    greedy(m, "abcab", 30, 1.0f, want);
    greedy(m, "abcab", 30, 1.3f, want_pen);
    ASSERT_TRUE(strcmp(want, want_pen) != 0); /* else the penalty check below proves nothing */
    resp r;
    if (POST_OK(
            &text_d, "/generate",
            "{\"model\":\"tiny-text\",\"prompt\":\"abcab\",\"max_tokens\":30,\"temperature\":0}",
            &r)) {
        const cJSON *s = cJSON_GetArrayItem(jget(r.json, "samples"), 0);
        ASSERT_STREQ(want, jstr(s, "text")); /* the continuation, without the prompt */
        ASSERT_STREQ("length", jstr(s, "finish_reason"));
        ASSERT_EQ(30, jnum(s, "tokens"));
        ASSERT_TRUE(jget(s, "finished") == NULL);
        /* log_prob is the continuation's: /score of prompt+text minus the prompt's */
        char full[96];
        snprintf(full, sizeof full, "abcab%s", want);
        double expect = text_log_prob(m, full) - text_log_prob(m, "abcab");
        ASSERT_TRUE(fabs(jnum(s, "log_prob") - expect) < 1e-3 * fabs(expect) + 1e-4);
    }
    resp_free(&r);
    if (POST_OK(&text_d, "/generate",
                "{\"model\":\"tiny-text\",\"prompt\":\"abcab\",\"max_tokens\":30,\"temperature\":0,"
                "\"repetition_penalty\":1.3}",
                &r)) {
        const cJSON *s = cJSON_GetArrayItem(jget(r.json, "samples"), 0);
        ASSERT_STREQ(want_pen, jstr(s, "text"));
    }
    resp_free(&r);
    /* the default is 200 tokens, or --max-tokens (100 here) if lower */
    if (POST_OK(&text_d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"seed\":3}", &r))
        ASSERT_EQ(100, jnum(cJSON_GetArrayItem(jget(r.json, "samples"), 0), "tokens"));
    resp_free(&r);
    rs_model_close(m);
}

static void a_stop_sequence_ends_the_text_before_it(void)
{
    rs_model *m = open_text_model();
    if (!m || start_text_daemon() != 0)
        return;
    char want[64];
    greedy(m, "abcab", 30, 1.0f, want);
    /* stop at the three characters the greedy text has at 6..8 (the first
     * occurrence of them decides where it ends) */
    char stop[4] = {want[6], want[7], want[8], 0};
    const char *at = strstr(want, stop);
    int cut = (int)(at - want);
    char body[256], expect_text[64];
    snprintf(expect_text, sizeof expect_text, "%.*s", cut, want);
    snprintf(body, sizeof body,
             "{\"model\":\"tiny-text\",\"prompt\":\"abcab\",\"max_tokens\":30,\"temperature\":0,"
             "\"stop\":[\"zz\",\"%s\"]}",
             stop);
    resp r;
    if (POST_OK(&text_d, "/generate", body, &r)) {
        const cJSON *s = cJSON_GetArrayItem(jget(r.json, "samples"), 0);
        ASSERT_STREQ(expect_text, jstr(s, "text"));
        ASSERT_STREQ("stop", jstr(s, "finish_reason"));
    }
    resp_free(&r);
    /* streamed: the same text, no part of the stop sequence ever sent */
    snprintf(body, sizeof body,
             "{\"model\":\"tiny-text\",\"prompt\":\"abcab\",\"max_tokens\":30,\"temperature\":0,"
             "\"stop\":\"%s\",\"stream\":true}",
             stop);
    if (request(&text_d, "POST", "/generate", body, &r) == CURLE_OK && r.status == 200) {
        char text[128] = "";
        const char *last = NULL;
        for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
            if (strncmp(line, "data: ", 6) != 0)
                continue;
            cJSON *ev = cJSON_Parse(line + 6);
            const char *t = jstr(ev, "text");
            if (t)
                strncat(text, t, sizeof text - strlen(text) - 1);
            if (jget(ev, "done") && jstr(ev, "finish_reason"))
                last = strcmp(jstr(ev, "finish_reason"), "stop") == 0 ? "stop" : "other";
            cJSON_Delete(ev);
        }
        ASSERT_STREQ(expect_text, text);
        ASSERT_STREQ("stop", last);
    } else {
        TEST_FAIL_("streamed /generate: status %ld", r.status);
    }
    resp_free(&r);
    rs_model_close(m);
}

static void score_of_a_textlm_is_every_character_after_the_first(void)
{
    rs_model *m = open_text_model();
    if (!m || start_text_daemon() != 0)
        return;
    const char *text = "abcdefghihgfed";
    resp r;
    if (POST_OK(&text_d, "/score", "{\"model\":\"tiny-text\",\"text\":\"abcdefghihgfed\"}", &r)) {
        double want = text_log_prob(m, text);
        ASSERT_EQ(13, jnum(r.json, "tokens"));
        ASSERT_TRUE(fabs(jnum(r.json, "log_prob") - want) < 1e-4 * fabs(want) + 1e-4);
        if (rnntrain_path) { /* rnntrain eval reads the text as a file */
            char data[512], out[4096];
            snprintf(data, sizeof data, "%s/score.txt", text_dir);
            write_bytes(data, text, strlen(text));
            char model[512];
            snprintf(model, sizeof model, "%s/tiny-text.safetensors", text_dir);
            const char *argv[] = {rnntrain_path, "eval", "--model", model,
                                  "--data",      data,   "--json",  NULL};
            ASSERT_EQ(0, run_command(argv, NULL, out, sizeof out));
            cJSON *j = cJSON_Parse(strchr(out, '{') ? strchr(out, '{') : out);
            ASSERT_TRUE(fabs(jnum(j, "nll_per_token") - jnum(r.json, "nll_per_token")) < 1e-5);
            cJSON_Delete(j);
        }
    }
    resp_free(&r);
    /* "per_token": each character after the first, its ln p as the library
     * steps it, adding up to log_prob */
    if (POST_OK(&text_d, "/score",
                "{\"model\":\"tiny-text\",\"text\":\"abcdefghihgfed\",\"per_token\":true}", &r)) {
        double want[64];
        int n = text_token_log_probs(m, text, want, 64);
        const cJSON *lps = jget(r.json, "token_log_probs"), *texts = jget(r.json, "token_texts");
        ASSERT_EQ(13, n);
        ASSERT_EQ(13, cJSON_GetArraySize(lps));
        ASSERT_EQ(13, cJSON_GetArraySize(texts));
        double sum = 0;
        for (int i = 0; i < n && i < cJSON_GetArraySize(lps); i++) {
            double got = cJSON_GetArrayItem(lps, i)->valuedouble;
            sum += got;
            ASSERT_TRUE(fabs(got - want[i]) < 1e-4 * fabs(want[i]) + 1e-5);
            char one[2] = {text[i + 1], '\0'};
            ASSERT_STREQ(one, cJSON_GetArrayItem(texts, i)->valuestring);
        }
        double lp = jnum(r.json, "log_prob");
        ASSERT_NEAR(lp, sum, 1e-6 * (fabs(lp) + 13));
    }
    resp_free(&r);
    rs_model_close(m);
}

static void textlm_fields_out_of_bounds_are_400s(void)
{
    if (start_text_daemon() != 0)
        return;
    daemon_proc *d = &text_d;
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"ab\",\"max_tokens\":0}",
                 400, "invalid_argument", "max_tokens", "from 1 to 100");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"ab\",\"max_tokens\":101}",
                 400, "invalid_argument", "max_tokens", "from 1 to 100");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"ab\",\"max_length\":10}",
                 400, "invalid_argument", "max_length", "max_tokens");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prefix\":\"ab\"}", 400,
                 "invalid_argument", "prefix", "prompt");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-lm\",\"prompt\":\"ab\"}", 400,
                 "invalid_argument", "prompt", "prefix");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"abcdefghiabcdefgh\"}", 400,
                 "invalid_argument", "prompt", "longer than 16");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"abz\"}", 422,
                 "unprocessable", "prompt", "\"z\"");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\"}", 400, "invalid_argument", "prompt",
                 "needs a prompt");
    EXPECT_ERROR(
        d, "/generate",
        "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400,
        "invalid_argument", "stop", "at most 4");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"stop\":[\"\"]}", 400,
                 "invalid_argument", "stop", "1 to 64");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"stop\":[3]}", 400,
                 "invalid_argument", "stop", "not a string");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"stop\":{}}", 400,
                 "invalid_argument", "stop", NULL);
    EXPECT_ERROR(d, "/generate",
                 "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"repetition_penalty\":0}", 400,
                 "invalid_argument", "repetition_penalty", NULL);
    EXPECT_ERROR(d, "/generate",
                 "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"repetition_penalty\":11}", 400,
                 "invalid_argument", "repetition_penalty", NULL);
    EXPECT_ERROR(d, "/score", "{\"model\":\"tiny-text\",\"text\":\"a\"}", 400, "invalid_argument",
                 "text", "at least two");
    EXPECT_ERROR(d, "/score", "{\"model\":\"tiny-text\",\"text\":\"abcdefghiabcdefgh\"}", 400,
                 "invalid_argument", "text", "longer than 16");
    /* a stop the model cannot spell can never occur: accepted, never stops */
    resp r;
    if (POST_OK(d, "/generate",
                "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"max_tokens\":5,\"stop\":[\"xyz\"],"
                "\"seed\":1}",
                &r))
        ASSERT_STREQ("length",
                     jstr(cJSON_GetArrayItem(jget(r.json, "samples"), 0), "finish_reason"));
    resp_free(&r);
}

/* A seed gives the same continuations from `rnntrain sample` as from the
 * daemon (one decoding, rs_decode, for both). */
static void seeded_samples_equal_rnntrain_sample(void)
{
    if (!rnntrain_path || start_text_daemon() != 0)
        return;
    resp r;
    if (!POST_OK(&text_d, "/generate",
                 "{\"model\":\"tiny-text\",\"prompt\":\"cab\",\"n\":3,\"max_tokens\":25,"
                 "\"seed\":11,\"temperature\":0.9,\"top_k\":6,\"repetition_penalty\":1.1}",
                 &r)) {
        resp_free(&r);
        return;
    }
    char model[512], out[16384];
    snprintf(model, sizeof model, "%s/tiny-text.safetensors", text_dir);
    const char *argv[] = {
        rnntrain_path,          "sample", "--model", model, "--prompt",      "cab", "-n",      "3",
        "--max-tokens",         "25",     "--seed",  "11",  "--temperature", "0.9", "--top-k", "6",
        "--repetition-penalty", "1.1",    "--json",  NULL};
    ASSERT_EQ(0, run_command(argv, NULL, out, sizeof out));
    cJSON *cli = cJSON_Parse(strchr(out, '{') ? strchr(out, '{') : out);
    const cJSON *a = jget(r.json, "samples"), *b = jget(cli, "samples");
    ASSERT_EQ(3, cJSON_GetArraySize(a));
    ASSERT_EQ(3, cJSON_GetArraySize(b));
    for (int i = 0; i < 3 && i < cJSON_GetArraySize(b); i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        ASSERT_STREQ(jstr(y, "text"), jstr(x, "text"));
        ASSERT_TRUE(fabs(jnum(x, "log_prob") - jnum(y, "log_prob")) < 1e-4);
    }
    cJSON_Delete(cli);
    resp_free(&r);
}

/* Splits a poem at ，and 。 into its lines (the breaks kept at their ends). */
static int poem_lines(const char *text, char lines[][128], int cap)
{
    int n = 0;
    const char *start = text;
    for (const char *p = text; *p && n < cap;) {
        int is_break = strncmp(p, "，", 3) == 0 || strncmp(p, "。", 3) == 0;
        p += (*p & 0x80) ? 3 : 1;
        if (is_break) {
            snprintf(lines[n++], 128, "%.*s", (int)(p - start), start);
            start = p;
        }
    }
    if (*start && n < cap)
        snprintf(lines[n++], 128, "%s", start);
    return n;
}

static void an_acrostic_starts_each_line_with_its_characters(void)
{
    if (start_text_daemon() != 0)
        return;
    const char *starts[4] = {"春", "夏", "秋", "冬"};
    resp r;
    if (POST_OK(&text_d, "/generate",
                "{\"model\":\"tiny-poem\",\"acrostic\":\"春夏秋冬\",\"n\":8,\"seed\":5}", &r)) {
        const cJSON *samples = jget(r.json, "samples");
        int complete = 0;
        for (int i = 0; i < cJSON_GetArraySize(samples); i++) {
            const cJSON *s = cJSON_GetArrayItem(samples, i);
            char lines[80][128];
            int n = poem_lines(jstr(s, "text"), lines, 80);
            for (int k = 0; k < n && k < 4; k++)
                ASSERT_TRUE(strncmp(lines[k], starts[k], 3) == 0);
            if (strcmp(jstr(s, "finish_reason"), "eos") == 0) {
                complete++;
                ASSERT_EQ(4, n); /* four lines, each ended by ，or 。 */
                const char *text = jstr(s, "text");
                size_t len = strlen(text);
                ASSERT_TRUE(len >= 3 && (strcmp(text + len - 3, "，") == 0 ||
                                         strcmp(text + len - 3, "。") == 0));
            } else {
                ASSERT_STREQ("length", jstr(s, "finish_reason"));
            }
        }
        ASSERT_TRUE(complete >= 4);
    }
    resp_free(&r);
    /* the same poems from rnntrain sample with the same seed */
    if (rnntrain_path) {
        char model[512], out[16384];
        snprintf(model, sizeof model, "%s/tiny-poem.safetensors", text_dir);
        const char *argv[] = {rnntrain_path,  "sample", "--model", model,    "--acrostic",
                              "春夏秋冬",     "-n",     "3",       "--seed", "9",
                              "--max-length", "64",     "--json",  NULL};
        ASSERT_EQ(0, run_command(argv, NULL, out, sizeof out));
        cJSON *cli = cJSON_Parse(strchr(out, '{') ? strchr(out, '{') : out);
        if (POST_OK(&text_d, "/generate",
                    "{\"model\":\"tiny-poem\",\"acrostic\":\"春夏秋冬\",\"n\":3,\"seed\":9}", &r))
            for (int i = 0; i < 3; i++)
                ASSERT_STREQ(jstr(cJSON_GetArrayItem(jget(cli, "samples"), i), "text"),
                             jstr(cJSON_GetArrayItem(jget(r.json, "samples"), i), "text"));
        resp_free(&r);
        cJSON_Delete(cli);
    }
    daemon_proc *d = &text_d;
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-poem\",\"acrostic\":\"春\",\"prefix\":\"花\"}",
                 400, "invalid_argument", "acrostic", "prefix");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-text\",\"prompt\":\"a\",\"acrostic\":\"a\"}",
                 400, "invalid_argument", "acrostic", "not a textlm");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-lm\",\"acrostic\":\"ab\"}", 400,
                 "invalid_argument", "acrostic", "no line breaks");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-poem\",\"acrostic\":\"春雪\"}", 422,
                 "unprocessable", "acrostic", "\"雪\"");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-poem\",\"acrostic\":\"春，\"}", 400,
                 "invalid_argument", "acrostic", "line break");
    EXPECT_ERROR(d, "/generate",
                 "{\"model\":\"tiny-poem\",\"acrostic\":\"春夏秋冬春夏秋冬春夏秋冬春夏秋冬春\"}",
                 400, "invalid_argument", "acrostic", "1 to 16");
    EXPECT_ERROR(d, "/generate", "{\"model\":\"tiny-poem\",\"acrostic\":\"\"}", 400,
                 "invalid_argument", "acrostic", "1 to 16");
}

/* A word model: its prompt read as words (Chinese cut by its dictionary,
 * unknown words counted as <unk>), its text written with spaces where
 * English has them. */
static void a_word_model_reads_and_writes_words(void)
{
    if (start_text_daemon() != 0)
        return;
    resp r;
    if (POST_OK(&text_d, "/generate",
                "{\"model\":\"tiny-words\",\"prompt\":\"king, the jester\",\"max_tokens\":40,"
                "\"seed\":3}",
                &r)) {
        ASSERT_EQ(1, jnum(r.json, "unknown_tokens")); /* "jester" */
        const cJSON *s = cJSON_GetArrayItem(jget(r.json, "samples"), 0);
        const char *text = jstr(s, "text");
        ASSERT_EQ(40, jnum(s, "tokens"));
        ASSERT_TRUE(text && !strstr(text, " ,") && !strstr(text, " .") && !strstr(text, "<unk>"));
        /* the continuation of an English word starts with its space */
        ASSERT_TRUE(text && (text[0] == ' ' || text[0] == ',' || text[0] == '.' ||
                             text[0] == '\n' || (text[0] & 0x80)));
    }
    resp_free(&r);
    /* Chinese without spaces: cut by the model's words (北京, not 北 京):
     * the score of the text equals the one of the text given cut */
    resp a, b;
    if (POST_OK(&text_d, "/score", "{\"model\":\"tiny-words\",\"text\":\"我爱北京天安门\"}", &a) &&
        POST_OK(&text_d, "/score", "{\"model\":\"tiny-words\",\"text\":\"我 爱 北京 天安门\"}",
                &b)) {
        ASSERT_EQ(3, jnum(a.json, "tokens")); /* 4 words, the first not predicted */
        ASSERT_TRUE(fabs(jnum(a.json, "log_prob") - jnum(b.json, "log_prob")) < 1e-9);
    }
    resp_free(&a);
    resp_free(&b);
    /* per token, a word model gives its words (with the space English puts
     * before one): the first word and them make the text */
    if (POST_OK(&text_d, "/score",
                "{\"model\":\"tiny-words\",\"text\":\"我爱北京天安门\",\"per_token\":true}", &a) &&
        POST_OK(&text_d, "/score",
                "{\"model\":\"tiny-words\",\"text\":\"the queen\",\"per_token\":true}", &b)) {
        const cJSON *texts = jget(a.json, "token_texts");
        const char *want[] = {"爱", "北京", "天安门"};
        ASSERT_EQ(3, cJSON_GetArraySize(texts));
        for (int i = 0; i < 3 && i < cJSON_GetArraySize(texts); i++)
            ASSERT_STREQ(want[i], cJSON_GetArrayItem(texts, i)->valuestring);
        ASSERT_EQ(3, cJSON_GetArraySize(jget(a.json, "token_log_probs")));
        ASSERT_STREQ(" queen", cJSON_GetArrayItem(jget(b.json, "token_texts"), 0)->valuestring);
        double lp = jnum(b.json, "log_prob");
        ASSERT_NEAR(lp, cJSON_GetArrayItem(jget(b.json, "token_log_probs"), 0)->valuedouble,
                    1e-6 * fabs(lp));
    }
    resp_free(&a);
    resp_free(&b);
    /* a stream adds up to the plain reply */
    const char *plain = "{\"model\":\"tiny-words\",\"prompt\":\"the queen\",\"max_tokens\":25,"
                        "\"seed\":8}";
    const char *streamed = "{\"model\":\"tiny-words\",\"prompt\":\"the queen\",\"max_tokens\":25,"
                           "\"seed\":8,\"stream\":true}";
    if (POST_OK(&text_d, "/generate", plain, &a) &&
        request(&text_d, "POST", "/generate", streamed, &b) == CURLE_OK && b.status == 200) {
        char text[4096] = "";
        for (char *line = strtok(b.body, "\n"); line; line = strtok(NULL, "\n"))
            if (strncmp(line, "data: ", 6) == 0) {
                cJSON *ev = cJSON_Parse(line + 6);
                if (jstr(ev, "text"))
                    strncat(text, jstr(ev, "text"), sizeof text - strlen(text) - 1);
                cJSON_Delete(ev);
            }
        ASSERT_STREQ(jstr(cJSON_GetArrayItem(jget(a.json, "samples"), 0), "text"), text);
    }
    resp_free(&a);
    resp_free(&b);
}

static void stop_text_daemon(void)
{
    if (text_d.pid > 0)
        ASSERT_EQ(0, daemon_stop(&text_d));
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(greedy_continuation_and_penalty_match_the_library, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_stop_sequence_ends_the_text_before_it, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(score_of_a_textlm_is_every_character_after_the_first, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(textlm_fields_out_of_bounds_are_400s, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(seeded_samples_equal_rnntrain_sample, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(an_acrostic_starts_each_line_with_its_characters, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(a_word_model_reads_and_writes_words, HTTP_OWN_DAEMON),
    HTTP_SCENARIO(stop_text_daemon, HTTP_OWN_DAEMON),
};

HTTP_MAIN(scenarios)
