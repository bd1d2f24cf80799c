/*
 * train.c — `rnntrain classifier` and `rnntrain generator`: read a dataset,
 * split off a validation set (grouped by text, stratified by label), train
 * with minibatch BPTT, keep the parameters of the epoch with the lowest
 * validation loss, and write them as a model file (atomically).
 *
 * Batches: items are shuffled each epoch (seeded) and padded to the longest
 * row of their batch.  A classifier reads the characters; a generator reads
 * <bos> c1 … cL and predicts c1 … cL <eos>.
 */
#include "train.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"
#include "dataset.h"
#include "distill.h"
#include "flags.h"
#include "loop.h"
#include "rnnserve/model.h"
#include "rnnserve/optim.h"
#include "rnnserve/sha256.h"
#include "rnnserve/status.h"
#include "transfer.h"

enum { SPECIALS = 3, PAD_ID = 0, BOS_ID = 1, EOS_ID = 2 };

typedef struct train_opts {
    const char *data, *out;
    int cell, layers, hidden, embed, category_dim, bidirectional, conditional;
    double dropout, input_dropout, weight_dropout, class_weight_power;
    int locked_dropout;
    int batch_size;
    double valid_fraction;
    int dedupe;
    uint64_t seed;
    int threads, normalize;
    int max_chars;        /* longest item accepted */
    int min_count;        /* characters seen fewer times read as <unk> (when > 1) */
    int length_buckets;   /* > 0: items sorted by length within runs of this many batches */
    const char *teachers; /* MODEL[:DATA],... (distill.h), or NULL */
    double distill;
    const char *transfer; /* texts only the teachers label (transfer.h), or NULL */
} train_opts;

/* Items encoded once: tokens, targets and lengths of every item, flat. */
typedef struct encoded {
    int32_t *tokens;  /* concatenated inputs */
    int32_t *targets; /* generator: concatenated next tokens; classifier: one label per item */
    int *offset;      /* (n) start of item i in tokens */
    int *length;      /* (n) steps of item i */
    int *label;       /* (n) label or category, -1 if none */
    int n;
    rs_real *soft; /* distillation: (rows of targets, K) teachers' distributions, else NULL */
    int K;
} encoded;

static void encoded_free(encoded *e)
{
    free(e->tokens);
    free(e->targets);
    free(e->offset);
    free(e->length);
    free(e->label);
    free(e->soft);
}

static int encode_items(const rs_dataset *d, const rs_charset *cs, int generator, encoded *e)
{
    memset(e, 0, sizeof *e);
    size_t total = 0;
    for (int i = 0; i < d->n; i++)
        total += (size_t)rs_item_length(&d->items[i]) + (generator ? 1 : 0);
    e->n = d->n;
    e->tokens = malloc((total + 1) * sizeof *e->tokens);
    e->targets = malloc((generator ? total + 1 : (size_t)d->n + 1) * sizeof *e->targets);
    e->offset = malloc(((size_t)d->n + 1) * sizeof *e->offset);
    e->length = malloc(((size_t)d->n + 1) * sizeof *e->length);
    e->label = malloc(((size_t)d->n + 1) * sizeof *e->label);
    if (!e->tokens || !e->targets || !e->offset || !e->length || !e->label)
        return RS_ENOMEM;
    size_t pos = 0;
    for (int i = 0; i < d->n; i++) {
        const char *s = d->items[i].text;
        size_t len = strlen(s);
        e->offset[i] = (int)pos;
        e->label[i] = d->items[i].label;
        if (generator)
            e->tokens[pos++] = BOS_ID;
        for (size_t b = 0; b < len;) {
            uint32_t cp;
            int k = rs_utf8_decode(s + b, len - b, &cp);
            b += (size_t)k;
            int id = rs_charset_find(cs, cp); /* -1: rare, <unk> after the characters */
            e->tokens[pos++] = id >= 0 ? SPECIALS + id : SPECIALS + cs->n;
        }
        e->length[i] = (int)pos - e->offset[i];
        if (generator) {
            for (int t = 0; t < e->length[i] - 1; t++)
                e->targets[e->offset[i] + t] = e->tokens[e->offset[i] + t + 1];
            e->targets[e->offset[i] + e->length[i] - 1] = EOS_ID;
        } else {
            e->targets[i] = d->items[i].label;
        }
    }
    e->offset[d->n] = (int)pos;
    return 0;
}

/* Fills e->soft with the teachers' mean distribution for every target
 * (distill.h), computed once before training. */
static int teach(encoded *e, const rs_config *cfg, const rs_dataset *d, const char *const *outputs,
                 rs_normalize normalize, const char *const *paths, const char *const *seen,
                 int n_teachers, rs_teacher_info *info, char *err, size_t errlen)
{
    int generator = cfg->task == RS_TASK_GENERATOR;
    size_t rows = generator ? (size_t)e->offset[e->n] : (size_t)e->n;
    int *first_row = malloc(((size_t)e->n + 1) * sizeof *first_row);
    e->K = cfg->n_outputs;
    e->soft = malloc(rows * (size_t)e->K * sizeof *e->soft);
    if (!first_row || !e->soft) {
        free(first_row);
        snprintf(err, errlen, "out of memory");
        return RS_ENOMEM;
    }
    for (int i = 0; i <= e->n; i++)
        first_row[i] = generator ? e->offset[i] : i;
    rs_distill_student student = {.cfg = cfg, .outputs = outputs, .normalize = normalize};
    int status = rs_distill_targets(paths, seen, n_teachers, &student, d, first_row, e->targets,
                                    rows, e->soft, info, err, errlen);
    free(first_row);
    return status;
}

