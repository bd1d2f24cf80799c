/*
 * test_textlm.c — a textlm's truncated BPTT against PyTorch.
 *
 * tests/parity/make_textlm_golden.py wrote, for rnn, lstm and gru, a
 * 2-layer textlm and three consecutive windows of B streams read the way
 * `rnntrain textlm` reads them: each window starts from the previous one's
 * final state, detached (zeros before the first).  For each window this
 * test runs rs_forward with that state as rs_batch h0/c0 and rs_backward,
 * and compares the loss, every gradient (that window's alone: nothing flows
 * into the carried state) and the final state rs_workspace_final_state
 * hands to the next window.  The second and third windows are where a
 * state that was not carried, or a gradient that leaked into it, shows.
 *
 * textlm_word_lstm is a word-level textlm (metadata tokenizer "word", a
 * vocabulary of words and punctuation with <unk>, and its unigram counts).
 * Besides the above, each window's logits are compared, and a prompt: the
 * model must load through the word path, rs_model_encode_words (and
 * rs_model_encode) must give the ids the script's Python copy of the word
 * tokenizer gave, with as many words read as <unk>, and feeding those ids
 * one by one from a zero state to rs_infer_step (as a served textlm reads
 * its prompt), with and without the input tables, must give PyTorch's
 * logits after each.
 *
 * Tolerance: |got − want| <= 1e-4 · max(|got|, |want|) + 1e-6.
 * Usage: test_textlm [golden-dir]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"
#include "rnnserve/nn.h"
#include "rnnserve/safetensors.h"

static int close_enough(double got, double want)
{
    return fabs(got - want) <= 1e-4 * fmax(fabs(got), fabs(want)) + 1e-6;
}

/* Compares n values; one check, a failure naming the first bad index. */
static void compare(const char *label, const char *what, const float *got, const float *want,
                    size_t n)
{
    test_checks_++;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        if (!close_enough(got[i], want[i])) {
            TEST_FAIL_("%s: %s[%zu]: got %.9g, PyTorch %.9g", label, what, i, got[i], want[i]);
            return;
        }
    }
    printf("    %-40s n %5zu  max abs %.2e  ok\n", what, n, worst);
}

static const rs_st_tensor *need(const rs_st_file *f, const char *label, const char *name,
                                size_t numel)
{
    const rs_st_tensor *t = rs_st_find(f, name);
    if (!t || t->numel != numel) {
        TEST_FAIL_("%s: expectation '%s' missing or of the wrong size", label, name);
        return NULL;
    }
    return t;
}

#define MAX_PROMPT 256 /* tokens */

/* The word case's prompt: its encoding, then PyTorch's logits after each
 * of its tokens, through the one-sequence inference path. */
