/*
 * test_parity.c — rnnserve against PyTorch, the llm.c way (test_gpt2.c).
 *
 * tests/parity/make_golden.py wrote, for 13 cases (rnn, lstm, gru ×
 * classifier_l1, classifier_bi2, generator_l2, generator_cond, and
 * lstm_generator_v6k: a 2-layer LSTM generator over a 6,000-token
 * vocabulary of Tang-poem characters, as big as a poem model's), a model file
 * and an expectation file: one padded batch, PyTorch's logits, loss, the
 * gradient of every parameter, and the losses and gradient norms of 5 Adam
 * steps with gradient clipping (once with a clip that never bites, once with
 * one that always does).  For every case this test
 *
 *   1. opens the model with the production reader (rs_model_open): a file
 *      written by PyTorch's side must load as it is;
 *   2. runs rs_forward on the batch and compares the loss and every logit
 *      (generator logits are time-major (T, B, K) here, batch-first
 *      (B, T, K) in the file; only valid positions are compared);
 *   3. runs rs_backward and compares every gradient tensor, printing the
 *      max abs and rel difference of each;
 *   4. trains a copy of the weights for 5 steps (forward, backward,
 *      rs_clip_grad_norm, rs_optim_step) and compares each step's loss and
 *      pre-clip norm, for both clip values;
 *   5. runs the one-sequence inference path (rs_infer_classify,
 *      rs_infer_step, rs_infer_score) row by row against the same logits,
 *      and the batched path (rs_classifier_run, rs_stepper_step) over all
 *      rows at once, which must equal the one-row numbers bit for bit.
 *
 * Tolerance everywhere: |got − want| <= 1e-4 · max(|got|, |want|) + 1e-6.
 *
 * Usage: test_parity [golden-dir]   (default tests/parity/golden)
 */
#include <stdint.h>
#include <stdlib.h>

#include "../test.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"
#include "rnnserve/nn.h"
#include "rnnserve/optim.h"
#include "rnnserve/safetensors.h"

#define REL_TOL 1e-4
#define ABS_TOL 1e-6