/* A classifier's transfer items (label -1) take the teachers' likeliest
 * label as their own; items that no teacher taught (all excluded by
 * MODEL:DATA) leave the training set.  Returns the items kept. */
static int label_transfer_items(encoded *e, int *train_idx, int n_train)
{
    int kept = 0;
    for (int i = 0; i < n_train; i++) {
        int it = train_idx[i];
        if (e->label[it] < 0) {
            const rs_real *q = e->soft + (size_t)it * e->K;
            int best = 0;
            for (int k = 1; k < e->K; k++)
                best = q[k] > q[best] ? k : best;
            if (q[best] <= 0)
                continue;
            e->label[it] = e->targets[it] = best;
        }
        train_idx[kept++] = it;
    }
    return kept;
}

/* Batch buffers for up to max_b rows of max_t steps. */
typedef struct batch_buf {
    int32_t *tokens, *targets, *lengths, *categories;
    rs_real *soft; /* (max_b, max_t, K) when distilling, else NULL */
    rs_batch batch;
} batch_buf;

/* K > 0: also room for the soft targets of K outputs. */
static int batch_buf_init(batch_buf *bb, int max_b, int max_t, int K)
{
    if (K > 0 && !(bb->soft = calloc((size_t)max_b * max_t * K, sizeof *bb->soft)))
        return RS_ENOMEM;
    bb->tokens = calloc((size_t)max_b * max_t, sizeof(int32_t));
    bb->targets = calloc((size_t)max_b * max_t, sizeof(int32_t));
    bb->lengths = calloc((size_t)max_b, sizeof(int32_t));
    bb->categories = calloc((size_t)max_b, sizeof(int32_t));
    return bb->tokens && bb->targets && bb->lengths && bb->categories ? 0 : RS_ENOMEM;
}

static void batch_buf_free(batch_buf *bb)
{
    free(bb->tokens);
    free(bb->targets);
    free(bb->lengths);
    free(bb->categories);
    free(bb->soft);
}

/* Fills bb with items idx[0..n) padded to their longest, rows ordered longest
 * first (ties by position, so deterministic) so that the recurrent products
 * skip finished rows; returns chars fed. */
