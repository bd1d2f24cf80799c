/*
 * test_grad.c — the analytic backward pass against central finite
 * differences, in double (this file links the double build of src/nn).
 *
 * For every cell × {1, 2 layers} × {uni, bidirectional} classifier, every
 * cell's generator (plain 2-layer and conditional), and dropout on, every
 * element of every parameter tensor is perturbed by ±1e-5 and the loss
 * difference compared with the gradient.  The batches are padded (rows of
 * different lengths, garbage in the padding), so the masking of padded steps
 * is checked too, as are dropout (between layers, before the head, on the
 * input, per step or locked, DropConnect on W_hh), class-weighted losses and
 * distillation's soft targets.  The embedding
 * gradient is the gradient w.r.t. the inputs.  Layer 0's input projection has two paths
 * (rs_input_path): the finite differences check the tables path, and the
 * per-row path must give the same loss and gradients to 1e-10.
 */
#include <stdlib.h>

#include "../test.h"
#include "rnnserve/nn.h"

#ifndef RS_REAL_IS_DOUBLE
#error "the gradient checks must be built with RS_REAL_IS_DOUBLE"
#endif

enum { B = 3, T = 5, MAX_K = 7 };

typedef struct fixture {
    rs_config cfg;
    int32_t tokens[B * T], lengths[B], categories[B], targets[B * T];
    rs_batch batch;
    double dropout, input_dropout, weight_dropout;
    int locked;             /* variational (locked) dropout */
    double class_weight[7]; /* used when weighted */
    int weighted;
    double soft[B * T * MAX_K]; /* random distributions, read when distill > 0 */
    double distill;
} fixture;

static void make_fixture(fixture *fx, rs_task task, rs_cell cell, int layers, int bidi, int cond,
                         double dropout)
{
    memset(fx, 0, sizeof *fx);
    rs_config *cfg = &fx->cfg;
    cfg->task = task;
    cfg->cell = cell;
    cfg->num_layers = layers;
    cfg->hidden_size = 4;
    cfg->embedding_dim = 3;
    cfg->bidirectional = bidi;
    cfg->vocab_size = 7;
    cfg->n_outputs = task == RS_TASK_CLASSIFIER ? 3 : 7;
    if (cond) {
        cfg->category_dim = 2;
        cfg->n_categories = 2;
    }
    static const int32_t lengths[B] = {5, 2, 4};
    rs_rng rng;
    rs_rng_seed(&rng, 1234);
    for (int b = 0; b < B; b++) {
        fx->lengths[b] = lengths[b];
        fx->categories[b] = b % 2;
        for (int t = 0; t < T; t++) {
            /* padding holds garbage ids: the math must never read them */
            fx->tokens[b * T + t] = (int32_t)rs_rng_below(&rng, 7);
            fx->targets[b * T + t] = (int32_t)rs_rng_below(&rng, (uint32_t)cfg->n_outputs);
        }
    }
    /* a soft target row per (b, t) — generator layout; a classifier reads the first B */
    int K = cfg->n_outputs;
    for (int r = 0; r < B * T; r++) {
        double sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += fx->soft[r * K + k] = 0.05 + rs_rng_uniform(&rng);
        for (int k = 0; k < K; k++)
            fx->soft[r * K + k] /= sum;
    }
    fx->batch = (rs_batch){.B = B,
                           .T = T,
                           .tokens = fx->tokens,
                           .lengths = fx->lengths,
                           .categories = cond ? fx->categories : NULL,
                           .targets = fx->targets,
                           .soft_targets = fx->soft};
    fx->dropout = dropout;
    for (int k = 0; k < 7; k++)
        fx->class_weight[k] = 0.5 + 0.25 * k;
}

/* Reorders the rows longest first: the packed-sequence path of the forward. */
static void sort_rows(fixture *fx)
{
    static const int order[B] = {0, 2, 1}; /* lengths 5, 4, 2 */
    fixture copy = *fx;
    for (int r = 0; r < B; r++) {
        int from = order[r];
        fx->lengths[r] = copy.lengths[from];
        fx->categories[r] = copy.categories[from];
        memcpy(&fx->tokens[r * T], &copy.tokens[from * T], T * sizeof(int32_t));
        int K = fx->cfg.n_outputs;
        if (fx->cfg.task == RS_TASK_GENERATOR) {
            memcpy(&fx->targets[r * T], &copy.targets[from * T], T * sizeof(int32_t));
            memcpy(&fx->soft[r * T * K], &copy.soft[from * T * K], (size_t)T * K * sizeof(double));
        } else {
            fx->targets[r] = copy.targets[from];
            memcpy(&fx->soft[r * K], &copy.soft[from * K], (size_t)K * sizeof(double));
        }
    }
}