static const char *const cases[] = {
    "rnn_classifier_l1",  "rnn_classifier_bi2",  "rnn_generator_l2",  "rnn_generator_cond",
    "lstm_classifier_l1", "lstm_classifier_bi2", "lstm_generator_l2", "lstm_generator_cond",
    "gru_classifier_l1",  "gru_classifier_bi2",  "gru_generator_l2",  "gru_generator_cond",
    "lstm_generator_v6k",
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- comparison statistics ---- */

typedef struct diff {
    double max_abs; /* max |got − want| */
    double max_rel; /* max |got − want| / max(|got|, |want|) */
    double worst;   /* max |got − want| / tolerance: <= 1 passes */
    size_t n, n_bad;
    size_t first_bad; /* index of the first value beyond tolerance */
    double bad_got, bad_want;
} diff;

static void diff_add(diff *d, double got, double want)
{
    double a = fabs(got - want), m = fmax(fabs(got), fabs(want));
    double rel = m > 0 ? a / m : 0.0;
    double tol = REL_TOL * m + ABS_TOL;
    if (isnan(a)) {
        d->max_abs = d->max_rel = d->worst = NAN;
    } else if (!isnan(d->max_abs)) {
        d->max_abs = fmax(d->max_abs, a);
        d->max_rel = fmax(d->max_rel, rel);
        d->worst = fmax(d->worst, a / tol);
    }
    if (!(a <= tol)) {
        if (d->n_bad++ == 0) {
            d->first_bad = d->n;
            d->bad_got = got;
            d->bad_want = want;
        }
    }
    d->n++;
}

/* Folds d into the running maximum acc (for the per-case summary). */
static void diff_merge(diff *acc, const diff *d)
{
    if (isnan(d->max_abs) || isnan(acc->max_abs)) {
        acc->max_abs = acc->max_rel = acc->worst = NAN;
    } else {
        acc->max_abs = fmax(acc->max_abs, d->max_abs);
        acc->max_rel = fmax(acc->max_rel, d->max_rel);
        acc->worst = fmax(acc->worst, d->worst);
    }
    acc->n += d->n;
    acc->n_bad += d->n_bad;
}

/* One check: prints the line and fails the test when any value was off. */
#define CHECK_DIFF(label, what, d)                                                                 \
    do {                                                                                           \
        test_checks_++;                                                                            \
        printf("    %-36s n %4zu  max abs %.2e  max rel %.2e  err/tol %.3f  %s\n", (what), (d)->n, \
               (d)->max_abs, (d)->max_rel, (d)->worst, (d)->n_bad ? "FAIL" : "ok");                \
        if ((d)->n_bad || (d)->n == 0)                                                             \
            TEST_FAIL_("%s: %s: %zu of %zu values beyond tolerance; first at index %zu: got "      \
                       "%.9g, expected %.9g",                                                      \
                       (label), (what), (d)->n_bad, (d)->n, (d)->first_bad, (d)->bad_got,          \
                       (d)->bad_want);                                                             \
    } while (0)

/* ---- reading the expectation file ---- */

/* A malloc'd copy of tensor name, which must have the given dtype and numel
 * (numel 0 = any; *numel_out receives it).  NULL and a failure otherwise. */
static void *load(const rs_st_file *f, const char *label, const char *name, rs_dtype dtype,
                  size_t numel, size_t *numel_out)
{
    test_checks_++;
    const rs_st_tensor *t = rs_st_find(f, name);
    if (!t) {
        TEST_FAIL_("%s: expectation file has no tensor '%s'", label, name);
        return NULL;
    }
    if (t->dtype != dtype || (numel && t->numel != numel)) {
        TEST_FAIL_("%s: tensor '%s' has dtype %d and %zu values, expected dtype %d and %zu", label,
                   name, (int)t->dtype, t->numel, (int)dtype, numel);
        return NULL;
    }
    void *p = malloc(t->nbytes ? t->nbytes : 1);
    if (!p) {
        TEST_FAIL_("%s: out of memory", label);
        return NULL;
    }
    rs_st_copy(t, p);
    if (numel_out)
        *numel_out = t->numel;
    return p;
}

static double meta_number(const rs_st_file *f, const char *label, const char *key)
{
    test_checks_++;
    const char *v = rs_st_metadata(f, key);
    char *end = NULL;
    double x = v ? strtod(v, &end) : NAN;
    if (!v || end == v || *end != '\0') {
        TEST_FAIL_("%s: expectation metadata '%s' is %s, expected a number", label, key,
                   v ? v : "missing");
        return NAN;
    }
    return x;
}

/* ---- one case ---- */

typedef struct golden {
    int B, T, K;
    int32_t *tokens, *lengths, *targets, *categories;
    float *logits; /* classifier (B, K); generator (B, T, K) */
    float *loss;   /* (1) */
    float *adam_losses, *adam_norms, *small_losses, *small_norms; /* (steps) */
    double lr, weight_decay, clip, small_clip;
    int steps;
} golden;

static void golden_free(golden *g)
{
    free(g->tokens);
    free(g->lengths);
    free(g->targets);
    free(g->categories);
    free(g->logits);
    free(g->loss);
    free(g->adam_losses);
    free(g->adam_norms);
    free(g->small_losses);
    free(g->small_norms);
}

/* Reads everything but the gradients; 0 when complete. */
static int golden_read(const rs_st_file *ex, const char *label, const rs_config *cfg, golden *g)
{
    const rs_st_tensor *tok = rs_st_find(ex, "tokens");
    test_checks_++;
    if (!tok || tok->ndim != 2) {
        TEST_FAIL_("%s: expectation file has no (B, T) tensor 'tokens'", label);
        return -1;
    }
    int generator = cfg->task == RS_TASK_GENERATOR;
    g->B = (int)tok->shape[0];
    g->T = (int)tok->shape[1];
    g->K = cfg->n_outputs;
    size_t B = (size_t)g->B, T = (size_t)g->T, K = (size_t)g->K;
    g->tokens = load(ex, label, "tokens", RS_DTYPE_I32, B * T, NULL);
    g->lengths = load(ex, label, "lengths", RS_DTYPE_I32, B, NULL);
    g->targets = load(ex, label, "targets", RS_DTYPE_I32, generator ? B * T : B, NULL);
    if (cfg->category_dim)
        g->categories = load(ex, label, "categories", RS_DTYPE_I32, B, NULL);
    g->logits = load(ex, label, "logits", RS_DTYPE_F32, generator ? B * T * K : B * K, NULL);
    g->loss = load(ex, label, "loss", RS_DTYPE_F32, 1, NULL);
    g->lr = meta_number(ex, label, "adam_lr");
    g->weight_decay = meta_number(ex, label, "adam_weight_decay");
    g->clip = meta_number(ex, label, "clip");
    g->small_clip = meta_number(ex, label, "small_clip");
    double steps = meta_number(ex, label, "steps");
    g->steps = steps >= 1 && steps <= 100 ? (int)steps : 0;
    if (g->steps) {
        size_t n = (size_t)g->steps;
        g->adam_losses = load(ex, label, "adam_losses", RS_DTYPE_F32, n, NULL);
        g->adam_norms = load(ex, label, "adam_grad_norms", RS_DTYPE_F32, n, NULL);
        g->small_losses = load(ex, label, "adam_small_clip_losses", RS_DTYPE_F32, n, NULL);
        g->small_norms = load(ex, label, "adam_small_clip_grad_norms", RS_DTYPE_F32, n, NULL);
    }
    if (!g->tokens || !g->lengths || !g->targets || (cfg->category_dim && !g->categories) ||
        !g->logits || !g->loss || !g->steps || !g->adam_losses || !g->adam_norms ||
        !g->small_losses || !g->small_norms || isnan(g->lr) || isnan(g->weight_decay) ||
        isnan(g->clip) || isnan(g->small_clip))
        return -1;
    /* the batch itself must be in range, or the library would read out of bounds */
    int ok = 1;
    for (size_t b = 0; b < B; b++) {
        int n = g->lengths[b];
        ok &= n >= 1 && n <= g->T;
        for (int t = 0; ok && t < n; t++) {
            ok &= g->tokens[b * T + t] >= 0 && g->tokens[b * T + t] < cfg->vocab_size;
            if (generator)
                ok &= g->targets[b * T + t] >= 0 && g->targets[b * T + t] < g->K;
        }
        if (!generator)
            ok &= g->targets[b] >= 0 && g->targets[b] < g->K;
        if (g->categories)
            ok &= g->categories[b] >= 0 && g->categories[b] < cfg->n_categories;
    }
    test_checks_++;
    if (!ok) {
        TEST_FAIL_("%s: the golden batch has an id or length out of range", label);
        return -1;
    }
    return 0;
}

/* Compares the logits of the last forward with the golden ones. */
static diff compare_logits(const rs_config *cfg, const golden *g, const rs_real *got)
{
    diff d = {0};
    size_t B = (size_t)g->B, T = (size_t)g->T, K = (size_t)g->K;
    if (cfg->task == RS_TASK_CLASSIFIER) {
        for (size_t i = 0; i < B * K; i++)
            diff_add(&d, got[i], g->logits[i]);
        return d;
    }
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < (size_t)g->lengths[b]; t++)
            for (size_t k = 0; k < K; k++)
                diff_add(&d, got[(t * B + b) * K + k], g->logits[(b * T + t) * K + k]);
    return d;
}

