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

#include "dataset.h"
#include "distill.h"
#include "flags.h"
#include "rnnserve/model.h"
#include "rnnserve/optim.h"
#include "rnnserve/sha256.h"
#include "rnnserve/status.h"
#include "transfer.h"

enum { SPECIALS = 3, PAD_ID = 0, BOS_ID = 1, EOS_ID = 2 };

typedef struct train_opts {
    const char *data, *out, *log;
    int cell, layers, hidden, embed, category_dim, bidirectional, conditional;
    double dropout, input_dropout, weight_dropout, class_weight_power;
    int locked_dropout;
    int epochs, batch_size;
    double lr, weight_decay, clip;
    int schedule, optimizer;
    double valid_fraction;
    int patience, average, dedupe;
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
static double evaluate_split(rs_workspace *ws, const rs_params *p, const rs_config *cfg,
                             batch_buf *bb, const encoded *e, const int *idx, int n, int max_b,
                             int conditional, double *accuracy)
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

/* "YYYY-MM-DD", from SOURCE_DATE_EPOCH when set (reproducible builds), else today. */
static void date_string(char out[16])
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde)
        t = (time_t)strtoll(sde, NULL, 10);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static const char *const cell_choices[] = {"rnn", "lstm", "gru", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const optim_choices[] = {"adam", "sgd", NULL};
static const char *const normalize_choices[] = {"none", "ascii-fold", NULL};

static void usage(const char *cmd, const flag *flags, int n)
{
    printf("usage: rnntrain %s --data FILE --out MODEL.safetensors [options]\n\n", cmd);
    printf("Trains a %s and writes the parameters of the epoch with the lowest validation "
           "loss.\n\noptions:\n",
           strcmp(cmd, "classifier") == 0 ? "classifier (TSV: name<TAB>label)"
                                          : "generator (TSV or one item per line)");
    flags_print(flags, n);
}

static char *training_json(const train_opts *o, const rs_dataset *d, const char *sha, int n_train,
                           int n_valid, int epochs_run, int best_epoch, double valid_loss,
                           double valid_acc, int generator, const rs_teacher_info *teachers,
                           int n_teachers, const char *transfer_sha, int n_transfer)
{
    cJSON *j = cJSON_CreateObject();
    const char *slash = strrchr(d->path, '/');
    cJSON_AddStringToObject(j, "dataset", slash ? slash + 1 : d->path);
    cJSON_AddStringToObject(j, "dataset_sha256", sha);
    cJSON_AddNumberToObject(j, "train_items", n_train);
    cJSON_AddNumberToObject(j, "valid_items", n_valid);
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddStringToObject(h, "optimizer", optim_choices[o->optimizer]);
    cJSON_AddNumberToObject(h, "lr", o->lr);
    cJSON_AddNumberToObject(h, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(h, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(h, "dropout", o->dropout);
    cJSON_AddNumberToObject(h, "input_dropout", o->input_dropout);
    cJSON_AddNumberToObject(h, "weight_dropout", o->weight_dropout);
    cJSON_AddBoolToObject(h, "locked_dropout", o->locked_dropout);
    cJSON_AddNumberToObject(h, "class_weight_power", o->class_weight_power);
    cJSON_AddNumberToObject(h, "clip", o->clip);
    cJSON_AddStringToObject(h, "schedule", schedule_choices[o->schedule]);
    cJSON_AddNumberToObject(h, "epochs", o->epochs);
    cJSON_AddNumberToObject(h, "patience", o->patience);
    cJSON_AddNumberToObject(h, "average", o->average);
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
    date_string(date);
    cJSON_AddStringToObject(j, "date", date);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
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
                    .epochs = 20,
                    .batch_size = 64,
                    .lr = 3e-3,
                    .clip = 1.0,
                    .schedule = 1,
                    .valid_fraction = 0.1,
                    .patience = 0,
                    .seed = 1,
                    .threads = 0,
                    .normalize = 1,
                    .dedupe = 1,
                    .max_chars = RS_DATA_NAME_CHARS,
                    .min_count = 1,
                    .distill = 0.5};
    flag flags[] = {
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
        {"epochs", NULL, FLAG_INT, &o.epochs, 1, 100000, NULL, "maximum epochs", 0, NULL},
        {"batch-size", NULL, FLAG_INT, &o.batch_size, 1, 4096, NULL, "items per batch", 0, NULL},
        {"lr", NULL, FLAG_DOUBLE, &o.lr, 1e-7, 10, NULL, "learning rate", 0, NULL},
        {"weight-decay", NULL, FLAG_DOUBLE, &o.weight_decay, 0, 1, NULL, "L2 weight decay", 0,
         NULL},
        {"clip", NULL, FLAG_DOUBLE, &o.clip, 0, 1e6, NULL, "gradient-norm clip, 0 = off", 0, NULL},
        {"schedule", NULL, FLAG_CHOICE, &o.schedule, 0, 0, schedule_choices,
         "learning-rate schedule", 0, NULL},
        {"optimizer", NULL, FLAG_CHOICE, &o.optimizer, 0, 0, optim_choices, "adam or sgd", 0, NULL},
        {"valid-fraction", NULL, FLAG_DOUBLE, &o.valid_fraction, 0.01, 0.5, NULL,
         "share of texts held out for validation", 0, NULL},
        {"patience", NULL, FLAG_INT, &o.patience, 0, 100000, NULL,
         "stop after this many epochs without improvement, 0 = off", 0, NULL},
        {"average", NULL, FLAG_INT, &o.average, 0, 100, NULL,
         "also try the mean of the last N epochs' weights, keep it if better, 0 = off", 0, NULL},
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
        {"log", NULL, FLAG_STRING, &o.log, 0, 0, NULL, "write per-epoch figures as CSV", 0, NULL},
        {"teachers", NULL, FLAG_STRING, &o.teachers, 0, 0, NULL,
         "MODEL[:DATA],...: distil from the mean prediction of these models; :DATA = do not teach "
         "its texts",
         0, NULL},
        {"distill", NULL, FLAG_DOUBLE, &o.distill, 0, 1, NULL,
         "with --teachers: weight of their distribution in each target (1 = theirs only)", 0, NULL},
        {"transfer", NULL, FLAG_STRING, &o.transfer, 0, 0, NULL,
         "with --teachers: also train on these texts, labelled by the teachers only", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    const char *cmd = generator ? "generator" : "classifier";
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(cmd, flags, n_flags);
            return 0;
        }
    char err[512];
    if (flags_parse(flags, n_flags, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", cmd, err);
        return 2;
    }
    if (!o.data || !o.out) {
        fprintf(stderr, "rnntrain %s: --data and --out are required (see --help)\n", cmd);
        return 2;
    }
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
    float *theta = NULL, *grad = NULL, *best = NULL, *avg = NULL, *ring = NULL;
    int *batch_order = NULL; /* with --length-buckets: the epoch's order of batches */
    rs_real *class_weight = NULL;
    rs_workspace *ws = NULL;
    rs_optim opt = {0};
    batch_buf bb = {0};
    char **vocab = NULL;
    char *tjson = NULL;
    FILE *logf = NULL;

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
    best = calloc(n_params, sizeof *best);
    if (o.average > 0) {
        avg = calloc(n_params, sizeof *avg);
        ring = calloc(n_params * (size_t)o.average, sizeof *ring);
    }
    ws = rs_workspace_create(&cfg, eval_b, max_t);
    if (!theta || !grad || !best || !ws || (o.average > 0 && (!avg || !ring)) ||
        batch_buf_init(&bb, eval_b, max_t, e.soft ? e.K : 0) != 0 ||
        rs_optim_init(&opt, (rs_optim_kind)o.optimizer, n_params, o.lr, o.weight_decay) != 0) {
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
    rs_params p, g;
    rs_params_bind(&cfg, theta, &p);
    rs_params_bind(&cfg, grad, &g);
    rs_rng rng;
    rs_rng_seed(&rng, o.seed);
    rs_params_init(&cfg, &p, &rng);
    rs_forward_opts fopts = {.dropout = (rs_real)o.dropout,
                             .input_dropout = (rs_real)o.input_dropout,
                             .weight_dropout = (rs_real)o.weight_dropout,
                             .locked_dropout = o.locked_dropout,
                             .class_weight = class_weight,
                             .distill = e.soft ? (rs_real)o.distill : 0,
                             .rng = &rng};

    if (o.log) {
        logf = fopen(o.log, "w");
        if (!logf) {
            fprintf(stderr, "rnntrain %s: %s: cannot create the log\n", cmd, o.log);
            goto done;
        }
        fprintf(logf,
                "epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n");
    }

    int tty = isatty(STDERR_FILENO);
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

    long steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
    long total_steps = steps_per_epoch * o.epochs, step = 0;
    double best_loss = INFINITY, best_acc = 0.0, t0 = now_seconds();
    int best_epoch = 0, since_best = 0, epoch = 0, best_is_average = 0;
    for (epoch = 1; epoch <= o.epochs; epoch++) {
        rs_rng_shuffle(&rng, train_idx, n_train);
        if (batch_order) {
            /* runs of length_buckets batches sorted by length, then the
             * batches in a random order */
            int run = o.batch_size * o.length_buckets;
            for (int at = 0; at < n_train; at += run)
                sort_by_length(train_idx + at, n_train - at < run ? n_train - at : run, &e);
            for (int b = 0; b < n_batches; b++)
                batch_order[b] = b;
            rs_rng_shuffle(&rng, batch_order, n_batches);
        }
        double epoch_loss = 0.0, epoch_weight = 0.0, te = now_seconds(), last_print = 0;
        long chars = 0;
        for (int bi = 0; bi < n_batches; bi++) {
            int start = (batch_order ? batch_order[bi] : bi) * o.batch_size;
            int count = n_train - start < o.batch_size ? n_train - start : o.batch_size;
            long c = fill_batch(&bb, &e, train_idx + start, count, generator, o.conditional);
            double loss = rs_forward(ws, &p, &bb.batch, &fopts);
            memset(grad, 0, n_params * sizeof *grad);
            rs_backward(ws, &p, &g, &bb.batch);
            if (o.clip > 0)
                rs_clip_grad_norm(grad, n_params, o.clip);
            double lr = rs_schedule_lr((rs_schedule)o.schedule, o.lr, step, total_steps);
            rs_optim_step(&opt, theta, grad, lr);
            step++;
            chars += c;
            double w = generator ? (double)c : (double)count;
            epoch_loss += loss * w;
            epoch_weight += w;
            double now = now_seconds();
            if (tty && now - last_print > 0.25) {
                double rate = chars / (now - te + 1e-9);
                double eta = (double)(total_steps - step) * (now - t0) / (double)step;
                fprintf(stderr,
                        "\repoch %d/%d  step %ld/%ld  loss %.4f  %.0f chars/s  ETA %.0fs   ", epoch,
                        o.epochs, step - (epoch - 1) * steps_per_epoch, steps_per_epoch,
                        epoch_loss / epoch_weight, rate, eta);
                last_print = now;
            }
        }
        double elapsed = now_seconds() - te, acc = 0.0;
        double vloss =
            evaluate_split(ws, &p, &cfg, &bb, &e, valid_idx, n_valid, eval_b, o.conditional, &acc);
        double lr_now = rs_schedule_lr((rs_schedule)o.schedule, o.lr, step, total_steps);
        int improved = vloss < best_loss;
        if (improved) {
            best_loss = vloss;
            best_acc = acc;
            best_epoch = epoch;
            best_is_average = 0;
            memcpy(best, theta, n_params * sizeof *theta);
            since_best = 0;
        } else {
            since_best++;
        }
        if (o.average > 0) {
            /* keep the last N epochs' weights; their mean often generalises better */
            memcpy(ring + (size_t)((epoch - 1) % o.average) * n_params, theta,
                   n_params * sizeof *theta);
        }
        if (tty)
            fputc('\r', stderr);
        fprintf(stderr, "epoch %d/%d  train %.4f  valid %.4f", epoch, o.epochs,
                epoch_loss / epoch_weight, vloss);
        if (!generator)
            fprintf(stderr, "  valid accuracy %.4f", acc);
        fprintf(stderr, "  %.0f chars/s  %.1fs%s\n", chars / (elapsed + 1e-9), elapsed,
                improved ? "  *" : "");
        if (logf) {
            fprintf(logf, "%d,%ld,%.6f,%.6f,%.6f,%.6g,%.0f,%.2f\n", epoch, step,
                    epoch_loss / epoch_weight, vloss, generator ? 0.0 : acc, lr_now,
                    chars / (elapsed + 1e-9), now_seconds() - t0);
            fflush(logf);
        }
        if (o.patience > 0 && since_best >= o.patience) {
            fprintf(stderr, "no improvement for %d epochs: stopping\n", o.patience);
            epoch++;
            break;
        }
    }
    int epochs_run = epoch - 1;
    if (o.average > 0 && epochs_run >= o.average) {
        for (size_t i = 0; i < n_params; i++) {
            double s = 0.0;
            for (int k = 0; k < o.average; k++)
                s += ring[(size_t)k * n_params + i];
            avg[i] = (float)(s / o.average);
        }
        rs_params pa;
        rs_params_bind(&cfg, avg, &pa);
        double acc = 0.0;
        double vloss =
            evaluate_split(ws, &pa, &cfg, &bb, &e, valid_idx, n_valid, eval_b, o.conditional, &acc);
        fprintf(stderr, "mean of the last %d epochs: valid %.4f (best single epoch %.4f)\n",
                o.average, vloss, best_loss);
        if (vloss < best_loss) {
            best_loss = vloss;
            best_acc = acc;
            best_epoch = epochs_run;
            best_is_average = 1;
            memcpy(best, avg, n_params * sizeof *avg);
        }
    }

    /* write the best parameters */
    tjson = training_json(&o, &d, sha, n_own_train, n_valid, epochs_run, best_epoch, best_loss,
                          best_acc, generator, teacher_info, n_teachers, transfer_sha,
                          n_train - n_own_train);
    rs_params pb;
    rs_params_bind(&cfg, best, &pb);
    rs_model_spec spec = {.cfg = cfg,
                          .vocab = (const char *const *)vocab,
                          .labels = generator ? NULL : (const char *const *)d.labels,
                          .categories = o.conditional ? (const char *const *)d.labels : NULL,
                          .normalize = (rs_normalize)o.normalize,
                          .training_json = tjson};
    if (rs_model_write(o.out, &spec, &pb, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", cmd, err);
        goto done;
    }
    fprintf(stderr, "wrote %s: %s of epoch %d, valid %s %.4f, %.1fs\n", o.out,
            best_is_average ? "averaged weights" : "weights", best_epoch,
            generator ? "nll/token" : "nll", best_loss, now_seconds() - t0);
    status = 0;
done:
    if (logf)
        fclose(logf);
    if (vocab)
        for (int i = 0; i < SPECIALS + cs.n + cs.has_unk; i++)
            free(vocab[i]);
    free(vocab);
    free(tjson);
    batch_buf_free(&bb);
    rs_optim_free(&opt);
    rs_workspace_destroy(ws);
    free(theta);
    free(grad);
    free(best);
    free(batch_order);
    free(avg);
    free(ring);
    free(class_weight);
    free(train_idx);
    free(valid_idx);
    encoded_free(&e);
    rs_charset_free(&cs);
    rs_dataset_free(&d);
    free(teacher_list);
    return status;
}