static double loss_at(rs_workspace *ws, const rs_params *p, const fixture *fx, rs_input_path path)
{
    rs_rng rng;
    rs_rng_seed(&rng, 99); /* the same dropout masks on every evaluation */
    rs_forward_opts opts = {.dropout = fx->dropout,
                            .input_dropout = fx->input_dropout,
                            .weight_dropout = fx->weight_dropout,
                            .locked_dropout = fx->locked,
                            .class_weight = fx->weighted ? fx->class_weight : NULL,
                            .distill = fx->distill,
                            .rng = &rng,
                            .input_path = path};
    return rs_forward(ws, p, &fx->batch, &opts);
}

/* Allocates a model's parameters, binds p to them and draws them as
 * rnntrain does, from seed; free() the result. */
static double *new_params(const rs_config *cfg, uint64_t seed, rs_params *p)
{
    double *theta = malloc(rs_param_count(cfg) * sizeof *theta);
    rs_params_bind(cfg, theta, p);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    rs_params_init(cfg, p, &rng);
    return theta;
}

/* Returns the worst relative error over all parameters; reports each tensor. */
static double check_fixture(const fixture *fx, const char *label)
{
    const rs_config *cfg = &fx->cfg;
    size_t n = rs_param_count(cfg);
    rs_params p, g;
    double *theta = new_params(cfg, 7, &p), *grad = calloc(n, sizeof *grad);
    rs_params_bind(cfg, grad, &g);
    /* larger recurrent weights than the default make the check more demanding */
    for (size_t i = 0; i < n; i++)
        theta[i] *= 1.5;
    rs_workspace *ws = rs_workspace_create(cfg, B, T);
    ASSERT_TRUE(ws != NULL);
    double loss = loss_at(ws, &p, fx, RS_INPUT_TABLES);
    rs_backward(ws, &p, &g, &fx->batch);

    /* the per-row input path: the same loss and gradients */
    double *grad_rows = calloc(n, sizeof *grad_rows);
    rs_params gr;
    rs_params_bind(cfg, grad_rows, &gr);
    ASSERT_NEAR(loss_at(ws, &p, fx, RS_INPUT_PER_ROW), loss, 1e-12);
    rs_backward(ws, &p, &gr, &fx->batch);
    double path_diff = 0.0;
    for (size_t i = 0; i < n; i++)
        path_diff = fmax(path_diff, fabs(grad[i] - grad_rows[i]) /
                                        fmax(1e-8, fabs(grad[i]) + fabs(grad_rows[i])));
    test_checks_++;
    if (path_diff > 1e-10)
        TEST_FAIL_("%s: the per-row and tables input paths differ (rel %.3g)", label, path_diff);
    free(grad_rows);

    double worst = 0.0;
    const double eps = 1e-5;
    for (int i = 0; i < rs_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        double tensor_worst = 0.0;
        for (size_t k = 0; k < d.numel; k++) {
            double *x = &theta[d.offset + k];
            double saved = *x;
            *x = saved + eps;
            double up = loss_at(ws, &p, fx, RS_INPUT_TABLES);
            *x = saved - eps;
            double down = loss_at(ws, &p, fx, RS_INPUT_TABLES);
            *x = saved;
            double numeric = (up - down) / (2 * eps);
            double analytic = grad[d.offset + k];
            /* relative error, with a floor so that entries that are zero in both
             * (parameters the batch does not touch) compare absolutely */
            double err = fabs(numeric - analytic) / fmax(1e-4, fabs(numeric) + fabs(analytic));
            if (err > tensor_worst)
                tensor_worst = err;
        }
        test_checks_++;
        if (tensor_worst > 1e-6)
            TEST_FAIL_("%s: %s gradient differs from finite differences (rel %.3g)", label, d.name,
                       tensor_worst);
        if (tensor_worst > worst)
            worst = tensor_worst;
    }
    rs_workspace_destroy(ws);
    free(theta);
    free(grad);
    return worst;
}