/* Mean cross-entropy of the golden logits, in double (a check on the reading). */
static double golden_loss(const rs_config *cfg, const golden *g, int b, int t)
{
    size_t K = (size_t)g->K;
    const float *z = cfg->task == RS_TASK_CLASSIFIER ? g->logits + (size_t)b * K
                                                     : g->logits + ((size_t)b * g->T + t) * K;
    int target = cfg->task == RS_TASK_CLASSIFIER ? g->targets[b] : g->targets[b * g->T + t];
    double mx = z[0];
    for (size_t k = 1; k < K; k++)
        mx = fmax(mx, z[k]);
    double s = 0;
    for (size_t k = 0; k < K; k++)
        s += exp((double)z[k] - mx);
    return mx + log(s) - (double)z[target];
}

typedef struct summary {
    diff logits, loss, grads, train, infer;
} summary;

/* 5 steps of forward, backward, clip, Adam from the model's weights. */
static void train_steps(const char *label, const char *run, const rs_model *m, rs_workspace *ws,
                        const rs_batch *batch, const golden *g, double clip, const float *losses,
                        const float *norms, summary *sum)
{
    const rs_config *cfg = rs_model_config(m);
    size_t n = rs_param_count(cfg);
    rs_real *theta = malloc(n * sizeof *theta), *grad = malloc(n * sizeof *grad);
    rs_optim opt;
    int have_opt = rs_optim_init(&opt, RS_OPTIM_ADAM, n, g->lr, g->weight_decay) == 0;
    test_checks_++;
    if (!theta || !grad || !have_opt) {
        TEST_FAIL_("%s: out of memory", label);
        goto done;
    }
    rs_params src = *rs_model_params(m), p, dp;
    for (int i = 0; i < rs_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        memcpy(theta + d.offset, *rs_params_slot(cfg, &src, i), d.numel * sizeof *theta);
    }
    rs_params_bind(cfg, theta, &p);
    rs_params_bind(cfg, grad, &dp);
    diff dl = {0}, dn = {0};
    for (int s = 0; s < g->steps; s++) {
        memset(grad, 0, n * sizeof *grad);
        double loss = rs_forward(ws, &p, batch, NULL);
        rs_backward(ws, &p, &dp, batch);
        double norm = rs_clip_grad_norm(grad, n, clip);
        rs_optim_step(&opt, theta, grad, g->lr);
        printf("      %s step %d: loss %.7f (torch %.7f)  norm %.7f (torch %.7f)\n", run, s, loss,
               (double)losses[s], norm, (double)norms[s]);
        diff_add(&dl, loss, losses[s]);
        diff_add(&dn, norm, norms[s]);
    }
    char what[64];
    snprintf(what, sizeof what, "%s losses", run);
    CHECK_DIFF(label, what, &dl);
    snprintf(what, sizeof what, "%s grad norms", run);
    CHECK_DIFF(label, what, &dn);
    diff_merge(&sum->train, &dl);
    diff_merge(&sum->train, &dn);
done:
    if (have_opt)
        rs_optim_free(&opt);
    free(theta);
    free(grad);
}

