/*
 * translator_cmd.c — `rnntrain translator`: an encoder–decoder with
 * attention (DESIGN.md, translator; src/nn/seq2seq.c) trained on sentence
 * pairs with teacher forcing, on the shared loop (loop.c).
 *
 * Data.  The pairs (pairs.h) over --max-length tokens on either side are
 * skipped and counted.  Validation is a --valid-fraction of the pairs,
 * grouped by source sentence: every translation of a source sentence is on
 * the same side of the split, so no validation source was seen in
 * training.  Each side's vocabulary is <pad> <bos> <eos> <unk>, then the
 * tokens of the training pairs seen at least --min-count times, most
 * frequent first (ties in byte order); other tokens read as <unk>.
 *
 * --init-from.  Fine-tuning: the run takes a translator file's shape, both
 * its vocabularies (the new pairs' words outside them read as <unk>) and
 * its weights instead of random ones; the optimiser starts afresh.  Its
 * shortlist is not carried over: it was made for the old weights and data
 * (`rnntrain shortlist` makes one for the new model).
 *
 * Batches.  The source reads x1 … xn <eos>; the decoder reads <bos> y1 …
 * ym and predicts y1 … ym <eos>.  Each epoch shuffles the pairs, sorts
 * runs of 64 batches by length (little padding) and takes the batches in
 * a random order.  The loss is the mean −ln p over the batch's target
 * tokens; validation the same over all validation pairs, teacher-forced,
 * without dropout.
 */
#include "translator_cmd.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flags.h"
#include "loop.h"
#include "pairs.h"
#include "rnnserve/seq2seq.h"
#include "rnnserve/sha256.h"
#include "rnnserve/translator.h"

#define BUCKET_RUN 64 /* batches sorted by length together */

typedef struct translator_opts {
    const char *data, *out, *valid_out, *valid_data, *init_from;
    int cell, layers, hidden, embed, bidirectional;
    double dropout, teacher_forcing, valid_fraction;
    int batch_size, min_count, max_length, threads;
    uint64_t seed;
} translator_opts;

static const char *const cell_choices[] = {"rnn", "lstm", "gru", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const optim_choices[] = {"adam", "sgd", NULL};

/* Encoded pairs: ids of every pair, flat. */
typedef struct encoded_pairs {
    int n;
    int *src_off, *tgt_off; /* (n + 1) */
    int32_t *src, *tgt;     /* source ids + <eos>; target ids (no specials) */
} encoded_pairs;

typedef struct run {
    const translator_opts *o;
    const rs_loop_opts *lo;
    rs_s2s_config cfg;
    encoded_pairs e;
    int *train_idx, n_train, *valid_idx, n_valid;
    int n_batches, *batch_order;
    rs_s2s_workspace *ws;
    rs_s2s_params p, g;
    rs_s2s_opts fopts;
    int32_t *src, *src_len, *tgt_in, *tgt_out; /* one batch */
    char **src_vocab, **tgt_vocab;
    const char *sha, *valid_sha;         /* valid_sha: --valid-data's, or NULL */
    const char *init_sha;                /* --init-from's, or NULL */
    int skipped, n_pairs;                /* of --data alone when --valid-data is given */
    int valid_file_pairs, valid_skipped; /* --valid-data's */
} run;

/* ---- vocabularies ------------------------------------------------------- */

typedef struct ranked {
    const char *token;
    long count;
    int id; /* in the pairs' table */
} ranked;

static int by_count_then_bytes(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->token, y->token);
}

/* The vocabulary of one side over the training pairs: *vocab (specials
 * first), and map[table id] = vocabulary id (<unk> for the others). */