/* Runs check_fixture on fx, labelled "<cell> what", and prints its worst error. */
static void report(const fixture *fx, rs_cell cell, const char *what)
{
    char label[96];
    snprintf(label, sizeof label, "%s %s", rs_cell_name(cell), what);
    fprintf(stderr, "  %-40s max rel error %.2e\n", label, check_fixture(fx, label));
}

static void check_cell(rs_cell cell)
{
    for (int layers = 1; layers <= 2; layers++)
        for (int bidi = 0; bidi <= 1; bidi++) {
            fixture fx;
            make_fixture(&fx, RS_TASK_CLASSIFIER, cell, layers, bidi, 0, 0.0);
            char what[64];
            snprintf(what, sizeof what, "classifier L=%d %s", layers,
                     bidi ? "bidirectional" : "unidirectional");
            report(&fx, cell, what);
        }
    struct {
        int layers, cond;
        double dropout;
        const char *what;
    } gens[] = {{1, 0, 0.0, "generator L=1"},
                {2, 0, 0.0, "generator L=2"},
                {1, 1, 0.0, "generator conditional"},
                {2, 1, 0.3, "generator conditional L=2 dropout"}};
    for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
        fixture fx;
        make_fixture(&fx, RS_TASK_GENERATOR, cell, gens[i].layers, 0, gens[i].cond,
                     gens[i].dropout);
        report(&fx, cell, gens[i].what);
    }
    fixture fx;
    make_fixture(&fx, RS_TASK_CLASSIFIER, cell, 2, 1, 0, 0.4);
    fx.input_dropout = 0.25;
    fx.weight_dropout = 0.3;
    fx.weighted = 1;
    report(&fx, cell, "classifier L=2 bidi dropout+weights");
    make_fixture(&fx, RS_TASK_CLASSIFIER, cell, 2, 1, 0, 0.0);
    sort_rows(&fx);
    report(&fx, cell, "classifier L=2 bidi sorted rows");
    make_fixture(&fx, RS_TASK_GENERATOR, cell, 2, 0, 1, 0.0);
    sort_rows(&fx);
    report(&fx, cell, "generator L=2 sorted rows");
    make_fixture(&fx, RS_TASK_GENERATOR, cell, 1, 0, 1, 0.0);
    fx.input_dropout = 0.3;
    report(&fx, cell, "generator input dropout");
    make_fixture(&fx, RS_TASK_GENERATOR, cell, 2, 0, 1, 0.0);
    fx.weight_dropout = 0.4;
    report(&fx, cell, "generator L=2 weight dropout");
    make_fixture(&fx, RS_TASK_GENERATOR, cell, 2, 0, 1, 0.3);
    fx.input_dropout = 0.2;
    fx.locked = 1;
    report(&fx, cell, "generator L=2 locked dropout");
    make_fixture(&fx, RS_TASK_CLASSIFIER, cell, 2, 1, 0, 0.3);
    fx.input_dropout = 0.2;
    fx.locked = 1;
    report(&fx, cell, "classifier L=2 bidi locked dropout");
    make_fixture(&fx, RS_TASK_CLASSIFIER, cell, 1, 1, 0, 0.2);
    fx.distill = 0.6;
    fx.weighted = 1;
    report(&fx, cell, "classifier bidi distill+weights");
    make_fixture(&fx, RS_TASK_GENERATOR, cell, 2, 0, 1, 0.2);
    fx.distill = 0.5;
    sort_rows(&fx);
    report(&fx, cell, "generator L=2 distill sorted");
}

static void rnn_backward_matches_finite_differences(void) { check_cell(RS_CELL_RNN); }
static void lstm_backward_matches_finite_differences(void) { check_cell(RS_CELL_LSTM); }
static void gru_backward_matches_finite_differences(void) { check_cell(RS_CELL_GRU); }

/*
 * Padding must not change any result: the loss of a padded batch equals the
 * combination of each row's loss computed alone at its own length, and the
 * garbage in the padding does not matter.
 */