/* One-sequence inference, row by row, against the batched golden logits,
 * then the same rows as one batch (rs_classifier_run over every row,
 * rs_stepper_step over every row at once), which must give the one-row
 * numbers bit for bit.  with_tables: layer 0's input projections from the
 * precomputed tables, as the daemon runs it. */
static void check_inference(const char *case_label, const rs_model *m, const golden *g,
                            int with_tables, summary *sum)
{
    const rs_config *cfg = rs_model_config(m);
    const rs_params *p = rs_model_params(m);
    char label[256];
    snprintf(label, sizeof label, "%s%s", case_label, with_tables ? " (tables)" : "");
    rs_infer_model *im = rs_infer_model_create(cfg, p, with_tables);
    rs_infer *inf = im ? rs_infer_create(im, g->T) : NULL;
    test_checks_++;
    if (!inf) {
        TEST_FAIL_("%s: rs_infer_model_create or rs_infer_create failed", label);
        rs_infer_model_destroy(im);
        return;
    }
    size_t T = (size_t)g->T, K = (size_t)g->K;
    float *alone = malloc((size_t)g->B * T * K * sizeof *alone);
    if (cfg->task == RS_TASK_CLASSIFIER) {
        diff d = {0};
        for (int b = 0; b < g->B; b++) {
            const float *z = rs_infer_classify(inf, g->tokens + (size_t)b * T, g->lengths[b]);
            test_checks_++;
            if (!z) {
                TEST_FAIL_("%s: rs_infer_classify refused row %d (length %d)", label, b,
                           g->lengths[b]);
                continue;
            }
            memcpy(alone + (size_t)b * K, z, K * sizeof *z);
            for (size_t k = 0; k < K; k++)
                diff_add(&d, z[k], g->logits[(size_t)b * K + k]);
        }
        CHECK_DIFF(label,
                   with_tables ? "rs_infer_classify logits, tables" : "rs_infer_classify logits",
                   &d);
        diff_merge(&sum->infer, &d);
        /* the whole batch at once, rows in reverse order */
        rs_classifier *cl = rs_classifier_create(im, g->B, g->T);
        const int32_t **rows = malloc((size_t)g->B * sizeof *rows);
        int *lengths = malloc((size_t)g->B * sizeof *lengths);
        for (int b = 0; b < g->B; b++) {
            rows[b] = g->tokens + (size_t)(g->B - 1 - b) * T;
            lengths[b] = g->lengths[g->B - 1 - b];
        }
        const float *z = cl ? rs_classifier_run(cl, rows, lengths, g->B) : NULL;
        test_checks_++;
        if (!z)
            TEST_FAIL_("%s: rs_classifier_run over %d rows failed", label, g->B);
        for (int b = 0; z && b < g->B; b++)
            if (memcmp(z + (size_t)b * K, alone + (size_t)(g->B - 1 - b) * K, K * sizeof *z)) {
                TEST_FAIL_("%s: row %d classified in a batch differs from alone", label, b);
                break;
            }
        free(rows);
        free(lengths);
        rs_classifier_destroy(cl);
        free(alone);
        rs_infer_destroy(inf);
        rs_infer_model_destroy(im);
        return;
    }

    rs_special_ids ids = rs_model_special_ids(m);
    diff dstep = {0}, dscore = {0};
    for (int b = 0; b < g->B; b++) {
        const int32_t *row = g->tokens + (size_t)b * T;
        int n = g->lengths[b], cat = g->categories ? g->categories[b] : -1;
        /* the golden layout this relies on: <bos> c1..cL in, c1..cL <eos> as targets */
        test_checks_++;
        int layout_ok = row[0] == ids.bos && g->targets[(size_t)b * T + n - 1] == ids.eos;
        for (int t = 0; t + 1 < n; t++)
            layout_ok &= g->targets[(size_t)b * T + t] == row[t + 1];
        if (!layout_ok)
            TEST_FAIL_("%s: row %d is not <bos> c1..cL with targets c1..cL <eos>", label, b);

        rs_infer_reset(inf, cat);
        double nll = 0;
        for (int t = 0; t < n; t++) {
            const float *z = rs_infer_step(inf, row[t]);
            memcpy(alone + ((size_t)b * T + t) * K, z, K * sizeof *z);
            for (size_t k = 0; k < K; k++)
                diff_add(&dstep, z[k], g->logits[((size_t)b * T + t) * K + k]);
            nll += golden_loss(cfg, g, b, t);
        }
        double lp = NAN;
        int got = rs_infer_score(inf, &ids, row + 1, n - 1, cat, &lp);
        ASSERT_EQ(n, got);
        diff_add(&dscore, lp, -nll);
    }
    CHECK_DIFF(label, with_tables ? "rs_infer_step logits, tables" : "rs_infer_step logits",
               &dstep);
    CHECK_DIFF(label, with_tables ? "rs_infer_score log_prob, tables" : "rs_infer_score log_prob",
               &dscore);
    diff_merge(&sum->infer, &dstep);
    diff_merge(&sum->infer, &dscore);

    /* every row stepped at once; a row past its length is fed <bos> and
     * its logits ignored, as the engine's finished rows would be moved out */
    rs_stepper *st = rs_stepper_create(im, g->B);
    int32_t *feed = malloc((size_t)g->B * sizeof *feed);
    int same = st != NULL;
    for (int b = 0; st && b < g->B; b++)
        rs_stepper_reset(st, b, g->categories ? g->categories[b] : -1);
    for (size_t t = 0; same && t < T; t++) {
        for (int b = 0; b < g->B; b++)
            feed[b] = (int)t < g->lengths[b] ? g->tokens[(size_t)b * T + t] : ids.bos;
        const float *z = rs_stepper_step(st, feed, g->B);
        for (int b = 0; z && b < g->B; b++)
            if ((int)t < g->lengths[b] &&
                memcmp(z + (size_t)b * K, alone + ((size_t)b * T + t) * K, K * sizeof *z)) {
                TEST_FAIL_("%s: row %d step %zu in a batch of %d differs from alone", label, b, t,
                           g->B);
                same = 0;
                break;
            }
        same &= z != NULL;
    }
    test_checks_++;
    if (!st)
        TEST_FAIL_("%s: rs_stepper_create failed", label);
    free(feed);
    rs_stepper_destroy(st);
    free(alone);
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
}