static int build_vocab(const rs_token_table *table, const int *off, const int *tok,
                       const int *train_idx, int n_train, int min_count, char ***vocab, int *V,
                       int **map)
{
    long *count = calloc((size_t)table->n + 1, sizeof *count);
    ranked *r = malloc(((size_t)table->n + 1) * sizeof *r);
    *map = malloc(((size_t)table->n + 1) * sizeof **map);
    if (!count || !r || !*map) {
        free(count);
        free(r);
        return -1;
    }
    for (int i = 0; i < n_train; i++) {
        int p = train_idx[i];
        for (int k = off[p]; k < off[p + 1]; k++)
            count[tok[k]]++;
    }
    int n = 0;
    for (int id = 0; id < table->n; id++) {
        (*map)[id] = RS_S2S_UNK;
        if (count[id] >= min_count)
            r[n++] = (ranked){table->token[id], count[id], id};
    }
    qsort(r, (size_t)n, sizeof *r, by_count_then_bytes);
    static const char *const specials[4] = {"<pad>", "<bos>", "<eos>", "<unk>"};
    *V = 4 + n;
    *vocab = calloc((size_t)*V, sizeof **vocab);
    int ok = *vocab != NULL;
    for (int i = 0; ok && i < *V; i++) {
        (*vocab)[i] = strdup(i < 4 ? specials[i] : r[i - 4].token);
        ok = (*vocab)[i] != NULL;
        if (i >= 4)
            (*map)[r[i - 4].id] = i;
    }
    free(count);
    free(r);
    return ok ? 0 : -1;
}

static void free_vocab(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* --init-from's side of the vocabularies: *vocab copies the model's
 * tokens, map[table id] = the model's id of that token (<unk> when it has
 * none, and for a data token spelt like one of the specials). */
static int vocab_of_model(const rs_translator *t, int side, const rs_token_table *table,
                          char ***vocab, int *V, int **map)
{
    const rs_s2s_config *c = rs_translator_config(t);
    *V = side ? c->tgt_vocab : c->src_vocab;
    *vocab = calloc((size_t)*V, sizeof **vocab);
    *map = malloc(((size_t)table->n + 1) * sizeof **map);
    if (!*vocab || !*map)
        return -1;
    for (int i = 0; i < *V; i++)
        if (!((*vocab)[i] = strdup(rs_translator_token(t, side, i))))
            return -1;
    for (int id = 0; id < table->n; id++)
        (*map)[id] = rs_translator_word_id(t, side, table->token[id], strlen(table->token[id]));
    return 0;
}

/* --init-from: the model's shape replaces the flags' (a shape flag given
 * with another value, or --min-count, is refused: the run could not honour
 * it).  0, or -1 with a message. */
static int shape_of_model(const rs_translator *t, translator_opts *o, const flag *flags,
                          int n_flags, char *err, size_t errlen)
{
    const rs_s2s_config *c = rs_translator_config(t);
    struct {
        const char *name;
        int given, model;
    } shape[] = {{"cell", o->cell, (int)c->cell},
                 {"layers", o->layers, c->num_layers},
                 {"hidden", o->hidden, c->hidden_size},
                 {"embed", o->embed, c->embedding_dim},
                 {"bidirectional", o->bidirectional, c->bidirectional}};
    for (size_t i = 0; i < sizeof shape / sizeof shape[0]; i++) {
        if (!flags_find(flags, n_flags, shape[i].name)->seen || shape[i].given == shape[i].model)
            continue;
        char value[16];
        if (strcmp(shape[i].name, "cell") == 0)
            snprintf(value, sizeof value, "%s", cell_choices[shape[i].model]);
        else if (strcmp(shape[i].name, "bidirectional") == 0)
            snprintf(value, sizeof value, "%s", shape[i].model ? "true" : "false");
        else
            snprintf(value, sizeof value, "%d", shape[i].model);
        snprintf(err, errlen, "--%s: the --init-from model has %s %s", shape[i].name, shape[i].name,
                 value);
        return -1;
    }
    if (flags_find(flags, n_flags, "min-count")->seen) {
        snprintf(err, errlen, "--min-count: the vocabularies are the --init-from model's");
        return -1;
    }
    if (rs_translator_elision(t, 0) != 0 || rs_translator_elision(t, 1) != 1) {
        snprintf(err, errlen,
                 "--init-from: its tokenizer cuts elided articles off %s, this one off the "
                 "target (French) side only",
                 rs_translator_elision(t, 0) ? "the source side" : "neither side");
        return -1;
    }
    o->cell = (int)c->cell;
    o->layers = c->num_layers;
    o->hidden = c->hidden_size;
    o->embed = c->embedding_dim;
    o->bidirectional = c->bidirectional;
    return 0;
}

/* ---- batches ------------------------------------------------------------ */

