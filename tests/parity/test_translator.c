/*
 * test_translator.c — the translator's forward and backward pass
 * (src/nn/seq2seq.c) against PyTorch.
 *
 * tests/parity/make_translator_golden.py wrote, for GRU, LSTM and RNN cells
 * with one or two layers and a uni- or bidirectional encoder, the DESIGN.md
 * Translator's state_dict and, for a padded batch read with teacher
 * forcing, PyTorch's loss, logits (B, T, Vt), attention weights (B, T, S)
 * and the gradient of every tensor.  This test binds the file's tensors by
 * their names (rs_s2s_tensor_describe), runs rs_s2s_forward and
 * rs_s2s_backward in float, and compares all of it (the C side is
 * time-major: (T, B, ·)).
 *
 * Tolerance: |got − want| <= 1e-4 · max(|got|, |want|) + 1e-6.
 * Usage: test_translator [golden-dir]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/beam.h"
#include "rnnserve/safetensors.h"
#include "rnnserve/seq2seq.h"
#include "rnnserve/shortlist.h"
#include "rnnserve/translator.h"

static const char *golden_dir = "tests/parity/golden";

static int close_enough(double got, double want)
{
    return fabs(got - want) <= 1e-4 * fmax(fabs(got), fabs(want)) + 1e-6;
}

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
    printf("    %-36s n %4zu  max abs %.2e  ok\n", what, n, worst);
}

/* The tensor name of the expectation file, as float or int32 values. */
static void *read_tensor(const rs_st_file *f, const char *name, rs_dtype dtype, size_t numel)
{
    const rs_st_tensor *t = rs_st_find(f, name);
    if (!t || t->dtype != dtype || t->numel != numel)
        return NULL;
    void *out = malloc(numel * 4);
    if (out)
        rs_st_copy(t, out);
    return out;
}

static int config_of(const rs_st_file *f, rs_s2s_config *cfg)
{
    const char *cell = rs_st_metadata(f, "cell"), *bi = rs_st_metadata(f, "bidirectional");
    const char *layers = rs_st_metadata(f, "num_layers"), *h = rs_st_metadata(f, "hidden_size");
    const char *e = rs_st_metadata(f, "embedding_dim");
    const rs_st_tensor *src = rs_st_find(f, "encoder.embedding.weight");
    const rs_st_tensor *tgt = rs_st_find(f, "decoder.head.bias");
    if (!cell || !bi || !layers || !h || !e || !src || !tgt || rs_cell_from_name(cell, &cfg->cell))
        return -1;
    cfg->num_layers = atoi(layers);
    cfg->hidden_size = atoi(h);
    cfg->embedding_dim = atoi(e);
    cfg->bidirectional = strcmp(bi, "true") == 0;
    cfg->src_vocab = (int)(src->numel / (size_t)cfg->embedding_dim);
    cfg->tgt_vocab = (int)tgt->numel;
    return 0;
}

/* The model file opened as the daemon opens it decodes each source as
 * PyTorch's greedy loop did (greedy.ids, −1 after the end); with shortlist,
 * over make_translator_golden.py's shortlist (ids below 5; per source id s,
 * 5 + s % (Vt − 5)) as the library builds it from a lexical table
 * (shortlist.h), with PyTorch's ids and log-probability too
 * (greedy_shortlist.*). */