static void run_case(const char *dir, const char *name, summary *sum)
{
    char model_path[1024], expect_path[1024], err[512] = "";
    snprintf(model_path, sizeof model_path, "%s/%s.model.safetensors", dir, name);
    snprintf(expect_path, sizeof expect_path, "%s/%s.expect.safetensors", dir, name);
    printf("%s\n", name);

    rs_model *m = NULL;
    rs_st_file *ex = NULL;
    rs_workspace *ws = NULL;
    rs_real *grad = NULL;
    golden g = {0};

    test_checks_++;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0) {
        TEST_FAIL_("%s: rs_model_open: %s", name, err);
        goto done;
    }
    test_checks_++;
    if (rs_st_open(expect_path, &ex, err, sizeof err) != 0) {
        TEST_FAIL_("%s: rs_st_open: %s", name, err);
        goto done;
    }
    const rs_config *cfg = rs_model_config(m);
    const rs_params *p = rs_model_params(m);
    if (golden_read(ex, name, cfg, &g) != 0)
        goto done;

    rs_batch batch = {.B = g.B,
                      .T = g.T,
                      .tokens = g.tokens,
                      .lengths = g.lengths,
                      .categories = g.categories,
                      .targets = g.targets};
    ws = rs_workspace_create(cfg, g.B, g.T);
    test_checks_++;
    if (!ws) {
        TEST_FAIL_("%s: rs_workspace_create failed", name);
        goto done;
    }

    /* 1. forward and 2. backward, with layer 0's input projection per row
     * and through the tables (rs_input_path) */
    size_t n = rs_param_count(cfg);
    grad = calloc(n, sizeof *grad);
    test_checks_++;
    if (!grad) {
        TEST_FAIL_("%s: out of memory", name);
        goto done;
    }
    for (int path = RS_INPUT_PER_ROW; path <= RS_INPUT_TABLES; path++) {
        rs_forward_opts opts = {.input_path = (rs_input_path)path};
        double loss = rs_forward(ws, p, &batch, &opts);
        diff dloss = {0};
        diff_add(&dloss, loss, g.loss[0]);
        printf("    %s: loss %.7f (torch %.7f)\n", path == RS_INPUT_TABLES ? "tables" : "per row",
               loss, (double)g.loss[0]);
        CHECK_DIFF(name, "loss", &dloss);
        diff dlog = compare_logits(cfg, &g, rs_workspace_logits(ws));
        CHECK_DIFF(name, "logits", &dlog);
        diff_merge(&sum->loss, &dloss);
        diff_merge(&sum->logits, &dlog);

        /* the golden file's own consistency: its loss is the mean CE of its logits */
        double mean = 0;
        int count = 0;
        for (int b = 0; b < g.B; b++)
            for (int t = 0; t < (cfg->task == RS_TASK_CLASSIFIER ? 1 : g.lengths[b]); t++, count++)
                mean += golden_loss(cfg, &g, b, t);
        ASSERT_NEAR(g.loss[0], mean / count, 1e-5);

        memset(grad, 0, n * sizeof *grad);
        rs_params dp;
        rs_params_bind(cfg, grad, &dp);
        rs_backward(ws, p, &dp, &batch);
        int n_tensors = rs_tensor_count(cfg);
        for (int i = 0; i < n_tensors; i++) {
            rs_tensor_desc d;
            rs_tensor_describe(cfg, i, &d);
            char gname[64];
            snprintf(gname, sizeof gname, "grad.%s", d.name);
            float *want = load(ex, name, gname, RS_DTYPE_F32, d.numel, NULL);
            if (!want)
                continue;
            diff dg = {0};
            for (size_t j = 0; j < d.numel; j++)
                diff_add(&dg, grad[d.offset + j], want[j]);
            CHECK_DIFF(name, gname, &dg);
            diff_merge(&sum->grads, &dg);
            free(want);
        }
        /* every grad.* in the file is a tensor of the model (none silently skipped) */
        int n_grad = 0;
        for (int i = 0; i < rs_st_count(ex); i++)
            n_grad += strncmp(rs_st_at(ex, i)->name, "grad.", 5) == 0;
        ASSERT_EQ(n_tensors, n_grad);
    }

    /* 3. Adam with clipping, both clip values */
    train_steps(name, "adam", m, ws, &batch, &g, g.clip, g.adam_losses, g.adam_norms, sum);
    train_steps(name, "adam small clip", m, ws, &batch, &g, g.small_clip, g.small_losses,
                g.small_norms, sum);
    /* the small clip must really have scaled something, or the run proves nothing */
    test_checks_++;
    if (!(g.small_norms[0] > g.small_clip))
        TEST_FAIL_("%s: small_clip %g never bites (first norm %g)", name, g.small_clip,
                   (double)g.small_norms[0]);

    /* 4. one-sequence inference */
    check_inference(name, m, &g, 0, sum);
    check_inference(name, m, &g, 1, sum);

done:
    free(grad);
    rs_workspace_destroy(ws);
    golden_free(&g);
    rs_st_close(ex);
    rs_model_close(m);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/parity/golden";
    summary sums[N_CASES];
    memset(sums, 0, sizeof sums);
    for (int c = 0; c < N_CASES; c++)
        run_case(dir, cases[c], &sums[c]);

    printf("\nmax abs difference (and max |diff| / tolerance, <= 1 passes) per case\n");
    printf("%-20s %-18s %-18s %-18s %-18s %-18s\n", "case", "loss", "logits", "grads",
           "adam loss+norm", "infer");
    for (int c = 0; c < N_CASES; c++) {
        const summary *s = &sums[c];
        const diff *cols[] = {&s->loss, &s->logits, &s->grads, &s->train, &s->infer};
        printf("%-20s", cases[c]);
        for (int k = 0; k < 5; k++) {
            if (cols[k]->n == 0)
                printf(" %-18s", "(not run)");
            else
                printf(" %.2e (%.3f)  ", cols[k]->max_abs, cols[k]->worst);
        }
        printf("\n");
    }
    TEST_MAIN_END();
}