static void padded_batch_equals_rows_alone(void)
{
    rs_cell cells[3] = {RS_CELL_RNN, RS_CELL_LSTM, RS_CELL_GRU};
    for (int c = 0; c < 3; c++)
        for (int task = 0; task < 2; task++) {
            fixture fx;
            make_fixture(&fx, (rs_task)task, cells[c], 2, task == RS_TASK_CLASSIFIER, task, 0.0);
            const rs_config *cfg = &fx.cfg;
            rs_params p;
            double *theta = new_params(cfg, 11, &p);
            rs_workspace *ws = rs_workspace_create(cfg, B, T);
            double batch_loss = rs_forward(ws, &p, &fx.batch, NULL);
            double combined = 0.0, weight = 0.0;
            for (int b = 0; b < B; b++) {
                int L = fx.lengths[b];
                int32_t tok[T], tgt[T];
                for (int t = 0; t < L; t++) {
                    tok[t] = fx.tokens[b * T + t];
                    tgt[t] = fx.targets[b * T + t];
                }
                rs_batch one = {.B = 1,
                                .T = L,
                                .tokens = tok,
                                .lengths = &L,
                                .categories = fx.batch.categories ? &fx.categories[b] : NULL,
                                .targets = task == RS_TASK_CLASSIFIER ? &fx.targets[b] : tgt};
                double w = task == RS_TASK_CLASSIFIER ? 1.0 : L;
                combined += w * rs_forward(ws, &p, &one, NULL);
                weight += w;
            }
            ASSERT_NEAR(combined / weight, batch_loss, 1e-12);
            /* other garbage in the padding: same loss */
            for (int b = 0; b < B; b++)
                for (int t = fx.lengths[b]; t < T; t++)
                    fx.tokens[b * T + t] = (fx.tokens[b * T + t] + 3) % 7;
            ASSERT_NEAR(batch_loss, rs_forward(ws, &p, &fx.batch, NULL), 0.0);
            /* rows sorted longest first take the packed path: same loss */
            sort_rows(&fx);
            ASSERT_NEAR(batch_loss, rs_forward(ws, &p, &fx.batch, NULL), 1e-12);
            rs_workspace_destroy(ws);
            free(theta);
        }
}

/*
 * rs_workspace_set_threads(ws, 2) runs a bidirectional layer's directions on
 * two threads: the loss and every gradient must be exactly those of the
 * one-thread order (with dropout of all three kinds, both input paths).
 */
static void two_threads_give_the_same_numbers(void)
{
    rs_cell cells[3] = {RS_CELL_RNN, RS_CELL_LSTM, RS_CELL_GRU};
    for (int c = 0; c < 3; c++)
        for (int path = RS_INPUT_PER_ROW; path <= RS_INPUT_TABLES; path++) {
            fixture fx;
            make_fixture(&fx, RS_TASK_CLASSIFIER, cells[c], 2, 1, 0, 0.3);
            fx.weight_dropout = 0.2;
            fx.input_dropout = path == RS_INPUT_PER_ROW ? 0.2 : 0.0;
            const rs_config *cfg = &fx.cfg;
            size_t n = rs_param_count(cfg);
            rs_params p, d1, d2;
            double *theta = new_params(cfg, 5, &p);
            double *g1 = calloc(n, sizeof *g1), *g2 = calloc(n, sizeof *g2);
            rs_params_bind(cfg, g1, &d1);
            rs_params_bind(cfg, g2, &d2);
            rs_workspace *ws = rs_workspace_create(cfg, B, T);
            double one = loss_at(ws, &p, &fx, (rs_input_path)path);
            rs_backward(ws, &p, &d1, &fx.batch);
            rs_workspace_set_threads(ws, 2);
            double two = loss_at(ws, &p, &fx, (rs_input_path)path);
            rs_backward(ws, &p, &d2, &fx.batch);
            ASSERT_NEAR(one, two, 0.0);
            size_t differ = 0;
            for (size_t i = 0; i < n; i++)
                differ += g1[i] != g2[i];
            ASSERT_EQ(0, (long)differ);
            rs_workspace_destroy(ws);
            free(theta);
            free(g1);
            free(g2);
        }
}

/*
 * Locked dropout draws one mask per sequence: with W_hh = 0 and the same
 * token at every step, every step of a 1-layer generator then sees the same
 * (dropped) input and features, so its logits are the same at every step;
 * with a mask per step they are not.
 */