static long fill_batch(batch_buf *bb, const encoded *e, const int *idx_in, int n, int generator,
                       int conditional)
{
    int idx[4096];
    memcpy(idx, idx_in, (size_t)n * sizeof *idx);
    for (int i = 1; i < n; i++) { /* insertion sort: batches are small */
        int v = idx[i], j = i;
        while (j > 0 && e->length[idx[j - 1]] < e->length[v]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    int T = 1;
    for (int i = 0; i < n; i++)
        T = e->length[idx[i]] > T ? e->length[idx[i]] : T;
    long chars = 0;
    for (int i = 0; i < n; i++) {
        int it = idx[i], L = e->length[it];
        bb->lengths[i] = L;
        bb->categories[i] = conditional ? e->label[it] : 0;
        for (int t = 0; t < T; t++) {
            bb->tokens[(size_t)i * T + t] = t < L ? e->tokens[e->offset[it] + t] : PAD_ID;
            if (generator)
                bb->targets[(size_t)i * T + t] = t < L ? e->targets[e->offset[it] + t] : 0;
        }
        if (!generator)
            bb->targets[i] = e->targets[it];
        if (bb->soft) { /* rows as the targets: (B, K) or (B, T, K) */
            size_t rows = generator ? (size_t)L : 1, K = (size_t)e->K;
            memcpy(bb->soft + (generator ? (size_t)i * T : (size_t)i) * K,
                   e->soft + (generator ? (size_t)e->offset[it] : (size_t)it) * K,
                   rows * K * sizeof *bb->soft);
        }
        chars += L;
    }
    bb->batch = (rs_batch){.B = n,
                           .T = T,
                           .tokens = bb->tokens,
                           .lengths = bb->lengths,
                           .categories = conditional ? bb->categories : NULL,
                           .targets = bb->targets,
                           .soft_targets = bb->soft};
    return chars;
}

/* Sorts idx[0..n) by item length, longest first, keeping the order of
 * items of one length (insertion sort: runs of a few thousand at most). */
static void sort_by_length(int *idx, int n, const encoded *e)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i;
        while (j > 0 && e->length[idx[j - 1]] < e->length[v]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* Mean loss (per item or per token) and, for a classifier, accuracy over idx. */
/* Mean loss (and a classifier's accuracy) of items idx[0..n); a
 * classifier's logits (n, K) and targets (n) into logits_out and
 * targets_out when they are not NULL (calibration). */
static double evaluate_split(rs_workspace *ws, const rs_params *p, const rs_config *cfg,
                             batch_buf *bb, const encoded *e, const int *idx, int n, int max_b,
                             int conditional, double *accuracy, float *logits_out, int *targets_out)
{
    int generator = cfg->task == RS_TASK_GENERATOR;
    double total = 0.0, weight = 0.0;
    long correct = 0;
    for (int start = 0; start < n; start += max_b) {
        int count = n - start < max_b ? n - start : max_b;
        long chars = fill_batch(bb, e, idx + start, count, generator, conditional);
        double loss = rs_forward(ws, p, &bb->batch, NULL);
        double w = generator ? (double)chars : (double)count;
        total += loss * w;
        weight += w;
        if (!generator) {
            const float *logits = rs_workspace_logits(ws);
            int K = cfg->n_outputs;
            for (int b = 0; b < count; b++) {
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (logits[(size_t)b * K + k] > logits[(size_t)b * K + best])
                        best = k;
                correct += best == bb->targets[b];
                if (logits_out) {
                    memcpy(logits_out + (size_t)(start + b) * K, logits + (size_t)b * K,
                           (size_t)K * sizeof *logits);
                    targets_out[start + b] = bb->targets[b];
                }
            }
        }
    }
    if (accuracy)
        *accuracy = n ? (double)correct / n : 0.0;
    return weight > 0 ? total / weight : 0.0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *const cell_choices[] = {"rnn", "lstm", "gru", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const optim_choices[] = {"adam", "sgd", NULL};
static const char *const normalize_choices[] = {"none", "ascii-fold", NULL};

static char *training_json(const train_opts *o, const rs_loop_opts *lo, const rs_dataset *d,
                           const char *sha, int n_train, int n_valid, int epochs_run,
                           int best_epoch, double valid_loss, double valid_acc, int generator,
                           const rs_teacher_info *teachers, int n_teachers,
                           const char *transfer_sha, int n_transfer)
{
    cJSON *j = cJSON_CreateObject();
    const char *slash = strrchr(d->path, '/');
    cJSON_AddStringToObject(j, "dataset", slash ? slash + 1 : d->path);
    cJSON_AddStringToObject(j, "dataset_sha256", sha);
    cJSON_AddNumberToObject(j, "train_items", n_train);
    cJSON_AddNumberToObject(j, "valid_items", n_valid);
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddStringToObject(h, "optimizer", optim_choices[lo->optimizer]);
    cJSON_AddNumberToObject(h, "lr", lo->lr);
    cJSON_AddNumberToObject(h, "weight_decay", lo->weight_decay);
    cJSON_AddNumberToObject(h, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(h, "dropout", o->dropout);
    cJSON_AddNumberToObject(h, "input_dropout", o->input_dropout);
    cJSON_AddNumberToObject(h, "weight_dropout", o->weight_dropout);
    cJSON_AddBoolToObject(h, "locked_dropout", o->locked_dropout);
    cJSON_AddNumberToObject(h, "class_weight_power", o->class_weight_power);
    cJSON_AddNumberToObject(h, "clip", lo->clip);
    cJSON_AddStringToObject(h, "schedule", schedule_choices[lo->schedule]);
    cJSON_AddNumberToObject(h, "epochs", lo->epochs);
    cJSON_AddNumberToObject(h, "patience", lo->patience);
    cJSON_AddNumberToObject(h, "average", lo->average);
    cJSON_AddNumberToObject(h, "valid_fraction", o->valid_fraction);
    cJSON_AddBoolToObject(h, "dedupe", o->dedupe);
    if (n_teachers > 0) {
        cJSON *ds = cJSON_AddObjectToObject(j, "distillation");
        cJSON_AddNumberToObject(ds, "weight", o->distill);
        cJSON *list = cJSON_AddArrayToObject(ds, "teachers");
        for (int i = 0; i < n_teachers; i++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "file", teachers[i].file);
            cJSON_AddStringToObject(t, "sha256", teachers[i].sha256);
            if (teachers[i].seen[0])
                cJSON_AddStringToObject(t, "not_teaching", teachers[i].seen);
            cJSON_AddItemToArray(list, t);
        }
        if (o->transfer) {
            cJSON *t = cJSON_AddObjectToObject(ds, "transfer");
            slash = strrchr(o->transfer, '/');
            cJSON_AddStringToObject(t, "file", slash ? slash + 1 : o->transfer);
            cJSON_AddStringToObject(t, "sha256", transfer_sha);
            cJSON_AddNumberToObject(t, "items", n_transfer);
        }
    }
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "epochs_run", epochs_run);
    cJSON_AddNumberToObject(j, "best_epoch", best_epoch);
    cJSON *v = cJSON_AddObjectToObject(j, "validation");
    if (generator) {
        cJSON_AddNumberToObject(v, "nll_per_token", valid_loss);
    } else {
        cJSON_AddNumberToObject(v, "nll", valid_loss);
        cJSON_AddNumberToObject(v, "accuracy", valid_acc);
    }
    char date[16];
    rs_loop_date(date);
    cJSON_AddStringToObject(j, "date", date);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- the loop's callbacks ----------------------------------------------- */

/* Everything the callbacks need. */
typedef struct train_run {
    const train_opts *o;
    const rs_loop_opts *lo;
    rs_config cfg;
    const rs_dataset *d;
    const encoded *e;
    batch_buf *bb;
    rs_workspace *ws;
    rs_params p, g;
    rs_forward_opts fopts;
    int *train_idx, n_train, n_own_train;
    int *valid_idx, n_valid;
    int n_batches;
    int *batch_order; /* with --length-buckets: the epoch's order of batches, else NULL */
    int eval_b, generator;
    char **vocab;
    const char *sha, *transfer_sha;
    const rs_teacher_info *teacher_info;
    int n_teachers;
    double temperature; /* a classifier's calibration, 0 until fitted */
    double ece_before, ece_after;
} train_run;

/* The flags and files a checkpoint must match (the loop adds its own). */
static char *signature(const train_opts *o, const char *cmd, const char *sha,
                       const char *transfer_sha, const rs_teacher_info *teachers, int n_teachers,
                       int vocab)
{
    char buf[4096];
    int n = snprintf(
        buf, sizeof buf,
        "task=%s data=%s transfer=%s vocab=%d cell=%s layers=%d hidden=%d embed=%d cdim=%d "
        "bi=%d cond=%d dropout=%.17g idrop=%.17g wdrop=%.17g locked=%d cwp=%.17g batch=%d "
        "valid=%.17g dedupe=%d max_chars=%d min_count=%d buckets=%d normalize=%d distill=%.17g "
        "seed=%llu",
        cmd, sha, transfer_sha, vocab, cell_choices[o->cell], o->layers, o->hidden, o->embed,
        o->category_dim, o->bidirectional, o->conditional, o->dropout, o->input_dropout,
        o->weight_dropout, o->locked_dropout, o->class_weight_power, o->batch_size,
        o->valid_fraction, o->dedupe, o->max_chars, o->min_count, o->length_buckets, o->normalize,
        o->distill, (unsigned long long)o->seed);
    for (int i = 0; i < n_teachers && n > 0 && (size_t)n < sizeof buf; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " teacher=%s", teachers[i].sha256);
    return strdup(buf);
}

/* A new epoch: the items shuffled (with --length-buckets, runs of batches
 * sorted by length and the batches in a random order). */
static long items_begin_epoch(void *ctx, rs_rng *rng)
{
    train_run *R = ctx;
    rs_rng_shuffle(rng, R->train_idx, R->n_train);
    if (R->batch_order) {
        int run = R->o->batch_size * R->o->length_buckets;
        for (int at = 0; at < R->n_train; at += run)
            sort_by_length(R->train_idx + at, R->n_train - at < run ? R->n_train - at : run, R->e);
        for (int b = 0; b < R->n_batches; b++)
            R->batch_order[b] = b;
        rs_rng_shuffle(rng, R->batch_order, R->n_batches);
    }
    return R->n_batches;
}

static double items_step(void *ctx, long index, double *weight, long *units)
{
    train_run *R = ctx;
    int B = R->o->batch_size;
    int start = (R->batch_order ? R->batch_order[index] : (int)index) * B;
    int count = R->n_train - start < B ? R->n_train - start : B;
    long c = fill_batch(R->bb, R->e, R->train_idx + start, count, R->generator, R->o->conditional);
    double loss = rs_forward(R->ws, &R->p, &R->bb->batch, &R->fopts);
    rs_backward(R->ws, &R->p, &R->g, &R->bb->batch);
    *weight = R->generator ? (double)c : (double)count;
    *units = c;
    return loss;
}

static double items_validate(void *ctx, const float *theta, double *accuracy)
{
    train_run *R = ctx;
    rs_params p;
    rs_params_bind(&R->cfg, (float *)theta, &p);
    return evaluate_split(R->ws, &p, &R->cfg, R->bb, R->e, R->valid_idx, R->n_valid, R->eval_b,
                          R->o->conditional, accuracy, NULL, NULL);
}

static int items_write(void *ctx, const float *theta, const rs_loop_result *r, char *err,
                       size_t errlen)
{
    train_run *R = ctx;
    char *tjson =
        training_json(R->o, R->lo, R->d, R->sha, R->n_own_train, R->n_valid, r->epochs_run,
                      r->best_epoch, r->best_loss, r->best_accuracy, R->generator, R->teacher_info,
                      R->n_teachers, R->transfer_sha, R->n_train - R->n_own_train);
    if (!tjson) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (R->temperature > 0) { /* the calibration fitted after training */
        cJSON *j = cJSON_Parse(tjson);
        cJSON *c = j ? cJSON_AddObjectToObject(j, "calibration") : NULL;
        if (c) {
            cJSON_AddNumberToObject(c, "temperature", R->temperature);
            cJSON_AddNumberToObject(c, "valid_ece_before", R->ece_before);
            cJSON_AddNumberToObject(c, "valid_ece_after", R->ece_after);
            char *again = cJSON_PrintUnformatted(j);
            if (again) {
                free(tjson);
                tjson = again;
            }
        }
        cJSON_Delete(j);
    }
    rs_params pb;
    rs_params_bind(&R->cfg, (float *)theta, &pb);
    rs_model_spec spec = {.cfg = R->cfg,
                          .vocab = (const char *const *)R->vocab,
                          .labels = R->generator ? NULL : (const char *const *)R->d->labels,
                          .categories =
                              R->o->conditional ? (const char *const *)R->d->labels : NULL,
                          .normalize = (rs_normalize)R->o->normalize,
                          .training_json = tjson,
                          .temperature = R->temperature};
    int rc = rs_model_write(R->o->out, &spec, &pb, err, errlen);
    free(tjson);
    return rc;
}

/* A classifier's temperature (calibrate.h), fitted on the validation items
 * with the best weights (read back from the model file the loop wrote),
 * then the model written again with it.  theta is scratch. */
static int calibrate(train_run *R, float *theta, const rs_loop_result *res, char *err,
                     size_t errlen)
{
    rs_model *m = NULL;
    if (rs_model_open(R->o->out, &m, err, errlen) != 0)
        return -1;
    rs_params p;
    rs_params_bind(&R->cfg, theta, &p);
    const rs_params *src = rs_model_params(m);
    for (int i = 0; i < rs_tensor_count(&R->cfg); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(&R->cfg, i, &d);
        memcpy(*rs_params_slot(&R->cfg, &p, i), *rs_params_slot(&R->cfg, (rs_params *)src, i),
               d.numel * sizeof(float));
    }
    rs_model_close(m);
    int K = R->cfg.n_outputs, n = R->n_valid;
    float *logits = malloc((size_t)n * K * sizeof *logits);
    int *targets = malloc((size_t)n * sizeof *targets);
    if (!logits || !targets) {
        free(logits);
        free(targets);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    evaluate_split(R->ws, &p, &R->cfg, R->bb, R->e, R->valid_idx, n, R->eval_b, R->o->conditional,
                   NULL, logits, targets);
    R->temperature = rs_fit_temperature(logits, targets, n, K);
    R->ece_before = rs_ece(logits, targets, n, K, 1);
    R->ece_after = rs_ece(logits, targets, n, K, R->temperature);
    fprintf(stderr,
            "calibrated on the validation names: temperature %.4f, nll %.4f -> %.4f, ECE %.4f -> "
            "%.4f\n",
            R->temperature, rs_nll_at(logits, targets, n, K, 1),
            rs_nll_at(logits, targets, n, K, R->temperature), R->ece_before, R->ece_after);
    free(logits);
    free(targets);
    return items_write(R, theta, res, err, errlen);
}

int rs_train_main(rs_task task, int argc, char **argv)
{
    int generator = task == RS_TASK_GENERATOR;
    train_opts o = {.cell = generator ? 1 : 2,
                    .layers = 1,
                    .hidden = 128,
                    .embed = 64,
                    .category_dim = 16,
                    .dropout = 0.1,
                    .batch_size = 64,
                    .valid_fraction = 0.1,
                    .seed = 1,
                    .threads = 0,
                    .normalize = 1,
                    .dedupe = 1,
                    .max_chars = RS_DATA_NAME_CHARS,
                    .min_count = 1,
                    .distill = 0.5};
    rs_loop_opts lo;
    rs_loop_defaults(&lo);
    flag flags[48] = {
        {"data", NULL, FLAG_STRING, &o.data, 0, 0, NULL, "training data (.tsv or .txt)", 0, NULL},
        {"out", NULL, FLAG_STRING, &o.out, 0, 0, NULL, "model file to write", 0, NULL},
        {"cell", NULL, FLAG_CHOICE, &o.cell, 0, 0, cell_choices, "rnn, lstm or gru", 0, NULL},
        {"layers", NULL, FLAG_INT, &o.layers, 1, RS_MAX_LAYERS, NULL, "stacked layers", 0, NULL},
        {"hidden", NULL, FLAG_INT, &o.hidden, 1, 2048, NULL, "hidden size", 0, NULL},
        {"embed", NULL, FLAG_INT, &o.embed, 1, 2048, NULL, "character embedding size", 0, NULL},
        {"category-dim", NULL, FLAG_INT, &o.category_dim, 1, 512, NULL,
         "category embedding size (--conditional)", 0, NULL},
        {"bidirectional", NULL, FLAG_BOOL, &o.bidirectional, 0, 0, NULL,
         "bidirectional cells (classifier)", 0, NULL},
        {"conditional", NULL, FLAG_BOOL, &o.conditional, 0, 0, NULL,
         "condition on the TSV's second column (generator)", 0, NULL},
        {"dropout", NULL, FLAG_DOUBLE, &o.dropout, 0, 0.9, NULL,
         "dropout between layers and before the head", 0, NULL},
        {"input-dropout", NULL, FLAG_DOUBLE, &o.input_dropout, 0, 0.9, NULL,
         "dropout on the character embeddings", 0, NULL},
        {"weight-dropout", NULL, FLAG_DOUBLE, &o.weight_dropout, 0, 0.9, NULL,
         "DropConnect on the recurrent weights W_hh, one mask per batch", 0, NULL},
        {"locked-dropout", NULL, FLAG_BOOL, &o.locked_dropout, 0, 0, NULL,
         "one dropout mask per sequence, the same at every step (variational)", 0, NULL},
        {"class-weight-power", NULL, FLAG_DOUBLE, &o.class_weight_power, 0, 2, NULL,
         "classifier: weight each label by (1/frequency)^power in the loss, 0 = off", 0, NULL},
        {"batch-size", NULL, FLAG_INT, &o.batch_size, 1, 4096, NULL, "items per batch", 0, NULL},
        {"valid-fraction", NULL, FLAG_DOUBLE, &o.valid_fraction, 0.01, 0.5, NULL,
         "share of texts held out for validation", 0, NULL},
        {"dedupe", NULL, FLAG_BOOL, &o.dedupe, 0, 0, NULL,
         "train on each distinct (text, label) once; false keeps repeated rows as weights", 0,
         NULL},
        {"max-chars", NULL, FLAG_INT, &o.max_chars, 1, RS_DATA_MAX_CHARS, NULL,
         "longest item accepted (a longer one is an error naming its line)", 0, NULL},
        {"min-count", NULL, FLAG_INT, &o.min_count, 1, 1000000, NULL,
         "characters seen fewer times than this read as <unk>, which the vocabulary then has "
         "(also for characters a later text brings); 1 = every character, no <unk>",
         0, NULL},
        {"length-buckets", NULL, FLAG_INT, &o.length_buckets, 0, 100000, NULL,
         "sort items by length within runs of this many batches, and take the batches in a "
         "random order: little padding for items of very different lengths (poems); 0 = off",
         0, NULL},
        {"seed", NULL, FLAG_U64, &o.seed, 0, 0, NULL, "random seed", 0, NULL},
        {"threads", NULL, FLAG_INT, &o.threads, 0, 256, NULL,
         "threads (BLAS, and a bidirectional layer's two directions), 0 = all cores", 0, NULL},
        {"normalize", NULL, FLAG_CHOICE, &o.normalize, 0, 0, normalize_choices,
         "text normalisation stored in the model", 0, NULL},
        {"teachers", NULL, FLAG_STRING, &o.teachers, 0, 0, NULL,
         "MODEL[:DATA],...: distil from the mean prediction of these models; :DATA = do not teach "
         "its texts",
         0, NULL},
        {"distill", NULL, FLAG_DOUBLE, &o.distill, 0, 1, NULL,
         "with --teachers: weight of their distribution in each target (1 = theirs only)", 0, NULL},
        {"transfer", NULL, FLAG_STRING, &o.transfer, 0, 0, NULL,
         "with --teachers: also train on these texts, labelled by the teachers only", 0, NULL},
    };
    int n_flags = 0;
    while (flags[n_flags].name)
        n_flags++;
    if (rs_loop_flags(&lo, flags, &n_flags, (int)(sizeof flags / sizeof flags[0])) != 0)
        return 2;
    const char *cmd = generator ? "generator" : "classifier";
    char prog[32], usage[256];
    snprintf(prog, sizeof prog, "rnntrain %s", cmd);
    snprintf(usage, sizeof usage,
             "usage: rnntrain %s --data FILE --out MODEL.safetensors [options]\n\n"
             "Trains a %s and writes the parameters of the epoch with the lowest validation "
             "loss.\n\noptions:\n",
             cmd,
             generator ? "generator (TSV or one item per line)"
                       : "classifier (TSV: name<TAB>label)");
    int exit_status = flags_command(prog, usage, flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!o.data || !o.out) {
        fprintf(stderr, "rnntrain %s: --data and --out are required (see --help)\n", cmd);
        return 2;
    }
    if (rs_loop_check(&lo, flags, n_flags, cmd) != 0)
        return 2;
    if (generator && o.bidirectional) {
        fprintf(stderr, "rnntrain generator: a generator cannot be bidirectional\n");
        return 2;
    }
    if (!generator && o.conditional) {
        fprintf(stderr, "rnntrain classifier: --conditional is for generators\n");
        return 2;
    }
    if (flags_find(flags, n_flags, "distill")->seen && !o.teachers) {
        fprintf(stderr, "rnntrain %s: --distill needs --teachers\n", cmd);
        return 2;
    }
    if (o.transfer && !o.teachers) {
        fprintf(stderr, "rnntrain %s: --transfer needs --teachers (they label its texts)\n", cmd);
        return 2;
    }
    char *teacher_list = NULL;
    const char *teacher_paths[RS_DISTILL_MAX_TEACHERS], *teacher_seen[RS_DISTILL_MAX_TEACHERS];
    rs_teacher_info teacher_info[RS_DISTILL_MAX_TEACHERS];
    int n_teachers = 0;
    if (o.teachers) {
        teacher_list = strdup(o.teachers);
        if (!teacher_list || rs_distill_split_list(teacher_list, teacher_paths, teacher_seen,
                                                   &n_teachers, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain %s: %s\n", cmd, teacher_list ? err : "out of memory");
            free(teacher_list);
            return 2;
        }
    }
    if (o.threads > 0)
        openblas_set_num_threads(o.threads);

    int status = 1;
    rs_dataset d = {0};
    rs_charset cs = {0};
    encoded e = {0};
    int *train_idx = NULL, *valid_idx = NULL, n_train = 0, n_valid = 0;
    float *theta = NULL, *grad = NULL;
    int *batch_order = NULL; /* with --length-buckets: the epoch's order of batches */
    rs_real *class_weight = NULL;
    rs_workspace *ws = NULL;
    batch_buf bb = {0};
    char **vocab = NULL;
    char *sig = NULL;

    if (rs_dataset_load(o.data, (rs_normalize)o.normalize, o.max_chars, &d, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", cmd, err);
        goto done;
    }
    if (!generator && !d.tsv) {
        fprintf(stderr,
                "rnntrain classifier: %s: a classifier needs a .tsv file (name<TAB>label)\n",
                o.data);
        goto done;
    }
    if (o.conditional && !d.tsv) {
        fprintf(stderr,
                "rnntrain generator: %s: --conditional needs a .tsv file (name<TAB>category)\n",
                o.data);
        goto done;
    }
    if (!generator && d.n_labels < 2) {
        fprintf(stderr, "rnntrain classifier: %s: needs at least two labels, found %d\n", o.data,
                d.n_labels);
        goto done;
    }
    if (generator && !o.conditional) {
        /* an unconditioned generator ignores the labels: texts once each */
        for (int i = 0; i < d.n; i++)
            d.items[i].label = -1;
        for (int i = 0; i < d.n_labels; i++)
            free(d.labels[i]);
        free(d.labels);
        d.labels = NULL;
        d.n_labels = 0;
    }
    char sha[65], transfer_sha[65] = "";
    if (rs_sha256_file(o.data, sha, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", cmd, err);
        goto done;
    }
    int rows_read = d.n;
    if (o.dedupe)
        rs_dataset_dedupe(&d);
    if (rs_dataset_split(&d, o.valid_fraction, o.seed, &train_idx, &n_train, &valid_idx,
                         &n_valid) != 0) {
        fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
        goto done;
    }
    if (n_train == 0 || n_valid == 0) {
        fprintf(stderr,
                "rnntrain %s: %s: too few distinct texts (%d) to hold out a validation "
                "set\n",
                cmd, o.data, d.n);
        goto done;
    }
    int n_own_train = n_train;
    if (o.transfer) {
        rs_transfer_stats ts;
        if (rs_transfer_append(&d, o.transfer, (rs_normalize)o.normalize, o.conditional, valid_idx,
                               n_valid, &train_idx, &n_train, &ts, err, sizeof err) != 0 ||
            rs_sha256_file(o.transfer, transfer_sha, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain %s: --transfer: %s\n", cmd, err);
            goto done;
        }
        fprintf(stderr, "rnntrain %s: transfer set %s: %d texts, %d dropped as validation texts\n",
                cmd, o.transfer, ts.read, ts.in_validation);
    }
    /* the vocabulary: every character of the training texts, transfer texts included */
    if (rs_charset_build(&d, o.min_count, &cs) != 0 || encode_items(&d, &cs, generator, &e) != 0) {
        fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
        goto done;
    }

    rs_config cfg = {.task = task,
                     .cell = (rs_cell)o.cell,
                     .num_layers = o.layers,
                     .hidden_size = o.hidden,
                     .embedding_dim = o.embed,
                     .category_dim = o.conditional ? o.category_dim : 0,
                     .n_categories = o.conditional ? d.n_labels : 0,
                     .bidirectional = o.bidirectional,
                     .vocab_size = SPECIALS + cs.n + cs.has_unk};
    cfg.n_outputs = generator ? cfg.vocab_size : d.n_labels;
    if (rs_config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", cmd, err);
        goto done;
    }
    /* the vocabulary's strings: the file's metadata, and what teachers are matched by */
    vocab = calloc((size_t)cfg.vocab_size, sizeof *vocab);
    int vocab_ok = vocab != NULL;
    static const char *const specials[SPECIALS] = {RS_TOKEN_PAD, RS_TOKEN_BOS, RS_TOKEN_EOS};
    for (int i = 0; vocab_ok && i < cfg.vocab_size; i++) {
        char buf[5] = {0};
        if (i >= SPECIALS && i < SPECIALS + cs.n)
            rs_utf8_encode(cs.cps[i - SPECIALS], buf);
        vocab[i] = strdup(i < SPECIALS ? specials[i] : i < SPECIALS + cs.n ? buf : RS_TOKEN_UNK);
        vocab_ok = vocab[i] != NULL;
    }
    if (!vocab_ok) {
        fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
        goto done;
    }
    if (n_teachers > 0) {
        double td = now_seconds();
        const char *const *outputs =
            generator ? (const char *const *)vocab : (const char *const *)d.labels;
        if (teach(&e, &cfg, &d, outputs, (rs_normalize)o.normalize, teacher_paths, teacher_seen,
                  n_teachers, teacher_info, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain %s: --teachers: %s\n", cmd, err);
            goto done;
        }
        fprintf(stderr,
                "rnntrain %s: distilling from %d teacher%s (weight %g), their targets in %.1fs\n",
                cmd, n_teachers, n_teachers == 1 ? "" : "s", o.distill, now_seconds() - td);
        if (!generator)
            n_train = label_transfer_items(&e, train_idx, n_train);
    }
    int max_t = 1;
    for (int i = 0; i < e.n; i++)
        max_t = e.length[i] > max_t ? e.length[i] : max_t;
    int eval_b = o.batch_size > 256 ? o.batch_size : 256;
    if (max_t > RS_DATA_NAME_CHARS + 1) { /* long items: about 64k steps a batch at most */
        int fit = 65536 / max_t;
        eval_b = fit > o.batch_size ? (fit < 256 ? fit : 256) : o.batch_size;
    }
    int n_batches = (n_train + o.batch_size - 1) / o.batch_size;
    if (o.length_buckets > 0) {
        /* validation in length order too: batches of like lengths */
        sort_by_length(valid_idx, n_valid, &e);
        if (!(batch_order = malloc((size_t)n_batches * sizeof *batch_order))) {
            fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
            goto done;
        }
    }
    size_t n_params = rs_param_count(&cfg);
    theta = calloc(n_params, sizeof *theta);
    grad = calloc(n_params, sizeof *grad);
    ws = rs_workspace_create(&cfg, eval_b, max_t);
    if (!theta || !grad || !ws || batch_buf_init(&bb, eval_b, max_t, e.soft ? e.K : 0) != 0) {
        fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
        goto done;
    }
    /* a bidirectional layer's directions on two threads when there are two */
    rs_workspace_set_threads(ws, openblas_get_num_threads());
    if (!generator && o.class_weight_power > 0) {
        /* w_k ∝ (1/n_k)^power over the training items (transfer texts by their
         * teachers' label), scaled to mean 1 per item */
        class_weight = calloc((size_t)cfg.n_outputs, sizeof *class_weight);
        long *counts = calloc((size_t)cfg.n_outputs, sizeof *counts);
        if (!class_weight || !counts) {
            free(counts);
            fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
            goto done;
        }
        for (int i = 0; i < n_train; i++)
            counts[e.label[train_idx[i]]]++;
        double mean = 0.0;
        for (int k = 0; k < cfg.n_outputs; k++) {
            class_weight[k] =
                counts[k] ? (rs_real)pow((double)counts[k], -o.class_weight_power) : 0;
            mean += counts[k] * (double)class_weight[k];
        }
        mean /= n_train;
        for (int k = 0; k < cfg.n_outputs; k++)
            class_weight[k] = (rs_real)(class_weight[k] / mean);
        free(counts);
    }
    train_run R = {.o = &o,
                   .lo = &lo,
                   .cfg = cfg,
                   .d = &d,
                   .e = &e,
                   .bb = &bb,
                   .ws = ws,
                   .train_idx = train_idx,
                   .n_train = n_train,
                   .n_own_train = n_own_train,
                   .valid_idx = valid_idx,
                   .n_valid = n_valid,
                   .n_batches = n_batches,
                   .batch_order = batch_order,
                   .eval_b = eval_b,
                   .generator = generator,
                   .vocab = vocab,
                   .sha = sha,
                   .transfer_sha = transfer_sha,
                   .teacher_info = teacher_info,
                   .n_teachers = n_teachers};
    rs_params_bind(&cfg, theta, &R.p);
    rs_params_bind(&cfg, grad, &R.g);
    rs_rng rng;
    rs_rng_seed(&rng, o.seed);
    rs_params_init(&cfg, &R.p, &rng);
    R.fopts = (rs_forward_opts){.dropout = (rs_real)o.dropout,
                                .input_dropout = (rs_real)o.input_dropout,
                                .weight_dropout = (rs_real)o.weight_dropout,
                                .locked_dropout = o.locked_dropout,
                                .class_weight = class_weight,
                                .distill = e.soft ? (rs_real)o.distill : 0,
                                .rng = &rng};

    char transfer_note[64] = "";
    if (o.transfer)
        snprintf(transfer_note, sizeof transfer_note, " + %d transfer texts",
                 n_train - n_own_train);
    fprintf(stderr,
            "rnntrain %s: %d rows, %d items (%d train, %d valid)%s, vocab %d, %s%s "
            "%dx%d, %zu parameters\n",
            cmd, rows_read, o.transfer ? d.n_own : d.n, n_own_train, n_valid, transfer_note,
            cfg.vocab_size, cfg.bidirectional ? "bidirectional " : "", rs_cell_name(cfg.cell),
            cfg.num_layers, cfg.hidden_size, n_params);
    if (cs.has_unk)
        fprintf(stderr,
                "rnntrain %s: %d distinct characters seen fewer than %d times (%ld in all) "
                "read as <unk>\n",
                cmd, cs.n_dropped, o.min_count, cs.n_rare);

    sig = signature(&o, cmd, sha, transfer_sha, teacher_info, n_teachers, cfg.vocab_size);
    if (!sig) {
        fprintf(stderr, "rnntrain %s: out of memory\n", cmd);
        goto done;
    }
    /* each epoch shuffles the order further: a checkpoint keeps it */
    rs_loop_state orders[2] = {
        {.name = "order.items", .data = train_idx, .n = (size_t)n_train, .is_int = 1},
        {.name = "order.batches", .data = batch_order, .n = (size_t)n_batches, .is_int = 1}};
    rs_loop_task loop_task = {.cmd = cmd,
                              .state = orders,
                              .n_state = batch_order ? 2 : 1,
                              .unit = "chars",
                              .has_accuracy = !generator,
                              .steps_per_epoch = n_batches,
                              .signature = sig,
                              .ctx = &R,
                              .begin_epoch = items_begin_epoch,
                              .step = items_step,
                              .validate = items_validate,
                              .write_model = items_write};
    double t0 = now_seconds();
    rs_loop_result res;
    status = rs_train_loop(&loop_task, &lo, theta, grad, n_params, &rng, &res);
    if (status == 0 && !res.stopped && !generator && res.best_epoch > 0 &&
        calibrate(&R, theta, &res, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: calibration: %s\n", cmd, err);
        status = 1;
    }
    if (res.best_epoch > 0)
        fprintf(stderr, "wrote %s: %s of epoch %d, valid %s %.4f, %.1fs\n", o.out,
                res.best_is_average ? "averaged weights" : "weights", res.best_epoch,
                generator ? "nll/token" : "nll", res.best_loss, now_seconds() - t0);
done:
    if (vocab)
        for (int i = 0; i < SPECIALS + cs.n + cs.has_unk; i++)
            free(vocab[i]);
    free(vocab);
    batch_buf_free(&bb);
    rs_workspace_destroy(ws);
    free(theta);
    free(grad);
    free(batch_order);
    free(class_weight);
    free(train_idx);
    free(valid_idx);
    encoded_free(&e);
    rs_charset_free(&cs);
    rs_dataset_free(&d);
    free(teacher_list);
    free(sig);
    return status;
}