static void check_prompt(const rs_model *m, const rs_st_file *ex, const char *label)
{
    const rs_config *cfg = rs_model_config(m);
    const char *prompt = rs_st_metadata(ex, "prompt"), *unk = rs_st_metadata(ex, "prompt_unknown");
    const rs_st_tensor *t = rs_st_find(ex, "prompt.ids");
    test_checks_++;
    if (!prompt || !unk || !t || t->dtype != RS_DTYPE_I32 || t->numel == 0 ||
        t->numel > MAX_PROMPT) {
        TEST_FAIL_("%s: expectation lacks the prompt, prompt_unknown or prompt.ids (1..%d ids)",
                   label, MAX_PROMPT);
        return;
    }
    int n = (int)t->numel, V = cfg->vocab_size;
    int32_t *want_ids = malloc((size_t)n * sizeof *want_ids), ids[MAX_PROMPT];
    float *want = malloc((size_t)n * V * sizeof *want);
    ASSERT_TRUE(want_ids && want);
    if (!want_ids || !want)
        goto done;
    rs_st_copy(t, want_ids);
    for (int i = 0; i < n; i++) {
        test_checks_++;
        if (want_ids[i] < 0 || want_ids[i] >= V) {
            TEST_FAIL_("%s: prompt.ids[%d] = %d is not an id of the model", label, i, want_ids[i]);
            goto done;
        }
    }
    const rs_st_tensor *lt = need(ex, label, "prompt.logits", (size_t)n * V);
    if (!lt)
        goto done;
    rs_st_copy(lt, want);

    ASSERT_TRUE(rs_model_is_word(m));
    char unknown[256];
    int n_unknown = -1;
    int got = rs_model_encode_words(m, prompt, strlen(prompt), ids, MAX_PROMPT, unknown,
                                    sizeof unknown, &n_unknown);
    ASSERT_EQ(n, got);
    ASSERT_EQ(atoi(unk), n_unknown);
    test_checks_++;
    if (got == n && memcmp(ids, want_ids, (size_t)n * sizeof *ids) != 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] != want_ids[i]) {
                TEST_FAIL_("%s: prompt token %d is id %d \"%s\", Python made id %d \"%s\"", label,
                           i, ids[i], rs_model_token(m, ids[i]), want_ids[i],
                           rs_model_token(m, want_ids[i]));
                break;
            }
    }
    /* rs_model_encode reads a word model the same way */
    int32_t again[MAX_PROMPT];
    got = rs_model_encode(m, prompt, strlen(prompt), again, MAX_PROMPT, unknown, sizeof unknown);
    ASSERT_EQ(n, got);
    ASSERT_TRUE(got == n && memcmp(again, want_ids, (size_t)n * sizeof *again) == 0);
    printf("    prompt: %d tokens, %d read as <unk>\n", n, n_unknown);

    float *got_logits = malloc((size_t)n * V * sizeof *got_logits);
    ASSERT_TRUE(got_logits);
    for (int tables = 0; got_logits && tables <= 1; tables++) {
        rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), tables);
        rs_infer *inf = im ? rs_infer_create(im, n) : NULL;
        test_checks_++;
        if (!inf) {
            TEST_FAIL_("%s: rs_infer_model_create or rs_infer_create failed", label);
            rs_infer_model_destroy(im);
            continue;
        }
        rs_infer_reset(inf, -1);
        for (int i = 0; i < n; i++)
            memcpy(got_logits + (size_t)i * V, rs_infer_step(inf, want_ids[i]),
                   (size_t)V * sizeof *got_logits);
        compare(label,
                tables ? "prompt logits, rs_infer_step, tables" : "prompt logits, rs_infer_step",
                got_logits, want, (size_t)n * V);
        rs_infer_destroy(inf);
        rs_infer_model_destroy(im);
    }
    free(got_logits);
done:
    free(want_ids);
    free(want);
}

/* One case: golden/<stem>.{model,expect}.safetensors.  word: the word case,
 * whose expectation also has each window's logits and a prompt. */