static int pair_len(const encoded_pairs *e, int i)
{
    /* source length first, then target length (each below 100,000) */
    return (e->src_off[i + 1] - e->src_off[i]) * 100000 + (e->tgt_off[i + 1] - e->tgt_off[i]);
}

static const encoded_pairs *sort_pairs;
static int by_length(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int lx = pair_len(sort_pairs, x), ly = pair_len(sort_pairs, y);
    return lx != ly ? lx - ly : x - y;
}

static void sort_by_length(int *idx, int n, const encoded_pairs *e)
{
    sort_pairs = e;
    qsort(idx, (size_t)n, sizeof *idx, by_length);
}

/* Fills R's batch buffers with pairs idx[0..count); returns the batch. */
static rs_pair_batch fill(run *R, const int *idx, int count)
{
    const encoded_pairs *e = &R->e;
    int S = 1, T = 1;
    for (int b = 0; b < count; b++) {
        int p = idx[b];
        int s = e->src_off[p + 1] - e->src_off[p], t = e->tgt_off[p + 1] - e->tgt_off[p] + 1;
        S = s > S ? s : S;
        T = t > T ? t : T;
    }
    for (int b = 0; b < count; b++) {
        int p = idx[b];
        int s = e->src_off[p + 1] - e->src_off[p], m = e->tgt_off[p + 1] - e->tgt_off[p];
        const int32_t *x = e->src + e->src_off[p], *y = e->tgt + e->tgt_off[p];
        R->src_len[b] = s;
        for (int i = 0; i < S; i++)
            R->src[(size_t)b * S + i] = i < s ? x[i] : RS_S2S_PAD;
        for (int t = 0; t < T; t++) {
            R->tgt_in[(size_t)b * T + t] = t == 0 ? RS_S2S_BOS : t <= m ? y[t - 1] : RS_S2S_PAD;
            R->tgt_out[(size_t)b * T + t] = t < m ? y[t] : t == m ? RS_S2S_EOS : -1;
        }
    }
    return (rs_pair_batch){.B = count,
                           .S = S,
                           .T = T,
                           .src = R->src,
                           .src_len = R->src_len,
                           .tgt_in = R->tgt_in,
                           .tgt_out = R->tgt_out};
}

/* ---- the loop's callbacks ----------------------------------------------- */

static long tr_begin_epoch(void *ctx, rs_rng *rng)
{
    run *R = ctx;
    rs_rng_shuffle(rng, R->train_idx, R->n_train);
    int span = R->o->batch_size * BUCKET_RUN;
    for (int at = 0; at < R->n_train; at += span)
        sort_by_length(R->train_idx + at, R->n_train - at < span ? R->n_train - at : span, &R->e);
    for (int b = 0; b < R->n_batches; b++)
        R->batch_order[b] = b;
    rs_rng_shuffle(rng, R->batch_order, R->n_batches);
    return R->n_batches;
}

static double tr_step(void *ctx, long index, double *weight, long *units)
{
    run *R = ctx;
    int B = R->o->batch_size, start = R->batch_order[index] * B;
    int count = R->n_train - start < B ? R->n_train - start : B;
    rs_pair_batch batch = fill(R, R->train_idx + start, count);
    double loss = rs_s2s_forward(R->ws, &R->p, &batch, &R->fopts);
    rs_s2s_backward(R->ws, &R->p, &R->g, &batch);
    long targets = rs_s2s_target_count(R->ws);
    *weight = (double)targets;
    *units = targets;
    return loss;
}

static double tr_validate(void *ctx, const float *theta, double *accuracy)
{
    run *R = ctx;
    rs_s2s_params p;
    rs_s2s_params_bind(&R->cfg, (float *)theta, &p);
    double total = 0;
    long count = 0;
    for (int at = 0; at < R->n_valid; at += R->o->batch_size) {
        int n = R->n_valid - at < R->o->batch_size ? R->n_valid - at : R->o->batch_size;
        rs_pair_batch batch = fill(R, R->valid_idx + at, n);
        double loss = rs_s2s_forward(R->ws, &p, &batch, NULL);
        long c = rs_s2s_target_count(R->ws);
        total += loss * (double)c;
        count += c;
    }
    *accuracy = 0;
    return count ? total / (double)count : 0.0;
}