static void locked_dropout_uses_one_mask_per_sequence(void)
{
    for (int locked = 0; locked <= 1; locked++) {
        fixture fx;
        make_fixture(&fx, RS_TASK_GENERATOR, RS_CELL_RNN, 1, 0, 0, 0.5);
        fx.input_dropout = 0.5;
        fx.locked = locked;
        for (int i = 0; i < B * T; i++)
            fx.tokens[i] = 2;
        const rs_config *cfg = &fx.cfg;
        rs_params p;
        double *theta = new_params(cfg, 3, &p);
        memset(p.rnn[0][0].weight_hh, 0,
               (size_t)cfg->hidden_size * cfg->hidden_size * sizeof(double));
        rs_workspace *ws = rs_workspace_create(cfg, B, T);
        loss_at(ws, &p, &fx, RS_INPUT_AUTO);
        const double *logits = rs_workspace_logits(ws);
        int K = cfg->n_outputs, row = 0, same = 1; /* row 0 has length 5 */
        for (int t = 1; t < fx.lengths[row]; t++)
            for (int k = 0; k < K; k++)
                same &= logits[((size_t)t * B + row) * K + k] == logits[(size_t)row * K + k];
        ASSERT_EQ(locked, same);
        rs_workspace_destroy(ws);
        free(theta);
    }
}

/*
 * With distill = a, the loss is the mean over targets of the cross-entropy
 * −Σ_k (1 − a)·onehot(y)_k·log p_k − a·q_k·log p_k, computed here from the
 * logits the forward leaves; a = 0 is the hard loss, whatever q holds.
 */
static void distillation_loss_is_the_mixed_cross_entropy(void)
{
    for (int task = 0; task < 2; task++)
        for (int w = 0; w <= 1; w++) {
            fixture fx;
            make_fixture(&fx, (rs_task)task, RS_CELL_GRU, 1, 0, 0, 0.0);
            fx.weighted = w;
            const rs_config *cfg = &fx.cfg;
            int K = cfg->n_outputs, generator = task == RS_TASK_GENERATOR;
            rs_params p;
            double *theta = new_params(cfg, 13, &p);
            rs_workspace *ws = rs_workspace_create(cfg, B, T);
            fx.distill = 0.0;
            double hard = loss_at(ws, &p, &fx, RS_INPUT_AUTO);
            if (!w) /* no dropout, no weights: the loss of an evaluation */
                ASSERT_NEAR(hard, rs_forward(ws, &p, &fx.batch, NULL), 1e-12);
            fx.distill = 0.35;
            double mixed = loss_at(ws, &p, &fx, RS_INPUT_AUTO);
            const double *logits = rs_workspace_logits(ws);
            double total = 0.0, weight = 0.0, total_hard = 0.0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < (generator ? fx.lengths[b] : 1); t++) {
                    const double *z = logits + (generator ? (size_t)t * B + b : (size_t)b) * K;
                    const double *q = fx.soft + (generator ? b * T + t : b) * K;
                    int y = generator ? fx.targets[b * T + t] : fx.targets[b];
                    double mx = z[0], sum = 0.0, ce = 0.0;
                    for (int k = 1; k < K; k++)
                        mx = fmax(mx, z[k]);
                    for (int k = 0; k < K; k++)
                        sum += exp(z[k] - mx);
                    for (int k = 0; k < K; k++) {
                        double logp = z[k] - mx - log(sum);
                        ce -= (0.65 * (k == y) + 0.35 * q[k]) * logp;
                        total_hard -= (k == y) * logp * (w ? fx.class_weight[y] : 1.0);
                    }
                    double cw = w ? fx.class_weight[y] : 1.0;
                    total += cw * ce;
                    weight += cw;
                }
            ASSERT_NEAR(mixed, total / weight, 1e-12);
            ASSERT_NEAR(hard, total_hard / weight, 1e-12);
            ASSERT_TRUE(fabs(mixed - hard) > 1e-3); /* the soft targets did change the loss */
            rs_workspace_destroy(ws);
            free(theta);
        }
}

int main(void)
{
    RUN_TEST(rnn_backward_matches_finite_differences);
    RUN_TEST(lstm_backward_matches_finite_differences);
    RUN_TEST(gru_backward_matches_finite_differences);
    RUN_TEST(padded_batch_equals_rows_alone);
    RUN_TEST(two_threads_give_the_same_numbers);
    RUN_TEST(locked_dropout_uses_one_mask_per_sequence);
    RUN_TEST(distillation_loss_is_the_mixed_cross_entropy);
    TEST_MAIN_END();
}