static void run_case(const char *dir, const char *stem, int word)
{
    char path[512], label[64];
    snprintf(label, sizeof label, "%s", stem);
    printf("%s\n", label);
    snprintf(path, sizeof path, "%s/%s.model.safetensors", dir, stem);
    rs_model *m = NULL;
    char err[512];
    test_checks_++;
    if (rs_model_open(path, &m, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    snprintf(path, sizeof path, "%s/%s.expect.safetensors", dir, stem);
    rs_st_file *ex = NULL;
    test_checks_++;
    if (rs_st_open(path, &ex, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        rs_model_close(m);
        return;
    }
    const rs_config *cfg = rs_model_config(m);
    ASSERT_TRUE(cfg->task == RS_TASK_TEXTLM);
    ASSERT_EQ(word, rs_model_is_word(m));
    int windows = atoi(rs_st_metadata(ex, "windows")), B = atoi(rs_st_metadata(ex, "B")),
        T = atoi(rs_st_metadata(ex, "T"));
    int L = cfg->num_layers, H = cfg->hidden_size, V = cfg->vocab_size,
        lstm = cfg->cell == RS_CELL_LSTM;
    size_t n_params = rs_param_count(cfg), state = (size_t)L * B * H;
    rs_workspace *ws = rs_workspace_create(cfg, B, T);
    float *grad = calloc(n_params, sizeof *grad), *h = calloc(state, sizeof *h),
          *c = calloc(state, sizeof *c), *want = malloc(n_params * sizeof *want);
    int32_t *tokens = malloc((size_t)B * T * sizeof *tokens),
            *targets = malloc((size_t)B * T * sizeof *targets),
            *lengths = malloc(B * sizeof *lengths);
    ASSERT_TRUE(ws && grad && h && c && want && tokens && targets && lengths);
    rs_params g;
    rs_params_bind(cfg, grad, &g);
    for (int b = 0; b < B; b++)
        lengths[b] = T;
    for (int w = 0; w < windows && ws; w++) {
        char name[128], what[128];
        const rs_st_tensor *t;
        snprintf(name, sizeof name, "window%d.tokens", w);
        if (!(t = need(ex, label, name, (size_t)B * T)))
            break;
        rs_st_copy(t, tokens);
        snprintf(name, sizeof name, "window%d.targets", w);
        if (!(t = need(ex, label, name, (size_t)B * T)))
            break;
        rs_st_copy(t, targets);
        rs_batch batch = {.B = B,
                          .T = T,
                          .tokens = tokens,
                          .lengths = lengths,
                          .targets = targets,
                          .h0 = w ? h : NULL, /* the first window: zeros, as PyTorch's None */
                          .c0 = w && lstm ? c : NULL};
        memset(grad, 0, n_params * sizeof *grad);
        float loss = (float)rs_forward(ws, rs_model_params(m), &batch, NULL);
        if (word) { /* logits, (T, B, V) here and (B, T, V) in the file */
            snprintf(name, sizeof name, "window%d.logits", w);
            if ((t = need(ex, label, name, (size_t)B * T * V))) {
                float *want_logits = malloc((size_t)B * T * V * sizeof *want_logits),
                      *got_logits = malloc((size_t)B * T * V * sizeof *got_logits);
                ASSERT_TRUE(want_logits && got_logits);
                if (want_logits && got_logits) {
                    rs_st_copy(t, want_logits);
                    const rs_real *z = rs_workspace_logits(ws);
                    for (int b = 0; b < B; b++)
                        for (int s = 0; s < T; s++)
                            for (int k = 0; k < V; k++)
                                got_logits[((size_t)b * T + s) * V + k] =
                                    (float)z[((size_t)s * B + b) * V + k];
                    snprintf(what, sizeof what, "window %d logits", w);
                    compare(label, what, got_logits, want_logits, (size_t)B * T * V);
                }
                free(want_logits);
                free(got_logits);
            }
        }
        rs_backward(ws, rs_model_params(m), &g, &batch);
        rs_workspace_final_state(ws, h, lstm ? c : NULL);

        snprintf(name, sizeof name, "window%d.loss", w);
        float want_loss;
        if (!(t = need(ex, label, name, 1)))
            break;
        rs_st_copy(t, &want_loss);
        snprintf(what, sizeof what, "window %d loss", w);
        compare(label, what, &loss, &want_loss, 1);
        for (int i = 0; i < rs_tensor_count(cfg); i++) {
            rs_tensor_desc d;
            rs_tensor_describe(cfg, i, &d);
            snprintf(name, sizeof name, "window%d.grad.%s", w, d.name);
            if (!(t = need(ex, label, name, d.numel)))
                continue;
            rs_st_copy(t, want);
            snprintf(what, sizeof what, "window %d grad %s", w, d.name);
            compare(label, what, *rs_params_slot(cfg, &g, i), want, d.numel);
        }
        snprintf(name, sizeof name, "window%d.h_n", w);
        if ((t = need(ex, label, name, state))) {
            rs_st_copy(t, want);
            snprintf(what, sizeof what, "window %d final h", w);
            compare(label, what, h, want, state);
        }
        if (lstm) {
            snprintf(name, sizeof name, "window%d.c_n", w);
            if ((t = need(ex, label, name, state))) {
                rs_st_copy(t, want);
                snprintf(what, sizeof what, "window %d final c", w);
                compare(label, what, c, want, state);
            }
        }
    }
    if (word)
        check_prompt(m, ex, label);
    rs_workspace_destroy(ws);
    free(grad);
    free(h);
    free(c);
    free(want);
    free(tokens);
    free(targets);
    free(lengths);
    rs_st_close(ex);
    rs_model_close(m);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/parity/golden";
    run_case(dir, "textlm_rnn", 0);
    run_case(dir, "textlm_lstm", 0);
    run_case(dir, "textlm_gru", 0);
    run_case(dir, "textlm_word_lstm", 1);
    TEST_MAIN_END();
}