static char *training_json(const run *R, const rs_loop_result *r)
{
    const translator_opts *o = R->o;
    const rs_loop_opts *lo = R->lo;
    cJSON *j = cJSON_CreateObject();
    const char *slash = strrchr(o->data, '/');
    cJSON_AddStringToObject(j, "dataset", slash ? slash + 1 : o->data);
    cJSON_AddStringToObject(j, "dataset_sha256", R->sha);
    cJSON_AddNumberToObject(j, "pairs", R->n_pairs);
    cJSON_AddNumberToObject(j, "pairs_over_max_length", R->skipped);
    cJSON_AddNumberToObject(j, "train_pairs", R->n_train);
    cJSON_AddNumberToObject(j, "valid_pairs", R->n_valid);
    if (o->valid_data) {
        const char *vslash = strrchr(o->valid_data, '/');
        cJSON_AddStringToObject(j, "valid_dataset", vslash ? vslash + 1 : o->valid_data);
        cJSON_AddStringToObject(j, "valid_dataset_sha256", R->valid_sha);
        cJSON_AddNumberToObject(j, "valid_dataset_pairs", R->valid_file_pairs);
        cJSON_AddNumberToObject(j, "valid_dataset_pairs_over_max_length", R->valid_skipped);
    }
    if (o->init_from) {
        const char *islash = strrchr(o->init_from, '/');
        cJSON *init = cJSON_AddObjectToObject(j, "init_from");
        cJSON_AddStringToObject(init, "model", islash ? islash + 1 : o->init_from);
        cJSON_AddStringToObject(init, "sha256", R->init_sha);
    }
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddStringToObject(h, "optimizer", optim_choices[lo->optimizer]);
    cJSON_AddNumberToObject(h, "lr", lo->lr);
    cJSON_AddNumberToObject(h, "weight_decay", lo->weight_decay);
    cJSON_AddNumberToObject(h, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(h, "dropout", o->dropout);
    cJSON_AddNumberToObject(h, "teacher_forcing", o->teacher_forcing);
    cJSON_AddNumberToObject(h, "clip", lo->clip);
    cJSON_AddStringToObject(h, "schedule", schedule_choices[lo->schedule]);
    cJSON_AddNumberToObject(h, "epochs", lo->epochs);
    if (!o->init_from)
        cJSON_AddNumberToObject(h, "min_count", o->min_count);
    cJSON_AddNumberToObject(h, "max_length", o->max_length);
    if (!o->valid_data)
        cJSON_AddNumberToObject(h, "valid_fraction", o->valid_fraction);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "epochs_run", r->epochs_run);
    cJSON_AddNumberToObject(j, "best_epoch", r->best_epoch);
    cJSON *v = cJSON_AddObjectToObject(j, "validation");
    cJSON_AddNumberToObject(v, "nll_per_token", r->best_loss);
    char date[16];
    rs_loop_date(date);
    cJSON_AddStringToObject(j, "date", date);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static int tr_write(void *ctx, const float *theta, const rs_loop_result *r, char *err,
                    size_t errlen)
{
    run *R = ctx;
    char *tjson = training_json(R, r);
    if (!tjson) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rs_s2s_params pb;
    rs_s2s_params_bind(&R->cfg, (float *)theta, &pb);
    rs_translator_spec spec = {.cfg = R->cfg,
                               .src_vocab = (const char *const *)R->src_vocab,
                               .tgt_vocab = (const char *const *)R->tgt_vocab,
                               .src_elision = 0,
                               .tgt_elision = 1,
                               .training_json = tjson};
    int rc = rs_translator_write(R->o->out, &spec, &pb, err, errlen);
    free(tjson);
    return rc;
}

/* ---- the command -------------------------------------------------------- */

/* --valid-data: the kept pairs keep[0..n_keep) of --data (index below
 * n_data) train, those of --valid-data validate.  Source sentences in both
 * are counted and reported: the validation loss of those would flatter the
 * model.  0, or -1 when memory runs out. */
static int split_at(const rs_pairs *pairs, const int *keep, int n_keep, int n_data, run *R)
{
    R->train_idx = malloc((size_t)n_keep * sizeof *R->train_idx);
    R->valid_idx = malloc((size_t)n_keep * sizeof *R->valid_idx);
    int *order = malloc((size_t)n_keep * sizeof *order);
    int *group = malloc(((size_t)n_keep + 1) * sizeof *group);
    int n_groups = 0, status = -1;
    if (!R->train_idx || !R->valid_idx || !order || !group)
        goto done;
    R->n_train = R->n_valid = 0;
    for (int i = 0; i < n_keep; i++) {
        if (keep[i] < n_data)
            R->train_idx[R->n_train++] = keep[i];
        else
            R->valid_idx[R->n_valid++] = keep[i];
    }
    if (rs_pairs_group_by_source(pairs, keep, n_keep, order, group, &n_groups) != 0)
        goto done;
    int shared = 0;
    for (int g = 0; g < n_groups; g++) {
        int in_data = 0, in_valid = 0;
        for (int k = group[g]; k < group[g + 1]; k++) {
            in_data |= order[k] < n_data;
            in_valid |= order[k] >= n_data;
        }
        shared += in_data && in_valid;
    }
    if (shared)
        fprintf(stderr,
                "rnntrain translator: warning: %d source sentence%s of --valid-data also in "
                "--data (their validation loss flatters the model)\n",
                shared, shared == 1 ? "" : "s");
    status = 0;
done:
    free(order);
    free(group);
    return status;
}

static char *signature(const translator_opts *o, const char *sha, const char *valid_sha,
                       const char *init_sha)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "task=translator data=%s cell=%s layers=%d hidden=%d embed=%d bi=%d dropout=%.17g "
             "tf=%.17g valid=%.17g%s%s batch=%d min_count=%d max_length=%d seed=%llu%s%s",
             sha, cell_choices[o->cell], o->layers, o->hidden, o->embed, o->bidirectional,
             o->dropout, o->teacher_forcing, o->valid_fraction, valid_sha ? " valid_data=" : "",
             valid_sha ? valid_sha : "", o->batch_size, o->min_count, o->max_length,
             (unsigned long long)o->seed, init_sha ? " init=" : "", init_sha ? init_sha : "");
    return strdup(buf);
}