static void check_greedy(const char *name, const char *model_path, const rs_st_file *ef,
                         const int32_t *src, const int32_t *src_len, int B, int S, int shortlist)
{
    char err[512];
    rs_translator *t = NULL;
    if (rs_translator_open(model_path, &t, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    const rs_st_tensor *g = rs_st_find(ef, shortlist ? "greedy_shortlist.ids" : "greedy.ids");
    const rs_st_tensor *l = shortlist ? rs_st_find(ef, "greedy_shortlist.log_prob") : NULL;
    test_checks_++;
    if (!g || g->ndim != 2 || (int)g->shape[0] != B ||
        (shortlist && (!l || l->shape[0] != (size_t)B))) {
        TEST_FAIL_("%s: expectation %s missing", name,
                   shortlist ? "greedy_shortlist.*" : "greedy.ids");
        rs_translator_close(t);
        return;
    }
    int G = (int)g->shape[1];
    int32_t *want = malloc((size_t)B * G * sizeof *want);
    float *want_lp = malloc((size_t)B * sizeof *want_lp);
    rs_st_copy(g, want);
    if (l)
        rs_st_copy(l, want_lp);
    const rs_s2s_config *cfg = rs_translator_config(t);
    enum { COMMON = 5 };
    int32_t lexical[64];
    for (int s = 0; s < cfg->src_vocab && s < 64; s++)
        lexical[s] = COMMON + s % (cfg->tgt_vocab - COMMON);
    rs_shortlist sl = {
        .common = COMMON, .per_word = 1, .src_vocab = cfg->src_vocab, .lexical = lexical};
    rs_s2s_workspace *ws = rs_s2s_workspace_create(cfg, B, S, 0);
    rs_beam *bs = rs_beam_create(cfg, 1, S, G);
    rs_pair_batch batch = {.B = B, .S = S, .src = src, .src_len = src_len};
    rs_s2s_encode(ws, rs_translator_params(t), &batch);
    rs_s2s_encoded enc;
    rs_s2s_encoded_get(ws, &enc);
    for (int b = 0; b < B; b++) {
        int32_t extra[64];
        rs_beam_opts o = {.beam_size = 1, .n_best = 1, .max_length = G};
        if (shortlist) {
            o.vocab_prefix = COMMON;
            o.vocab_extra = extra;
            o.n_extra = rs_shortlist_for(&sl, src + (size_t)b * S, src_len[b], extra);
        }
        rs_hypothesis h;
        int n = 0;
        ASSERT_EQ(0, rs_beam_search(bs, rs_translator_params(t), rs_translator_packed(t), &enc, b,
                                    src_len[b], &o, &h, &n));
        int wn = 0;
        while (wn < G && want[(size_t)b * G + wn] >= 0)
            wn++;
        test_checks_++;
        if (n != 1 || h.n != wn || memcmp(h.ids, want + (size_t)b * G, (size_t)wn * 4) != 0) {
            TEST_FAIL_("%s%s: source %d decodes to %d tokens, PyTorch's greedy loop to %d", name,
                       shortlist ? " over the shortlist" : "", b, n ? h.n : -1, wn);
        } else if (shortlist) { /* and the output's log-probability (<eos> in it when it came) */
            ASSERT_NEAR(want_lp[b], h.log_prob, 1e-4 * (1 + fabs(want_lp[b])));
            printf("    greedy over the shortlist, source %d: %d tokens, log_prob %.5f as "
                   "PyTorch  ok\n",
                   b, wn, h.log_prob);
        } else {
            printf("    greedy decoding of source %d: %d tokens as PyTorch  ok\n", b, wn);
        }
        if (n)
            rs_hypothesis_free(&h);
    }
    rs_beam_destroy(bs);
    rs_s2s_workspace_destroy(ws);
    free(want);
    free(want_lp);
    rs_translator_close(t);
}

static void check_case(const char *name)
{
    char path[512], err[512];
    printf("  %s\n", name);
    snprintf(path, sizeof path, "%s/translator_%s.model.safetensors", golden_dir, name);
    rs_st_file *mf = NULL, *ef = NULL;
    if (rs_st_open(path, &mf, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    snprintf(path, sizeof path, "%s/translator_%s.expect.safetensors", golden_dir, name);
    if (rs_st_open(path, &ef, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        rs_st_close(mf);
        return;
    }
    rs_s2s_config cfg = {0};
    ASSERT_TRUE(config_of(mf, &cfg) == 0);
    ASSERT_TRUE(rs_s2s_config_check(&cfg, err, sizeof err) == 0);
    size_t n = rs_s2s_param_count(&cfg);
    float *theta = calloc(n, sizeof *theta), *grad = calloc(n, sizeof *grad);
    rs_s2s_params p, g;
    rs_s2s_params_bind(&cfg, theta, &p);
    rs_s2s_params_bind(&cfg, grad, &g);
    /* every tensor by name, and no tensor the layout does not have */
    int count = rs_s2s_tensor_count(&cfg);
    test_checks_++;
    if (count != rs_st_count(mf))
        TEST_FAIL_("%s: the file has %d tensors, the layout %d", name, rs_st_count(mf), count);
    for (int i = 0; i < count; i++) {
        rs_tensor_desc d;
        rs_s2s_tensor_describe(&cfg, i, &d);
        const rs_st_tensor *t = rs_st_find(mf, d.name);
        test_checks_++;
        if (!t || t->numel != d.numel) {
            TEST_FAIL_("%s: tensor %s missing or of the wrong size", name, d.name);
            goto done;
        }
        rs_st_copy(t, theta + d.offset);
    }
    const rs_st_tensor *st = rs_st_find(ef, "src"), *tt = rs_st_find(ef, "tgt_in");
    ASSERT_TRUE(st && tt && st->ndim == 2 && tt->ndim == 2);
    int B = (int)st->shape[0], S = (int)st->shape[1], T = (int)tt->shape[1];
    int V = cfg.tgt_vocab;
    int32_t *src = read_tensor(ef, "src", RS_DTYPE_I32, (size_t)B * S);
    int32_t *src_len = read_tensor(ef, "src_len", RS_DTYPE_I32, (size_t)B);
    int32_t *tgt_in = read_tensor(ef, "tgt_in", RS_DTYPE_I32, (size_t)B * T);
    int32_t *tgt_out = read_tensor(ef, "tgt_out", RS_DTYPE_I32, (size_t)B * T);
    float *want_loss = read_tensor(ef, "loss", RS_DTYPE_F32, 1);
    float *want_logits = read_tensor(ef, "logits", RS_DTYPE_F32, (size_t)B * T * V);
    float *want_att = read_tensor(ef, "attention", RS_DTYPE_F32, (size_t)B * T * S);
    float *got = calloc((size_t)B * T * (V > S ? V : S), sizeof *got);
    rs_s2s_workspace *ws = rs_s2s_workspace_create(&cfg, B, S, T);
    test_checks_++;
    if (!src || !src_len || !tgt_in || !tgt_out || !want_loss || !want_logits || !want_att ||
        !got || !ws) {
        TEST_FAIL_("%s: an expectation is missing or of the wrong size", name);
    } else {
        rs_pair_batch batch = {.B = B,
                               .S = S,
                               .T = T,
                               .src = src,
                               .src_len = src_len,
                               .tgt_in = tgt_in,
                               .tgt_out = tgt_out};
        float loss = (float)rs_s2s_forward(ws, &p, &batch, NULL);
        rs_s2s_backward(ws, &p, &g, &batch);
        compare(name, "loss", &loss, want_loss, 1);
        /* (T, B, ·) to PyTorch's (B, T, ·) */
        const float *logits = rs_s2s_logits(ws), *att = rs_s2s_attention(ws);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                memcpy(got + ((size_t)b * T + t) * V, logits + ((size_t)t * B + b) * V,
                       (size_t)V * sizeof *got);
        compare(name, "logits", got, want_logits, (size_t)B * T * V);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                memcpy(got + ((size_t)b * T + t) * S, att + ((size_t)t * B + b) * S,
                       (size_t)S * sizeof *got);
        compare(name, "attention", got, want_att, (size_t)B * T * S);
        snprintf(path, sizeof path, "%s/translator_%s.model.safetensors", golden_dir, name);
        check_greedy(name, path, ef, src, src_len, B, S, 0);
        check_greedy(name, path, ef, src, src_len, B, S, 1);
        for (int i = 0; i < count; i++) {
            rs_tensor_desc d;
            rs_s2s_tensor_describe(&cfg, i, &d);
            char gname[64];
            snprintf(gname, sizeof gname, "grad.%s", d.name);
            float *want = read_tensor(ef, gname, RS_DTYPE_F32, d.numel);
            test_checks_++;
            if (!want)
                TEST_FAIL_("%s: expectation %s missing", name, gname);
            else
                compare(name, gname, grad + d.offset, want, d.numel);
            free(want);
        }
    }
    rs_s2s_workspace_destroy(ws);
    free(src);
    free(src_len);
    free(tgt_in);
    free(tgt_out);
    free(want_loss);
    free(want_logits);
    free(want_att);
    free(got);
done:
    free(theta);
    free(grad);
    rs_st_close(mf);
    rs_st_close(ef);
}

static void test_translators(void)
{
    static const char *const cases[] = {"gru_l1", "gru_bi2", "lstm_l2", "lstm_bi1", "rnn_bi1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(cases[i]);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        golden_dir = argv[1];
    RUN_TEST(test_translators);
    TEST_MAIN_END();
}
