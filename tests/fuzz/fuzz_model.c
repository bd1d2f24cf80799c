/*
 * fuzz_model.c — libFuzzer target: no byte string may crash or hang the
 * model reader, and whatever the reader accepts must be safe to compute
 * with.
 *
 * Each input goes through rs_model_parse (the whole validation of
 * rs_model_open, on memory), and, when it refuses it, rs_translator_parse
 * (a translator is the other kind of model file).  When it is accepted, every weight must be a
 * finite number (the gate loops are compiled assuming so: gate_math_args in
 * meson.build), and the model is used the way the daemon uses it: encode a
 * short text, and for a small model run the classifier once, or step,
 * generate and score as a generator.  Results are checked only for being in
 * range (huge finite weights can still overflow to inf or NaN); a wrong
 * number is not a finding here, reading outside a buffer is.
 *
 * Built with -Dfuzz=true (tests/fuzz/meson.build, scripts/fuzz.sh); the same
 * function is linked into tests/unit/test_model_corpus.c, which replays the
 * corpus and regressions/ in the normal suites.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/infer.h"
#include "rnnserve/model.h"
#include "rnnserve/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PARAMS 1000000u
#define MAX_VOCAB  10000
#define MAX_IDS    16

/* A fault the validator should have caught: abort so the fuzzer keeps the input. */
static void require(int cond)
{
    if (!cond)
        abort();
}

static void exercise_classifier(const rs_model *m, rs_infer *inf, const int32_t *ids, int n)
{
    const rs_config *cfg = rs_model_config(m);
    int32_t zero = 0;
    const float *logits = n > 0 ? rs_infer_classify(inf, ids, n) : rs_infer_classify(inf, &zero, 1);
    require(logits != NULL);
    volatile float sink = 0;
    for (int k = 0; k < cfg->n_outputs; k++)
        sink += logits[k];
    (void)sink;
}

static void exercise_generator(const rs_model *m, rs_infer *inf, const int32_t *ids, int n)
{
    const rs_config *cfg = rs_model_config(m);
    int category = rs_model_category_count(m) > 0 ? 0 : -1;
    rs_special_ids special = rs_model_special_ids(m);
    rs_infer_reset(inf, category);
    const float *logits = rs_infer_step(inf, special.bos);
    require(logits != NULL);
    volatile float sink = 0;
    for (int k = 0; k < cfg->vocab_size; k++)
        sink += logits[k];
    (void)sink;

    rs_rng rng;
    rs_rng_seed(&rng, 1);
    rs_sampler samplers[2] = {{0.0f, 0, 1.0f}, {0.8f, 3, 0.9f}};
    for (int s = 0; s < 2; s++) {
        int32_t out[MAX_IDS];
        int n_out = 0, finished = 0;
        double lp = 0;
        int rc = rs_infer_generate(inf, &special, ids, n, category, MAX_IDS, &samplers[s], &rng,
                                   out, &n_out, &lp, &finished);
        require(rc == 0 && n_out >= 0 && n_out <= MAX_IDS);
        for (int i = 0; i < n_out; i++)
            require(out[i] >= 0 && out[i] < cfg->vocab_size);
    }
    double lp = 0;
    require(rs_infer_score(inf, &special, ids, n, category, &lp) == n + 1);
}

/* A translator the reader accepted: finite weights, and a small one
 * translates a sentence of its own words with beam search. */
static void exercise_translator(const rs_translator *t)
{
    const rs_s2s_config *cfg = rs_translator_config(t);
    rs_s2s_params p = *rs_translator_params(t);
    for (int i = 0; i < rs_s2s_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_s2s_tensor_describe(cfg, i, &d);
        const float *w = *rs_s2s_params_slot(cfg, &p, i);
        for (size_t j = 0; j < d.numel; j++)
            require(isfinite(w[j]));
    }
    if (rs_s2s_param_count(cfg) > MAX_PARAMS || cfg->tgt_vocab > MAX_VOCAB)
        return;
    char text[64];
    const char *w = rs_translator_token(t, 0, 4);
    snprintf(text, sizeof text, "%.20s %.20s", w ? w : "a", w ? w : "a");
    const char *texts[1] = {text};
    size_t lens[1] = {strlen(text)};
    rs_beam_opts o = {
        .beam_size = 2, .n_best = 2, .max_length = 6, .length_penalty = 1.0, .attention = 1};
    rs_translation tr;
    if (rs_translate(t, texts, lens, 1, 16, &o, 1, &tr) == 0) {
        for (int h = 0; h < tr.n_hyp; h++) {
            const char **tok = rs_translation_tokens(t, &tr, &tr.hyp[h], 1);
            char *s = tok ? rs_translation_text(t, tok, tr.hyp[h].n) : NULL;
            free(s);
            free(tok);
        }
        rs_translation_free(&tr);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_model *m = NULL;
    char err[256];
    if (rs_model_parse(data, size, "fuzz.safetensors", &m, err, sizeof err) != 0) {
        require(m == NULL);
        /* the same bytes as a translator, the other kind of model file */
        rs_translator *t = NULL;
        if (rs_translator_parse(data, size, "fuzz.safetensors", &t, err, sizeof err) != 0) {
            require(t == NULL);
            return 0;
        }
        exercise_translator(t);
        rs_translator_close(t);
        return 0;
    }
    const rs_config *cfg = rs_model_config(m);
    require(rs_model_path(m) != NULL && rs_model_name(m) != NULL);
    rs_params params = *rs_model_params(m);
    for (int i = 0; i < rs_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        const float *w = *rs_params_slot(cfg, &params, i);
        for (size_t j = 0; j < d.numel; j++)
            require(isfinite(w[j]));
    }

    /* ASCII, a folded accent, a character no small vocabulary has */
    static const char text[] = "abc\xc3\xa9z";
    int32_t ids[MAX_IDS];
    char unknown[64];
    int n = rs_model_encode(m, text, sizeof text - 1, ids, MAX_IDS, unknown, sizeof unknown);
    require(n <= MAX_IDS);
    for (int i = 0; i < n; i++)
        require(ids[i] >= 0 && ids[i] < cfg->vocab_size);
    if (n < 0)
        n = 0;

    if (rs_param_count(cfg) < MAX_PARAMS && cfg->vocab_size < MAX_VOCAB) {
        /* with and without input tables: both paths read every weight */
        rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), n % 2);
        rs_infer *inf = im ? rs_infer_create(im, MAX_IDS + 2) : NULL;
        if (inf) {
            if (cfg->task == RS_TASK_CLASSIFIER)
                exercise_classifier(m, inf, ids, n);
            else
                exercise_generator(m, inf, ids, n);
        }
        rs_infer_destroy(inf);
        rs_infer_model_destroy(im);
    }
    rs_model_close(m);
    return 0;
}