int rs_translator_main(int argc, char **argv)
{
    translator_opts o = {.cell = 2,
                         .layers = 1,
                         .hidden = 256,
                         .embed = 256,
                         .dropout = 0.1,
                         .teacher_forcing = 1.0,
                         .valid_fraction = 0.05,
                         .batch_size = 64,
                         .min_count = 2,
                         .max_length = 20,
                         .seed = 1};
    rs_loop_opts lo;
    rs_loop_defaults(&lo);
    lo.epochs = 10;
    lo.lr = 1e-3;
    lo.clip = 1.0;
    flag flags[40] = {
        {"data", NULL, FLAG_STRING, &o.data, 0, 0, NULL, "sentence pairs: source<TAB>target", 0,
         NULL},
        {"out", NULL, FLAG_STRING, &o.out, 0, 0, NULL,
         "model file: the best so far, rewritten at each improvement", 0, NULL},
        {"cell", NULL, FLAG_CHOICE, &o.cell, 0, 0, cell_choices, "rnn, lstm or gru", 0, NULL},
        {"layers", NULL, FLAG_INT, &o.layers, 1, RS_MAX_LAYERS, NULL,
         "stacked layers (encoder and decoder)", 0, NULL},
        {"hidden", NULL, FLAG_INT, &o.hidden, 1, 2048, NULL, "hidden size", 0, NULL},
        {"embed", NULL, FLAG_INT, &o.embed, 1, 2048, NULL, "word embedding size (both sides)", 0,
         NULL},
        {"bidirectional", NULL, FLAG_BOOL, &o.bidirectional, 0, 0, NULL,
         "bidirectional encoder (its final states bridged to the decoder)", 0, NULL},
        {"dropout", NULL, FLAG_DOUBLE, &o.dropout, 0, 0.9, NULL,
         "dropout on the embeddings and before the output layer", 0, NULL},
        {"teacher-forcing", NULL, FLAG_DOUBLE, &o.teacher_forcing, 0, 1, NULL,
         "probability that a batch's decoder reads the reference (else its own argmax)", 0, NULL},
        {"batch-size", NULL, FLAG_INT, &o.batch_size, 1, 4096, NULL, "pairs per batch", 0, NULL},
        {"min-count", NULL, FLAG_INT, &o.min_count, 1, 1000000, NULL,
         "words seen fewer times in the training pairs read as <unk>", 0, NULL},
        {"max-length", NULL, FLAG_INT, &o.max_length, 1, 1000, NULL,
         "skip pairs with more tokens than this on either side", 0, NULL},
        {"valid-fraction", NULL, FLAG_DOUBLE, &o.valid_fraction, 0.001, 0.5, NULL,
         "share of the pairs held out for validation, grouped by source sentence", 0, NULL},
        {"valid-data", NULL, FLAG_STRING, &o.valid_data, 0, 0, NULL,
         "validate on these pairs instead of holding out --valid-fraction of --data (e.g. "
         "the real references when --data is a teacher's translations)",
         0, NULL},
        {"valid-out", NULL, FLAG_STRING, &o.valid_out, 0, 0, NULL,
         "also write the validation pairs (lines of --data or --valid-data) to this file", 0, NULL},
        {"seed", NULL, FLAG_U64, &o.seed, 0, 0, NULL, "random seed", 0, NULL},
        {"threads", NULL, FLAG_INT, &o.threads, 0, 256, NULL, "BLAS threads, 0 = all cores", 0,
         NULL},
        {"init-from", NULL, FLAG_STRING, &o.init_from, 0, 0, NULL,
         "fine-tune this translator: its shape, vocabularies and weights instead of the shape "
         "flags, --min-count and random ones (the optimiser starts afresh; no shortlist is "
         "carried over)",
         0, NULL},
    };
    int n_flags = 18;
    if (rs_loop_flags(&lo, flags, &n_flags, (int)(sizeof flags / sizeof flags[0])) != 0)
        return 2;
    int exit_status =
        flags_command("rnntrain translator",
                      "usage: rnntrain translator --data PAIRS.tsv --out MODEL.safetensors "
                      "[options]\n\nTrains an encoder-decoder with attention (DESIGN.md, "
                      "translator) with teacher forcing\nand keeps the parameters with the lowest "
                      "validation loss.\n\noptions:\n",
                      flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[1024];
    if (!o.data || !o.out) {
        fprintf(stderr, "rnntrain translator: --data and --out are required (see --help)\n");
        return 2;
    }
    if (rs_loop_check(&lo, flags, n_flags, "translator") != 0)
        return 2;
    if (o.threads > 0)
        openblas_set_num_threads(o.threads);

    int status = 1, src_V = 0, tgt_V = 0;
    rs_pairs pairs = {0};
    run R = {.o = &o, .lo = &lo};
    int *keep = NULL, *src_map = NULL, *tgt_map = NULL;
    float *theta = NULL, *grad = NULL;
    char *sig = NULL, sha[65], valid_sha[65], init_sha[65];
    rs_translator *init = NULL;
    if (o.init_from) {
        if (rs_translator_open(o.init_from, &init, err, sizeof err) != 0 ||
            rs_sha256_file(o.init_from, init_sha, err, sizeof err) != 0 ||
            shape_of_model(init, &o, flags, n_flags, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain translator: %s\n", err);
            goto done;
        }
        R.init_sha = init_sha;
    }
    if (rs_pairs_load(o.data, &pairs, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain translator: %s\n", err);
        goto done;
    }
    if (rs_sha256_file(o.data, sha, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain translator: %s\n", err);
        goto done;
    }
    R.sha = sha;
    int n_data = pairs.n; /* pairs [n_data, pairs.n) are --valid-data's */
    if (o.valid_data && (rs_pairs_append(o.valid_data, &pairs, err, sizeof err) != 0 ||
                         rs_sha256_file(o.valid_data, valid_sha, err, sizeof err) != 0)) {
        fprintf(stderr, "rnntrain translator: %s\n", err);
        goto done;
    }
    R.valid_sha = o.valid_data ? valid_sha : NULL;
    R.n_pairs = n_data;
    R.valid_file_pairs = pairs.n - n_data;
    keep = malloc((size_t)pairs.n * sizeof *keep);
    if (!keep)
        goto nomem;
    int n_keep = 0;
    for (int i = 0; i < pairs.n; i++) {
        int s = pairs.src_off[i + 1] - pairs.src_off[i],
            t = pairs.tgt_off[i + 1] - pairs.tgt_off[i];
        if (s <= o.max_length && t <= o.max_length)
            keep[n_keep++] = i;
    }
    int kept_of_data = 0;
    while (kept_of_data < n_keep && keep[kept_of_data] < n_data)
        kept_of_data++;
    R.skipped = n_data - kept_of_data;
    R.valid_skipped = R.valid_file_pairs - (n_keep - kept_of_data);
    if (n_keep < 2) {
        fprintf(stderr,
                "rnntrain translator: %s: %d pair%s left after --max-length %d (%d over it)\n",
                o.data, n_keep, n_keep == 1 ? "" : "s", o.max_length, pairs.n - n_keep);
        goto done;
    }
    if (o.valid_data) {
        if (split_at(&pairs, keep, n_keep, n_data, &R) != 0)
            goto nomem;
    } else if (rs_pairs_split_grouped(&pairs, keep, n_keep, o.valid_fraction, o.seed ^ 0x5eedULL,
                                      &R.train_idx, &R.n_train, &R.valid_idx, &R.n_valid) != 0)
        goto nomem;
    if (o.valid_data && (R.n_train == 0 || R.n_valid == 0)) {
        fprintf(stderr, "rnntrain translator: %s: no pair within --max-length %d\n",
                R.n_train == 0 ? o.data : o.valid_data, o.max_length);
        goto done;
    }
    if (R.n_train == 0 || R.n_valid == 0) {
        fprintf(stderr,
                "rnntrain translator: %s: too few distinct source sentences to hold out a "
                "validation set\n",
                o.data);
        goto done;
    }
    if (o.valid_out &&
        rs_pairs_write(&pairs, R.valid_idx, R.n_valid, o.valid_out, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain translator: %s\n", err);
        goto done;
    }
    if (init) {
        if (vocab_of_model(init, 0, &pairs.src, &R.src_vocab, &src_V, &src_map) != 0 ||
            vocab_of_model(init, 1, &pairs.tgt, &R.tgt_vocab, &tgt_V, &tgt_map) != 0)
            goto nomem;
    } else if (build_vocab(&pairs.src, pairs.src_off, pairs.src_tok, R.train_idx, R.n_train,
                           o.min_count, &R.src_vocab, &src_V, &src_map) != 0 ||
               build_vocab(&pairs.tgt, pairs.tgt_off, pairs.tgt_tok, R.train_idx, R.n_train,
                           o.min_count, &R.tgt_vocab, &tgt_V, &tgt_map) != 0)
        goto nomem;
    /* every pair's ids; the pair indices stay those of the file */
    encoded_pairs *e = &R.e;
    e->n = pairs.n;
    e->src_off = malloc(((size_t)pairs.n + 1) * sizeof *e->src_off);
    e->tgt_off = malloc(((size_t)pairs.n + 1) * sizeof *e->tgt_off);
    e->src = malloc(((size_t)pairs.src_off[pairs.n] + (size_t)pairs.n) * sizeof *e->src);
    e->tgt = malloc(((size_t)pairs.tgt_off[pairs.n] + 1) * sizeof *e->tgt);
    if (!e->src_off || !e->tgt_off || !e->src || !e->tgt)
        goto nomem;
    int at = 0;
    for (int i = 0; i < pairs.n; i++) {
        e->src_off[i] = at;
        for (int k = pairs.src_off[i]; k < pairs.src_off[i + 1]; k++)
            e->src[at++] = src_map[pairs.src_tok[k]];
        e->src[at++] = RS_S2S_EOS;
        e->tgt_off[i] = pairs.tgt_off[i];
        for (int k = pairs.tgt_off[i]; k < pairs.tgt_off[i + 1]; k++)
            e->tgt[k] = tgt_map[pairs.tgt_tok[k]];
    }
    e->src_off[pairs.n] = at;
    e->tgt_off[pairs.n] = pairs.tgt_off[pairs.n];
    /* validation in length order: batches of like lengths */
    sort_by_length(R.valid_idx, R.n_valid, e);

    R.cfg = (rs_s2s_config){.cell = (rs_cell)o.cell,
                            .num_layers = o.layers,
                            .hidden_size = o.hidden,
                            .embedding_dim = o.embed,
                            .bidirectional = o.bidirectional,
                            .src_vocab = src_V,
                            .tgt_vocab = tgt_V};
    if (rs_s2s_config_check(&R.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain translator: %s\n", err);
        goto done;
    }
    size_t n_params = rs_s2s_param_count(&R.cfg);
    int B = o.batch_size, L = o.max_length + 1;
    R.n_batches = (R.n_train + B - 1) / B;
    R.batch_order = malloc((size_t)R.n_batches * sizeof *R.batch_order);
    R.src = malloc((size_t)B * L * sizeof *R.src);
    R.src_len = malloc((size_t)B * sizeof *R.src_len);
    R.tgt_in = malloc((size_t)B * L * sizeof *R.tgt_in);
    R.tgt_out = malloc((size_t)B * L * sizeof *R.tgt_out);
    R.ws = rs_s2s_workspace_create(&R.cfg, B, L, L);
    theta = malloc(n_params * sizeof *theta);
    grad = malloc(n_params * sizeof *grad);
    sig = signature(&o, sha, R.valid_sha, R.init_sha);
    if (!R.batch_order || !R.src || !R.src_len || !R.tgt_in || !R.tgt_out || !R.ws || !theta ||
        !grad || !sig)
        goto nomem;
    rs_s2s_params_bind(&R.cfg, theta, &R.p);
    rs_s2s_params_bind(&R.cfg, grad, &R.g);
    rs_rng rng;
    rs_rng_seed(&rng, o.seed);
    rs_s2s_params_init(&R.cfg, &R.p, &rng);
    if (init) { /* the same configuration: every tensor copied as it is */
        rs_s2s_params from = *rs_translator_params(init);
        for (int i = 0; i < rs_s2s_tensor_count(&R.cfg); i++) {
            rs_tensor_desc d;
            rs_s2s_tensor_describe(&R.cfg, i, &d);
            memcpy(*rs_s2s_params_slot(&R.cfg, &R.p, i), *rs_s2s_params_slot(&R.cfg, &from, i),
                   d.numel * sizeof(float));
        }
        rs_translator_close(init);
        init = NULL;
    }
    R.fopts = (rs_s2s_opts){
        .dropout = (rs_real)o.dropout, .teacher_forcing = o.teacher_forcing, .rng = &rng};
    fprintf(stderr,
            "rnntrain translator: %d pairs (%d over --max-length %d skipped), %d train, %d valid; "
            "vocab %d source, %d target; %s%s %dx%d, %zu parameters\n",
            pairs.n, pairs.n - n_keep, o.max_length, R.n_train, R.n_valid, src_V, tgt_V,
            o.bidirectional ? "bidirectional " : "", cell_choices[o.cell], o.layers, o.hidden,
            n_params);
    rs_loop_state orders[2] = {
        {.name = "order.pairs", .data = R.train_idx, .n = (size_t)R.n_train, .is_int = 1},
        {.name = "order.batches", .data = R.batch_order, .n = (size_t)R.n_batches, .is_int = 1}};
    rs_loop_task task = {.cmd = "translator",
                         .unit = "tokens",
                         .steps_per_epoch = R.n_batches,
                         .signature = sig,
                         .state = orders,
                         .n_state = 2,
                         .ctx = &R,
                         .begin_epoch = tr_begin_epoch,
                         .step = tr_step,
                         .validate = tr_validate,
                         .write_model = tr_write};
    rs_loop_result res;
    status = rs_train_loop(&task, &lo, theta, grad, n_params, &rng, &res);
    if (res.best_epoch > 0)
        fprintf(stderr, "%s: weights of epoch %d, valid nll/token %.4f\n", o.out, res.best_epoch,
                res.best_loss);
    goto done;
nomem:
    fprintf(stderr, "rnntrain translator: out of memory\n");
done:
    rs_translator_close(init);
    rs_pairs_free(&pairs);
    free(keep);
    free(src_map);
    free(tgt_map);
    free_vocab(R.src_vocab, src_V);
    free_vocab(R.tgt_vocab, tgt_V);
    free(R.e.src_off);
    free(R.e.tgt_off);
    free(R.e.src);
    free(R.e.tgt);
    free(R.train_idx);
    free(R.valid_idx);
    free(R.batch_order);
    free(R.src);
    free(R.src_len);
    free(R.tgt_in);
    free(R.tgt_out);
    rs_s2s_workspace_destroy(R.ws);
    free(theta);
    free(grad);
    free(sig);
    return status;
}
