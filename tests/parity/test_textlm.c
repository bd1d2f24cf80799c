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
 * Tolerance: |got − want| <= 1e-4 · max(|got|, |want|) + 1e-6.
 * Usage: test_textlm [golden-dir]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
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

static void run_cell(const char *dir, const char *cell)
{
    char path[512], label[64];
    snprintf(label, sizeof label, "textlm_%s", cell);
    printf("%s\n", label);
    snprintf(path, sizeof path, "%s/textlm_%s.model.safetensors", dir, cell);
    rs_model *m = NULL;
    char err[512];
    test_checks_++;
    if (rs_model_open(path, &m, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    snprintf(path, sizeof path, "%s/textlm_%s.expect.safetensors", dir, cell);
    rs_st_file *ex = NULL;
    test_checks_++;
    if (rs_st_open(path, &ex, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        rs_model_close(m);
        return;
    }
    const rs_config *cfg = rs_model_config(m);
    ASSERT_TRUE(cfg->task == RS_TASK_TEXTLM);
    int windows = atoi(rs_st_metadata(ex, "windows")), B = atoi(rs_st_metadata(ex, "B")),
        T = atoi(rs_st_metadata(ex, "T"));
    int L = cfg->num_layers, H = cfg->hidden_size, lstm = cfg->cell == RS_CELL_LSTM;
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
    run_cell(dir, "rnn");
    run_cell(dir, "lstm");
    run_cell(dir, "gru");
    TEST_MAIN_END();
}
