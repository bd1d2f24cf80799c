/*
 * textlm.c — `rnntrain textlm`: a language model on one running text,
 * trained as char-rnn is (DESIGN.md, textlm), and the exact evaluation of
 * a text under it.
 *
 * Training.  The first (1 − valid_tail) of the corpus is cut into B
 * contiguous streams of S tokens, starting at a fresh random offset in
 * [0, T) each epoch; the streams are read together in windows of T tokens
 * (the last window of an epoch may be shorter).  Window w of stream b
 * reads x = text[o + b·S + w·T + t] and predicts the token after it.  The
 * state after a window is the next window's initial state (rs_batch h0,
 * c0) and no gradient flows into it: truncated BPTT, PyTorch's
 * `h = h.detach()`.  The state starts from zeros each epoch.
 *
 * Validation.  The last valid_tail of the corpus, cut into at most 16
 * contiguous streams read the same way from zero state: the mean −ln p of
 * every token but each stream's first.  `rnntrain eval` computes the exact
 * figure of DESIGN.md instead (one stream, rs_textlm_nll).
 *
 * The loop (epochs, schedule, best-by-validation, checkpoints, --resume,
 * --time-budget) is loop.c's; this file gives it the streams' windows, the
 * carried state h and c (kept in checkpoints), the validation and the
 * model file.
 */
#define _POSIX_C_SOURCE 200809L
#include "textlm.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"
#include "flags.h"
#include "loop.h"
#include "rnnserve/model.h"
#include "rnnserve/optim.h"
#include "rnnserve/sha256.h"
#include "rnnserve/text.h"

#define VALID_STREAMS 16

typedef struct textlm_opts {
    const char *data, *out, *init_from;
    int cell, layers, hidden, embed;
    double dropout, weight_dropout;
    int batch_size, seq_len;
    double valid_tail;
    uint64_t seed;
    int threads, max_vocab;
    int tokenizer, min_count; /* 0 char, 1 word; words seen fewer times are <unk> */
} textlm_opts;

static const char *const cell_choices[] = {"rnn", "lstm", "gru", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const optim_choices[] = {"adam", "sgd", NULL};
static const char *const tokenizer_choices[] = {"char", "word", NULL};

/* ---- batches over streams ------------------------------------------- */

/* B streams of S tokens from ids[start..), windows of at most T. */
typedef struct streams {
    const int32_t *ids;
    long start, S;
    int B, T;
} streams;

static int stream_windows(const streams *s) { return (int)((s->S + s->T - 1) / s->T); }

/* Fills tokens/targets (B, len) for window w; returns its length. */
static int stream_window(const streams *s, int w, int32_t *tokens, int32_t *targets,
                         int32_t *lengths)
{
    long from = (long)w * s->T;
    int len = (int)(s->S - from < s->T ? s->S - from : s->T);
    for (int b = 0; b < s->B; b++) {
        const int32_t *src = s->ids + s->start + (long)b * s->S + from;
        memcpy(tokens + (size_t)b * len, src, (size_t)len * sizeof *src);
        memcpy(targets + (size_t)b * len, src + 1, (size_t)len * sizeof *src);
        lengths[b] = len;
    }
    return len;
}

/* Mean −ln p over every target of the streams, state carried from zeros
 * (no dropout).  h, c: (L, B, H) scratch. */
static double streams_nll(rs_workspace *ws, const rs_params *p, const rs_config *cfg,
                          const streams *s, int32_t *tokens, int32_t *targets, int32_t *lengths,
                          rs_real *h, rs_real *c)
{
    size_t state = (size_t)cfg->num_layers * s->B * cfg->hidden_size;
    memset(h, 0, state * sizeof *h);
    memset(c, 0, state * sizeof *c);
    double sum = 0;
    long count = 0;
    for (int w = 0; w < stream_windows(s); w++) {
        int len = stream_window(s, w, tokens, targets, lengths);
        rs_batch batch = {.B = s->B,
                          .T = len,
                          .tokens = tokens,
                          .lengths = lengths,
                          .targets = targets,
                          .h0 = h,
                          .c0 = cfg->cell == RS_CELL_LSTM ? c : NULL};
        sum += rs_forward(ws, p, &batch, NULL) * (double)len * s->B;
        count += (long)len * s->B;
        rs_workspace_final_state(ws, h, cfg->cell == RS_CELL_LSTM ? c : NULL);
    }
    return count ? sum / (double)count : 0.0;
}

double rs_textlm_nll(const rs_model *m, const int32_t *ids, long n, long *count)
{
    const rs_config *cfg = rs_model_config(m);
    *count = n > 1 ? n - 1 : 0;
    if (n < 2)
        return 0.0;
    int T = 256;
    rs_workspace *ws = rs_workspace_create(cfg, 1, T);
    size_t state = (size_t)cfg->num_layers * cfg->hidden_size;
    rs_real *h = malloc(state * sizeof *h), *c = malloc(state * sizeof *c);
    int32_t *tokens = malloc((size_t)T * sizeof *tokens),
            *targets = malloc((size_t)T * sizeof *targets);
    double nll = NAN;
    if (ws && h && c && tokens && targets) {
        int32_t length;
        streams s = {.ids = ids, .start = 0, .S = n - 1, .B = 1, .T = T};
        nll = streams_nll(ws, rs_model_params(m), cfg, &s, tokens, targets, &length, h, c);
    }
    rs_workspace_destroy(ws);
    free(h);
    free(c);
    free(tokens);
    free(targets);
    return nll;
}

/* --init-from: a model of the same shape and vocabulary gives its weights
 * (laid out as rs_params_bind lays them out). */
static int init_weights(const char *path, const rs_config *cfg, char **vocab, float *theta,
                        char *err, size_t errlen)
{
    rs_model *m = NULL;
    if (rs_model_open(path, &m, err, errlen) != 0)
        return -1;
    const rs_config *mc = rs_model_config(m);
    int same = mc->cell == cfg->cell && mc->num_layers == cfg->num_layers &&
               mc->hidden_size == cfg->hidden_size && mc->embedding_dim == cfg->embedding_dim &&
               mc->vocab_size == cfg->vocab_size && mc->task == RS_TASK_TEXTLM;
    for (int i = 0; same && i < cfg->vocab_size; i++)
        same = strcmp(rs_model_token(m, i), vocab[i]) == 0;
    if (!same) {
        snprintf(err, errlen, "%s: not a textlm of this shape and vocabulary", path);
        rs_model_close(m);
        return -1;
    }
    rs_params dst;
    rs_params_bind(cfg, theta, &dst);
    const rs_params *src = rs_model_params(m);
    for (int i = 0; i < rs_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        memcpy(*rs_params_slot(cfg, &dst, i), *rs_params_slot(cfg, (rs_params *)src, i),
               d.numel * sizeof(float));
    }
    rs_model_close(m);
    return 0;
}

/* ---- the command -------------------------------------------------------- */

/* Everything the loop's callbacks need. */
typedef struct textlm_run {
    const textlm_opts *o;
    const rs_loop_opts *lo;
    rs_config cfg;
    const char *sha;
    char **vocab;
    const double *unigram;
    long n_train, n_valid;
    rs_workspace *ws, *vws;
    rs_params p, g;
    streams train, valid;
    int32_t *tokens, *targets, *lengths;
    rs_real *h, *c, *vh, *vc; /* carried state (L, B, H), and validation's (L, Bv, H) */
    size_t state;
    rs_forward_opts fopts;
} textlm_run;

/* The flags and data a checkpoint must match (the loop adds its own). */
static char *signature(const textlm_opts *o, const char *sha, int vocab)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "task=textlm data=%s vocab=%d cell=%s layers=%d hidden=%d embed=%d batch=%d "
                     "seq=%d dropout=%.17g wdrop=%.17g tail=%.17g seed=%llu",
                     sha, vocab, cell_choices[o->cell], o->layers, o->hidden, o->embed,
                     o->batch_size, o->seq_len, o->dropout, o->weight_dropout, o->valid_tail,
                     (unsigned long long)o->seed);
    if (o->tokenizer != 0 && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, " tokenizer=%s min_count=%d",
                 tokenizer_choices[o->tokenizer], o->min_count);
    return strdup(buf);
}

static char *training_json(const textlm_run *R, const rs_loop_result *r)
{
    const textlm_opts *o = R->o;
    const rs_loop_opts *lo = R->lo;
    cJSON *j = cJSON_CreateObject();
    const char *slash = strrchr(o->data, '/');
    cJSON_AddStringToObject(j, "dataset", slash ? slash + 1 : o->data);
    cJSON_AddStringToObject(j, "dataset_sha256", R->sha);
    cJSON_AddStringToObject(j, "tokenizer", tokenizer_choices[o->tokenizer]);
    if (o->tokenizer == 1)
        cJSON_AddNumberToObject(j, "min_count", o->min_count);
    cJSON_AddNumberToObject(j, "train_tokens", (double)R->n_train);
    cJSON_AddNumberToObject(j, "valid_tokens", (double)R->n_valid);
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddStringToObject(h, "optimizer", optim_choices[lo->optimizer]);
    cJSON_AddNumberToObject(h, "lr", lo->lr);
    cJSON_AddNumberToObject(h, "weight_decay", lo->weight_decay);
    cJSON_AddNumberToObject(h, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(h, "seq_len", o->seq_len);
    cJSON_AddNumberToObject(h, "dropout", o->dropout);
    cJSON_AddNumberToObject(h, "weight_dropout", o->weight_dropout);
    cJSON_AddNumberToObject(h, "clip", lo->clip);
    cJSON_AddStringToObject(h, "schedule", schedule_choices[lo->schedule]);
    cJSON_AddNumberToObject(h, "epochs", lo->epochs);
    cJSON_AddNumberToObject(h, "valid_tail", o->valid_tail);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "epochs_run", r->epochs_run);
    cJSON_AddNumberToObject(j, "best_epoch", r->best_epoch);
    cJSON *v = cJSON_AddObjectToObject(j, "validation");
    cJSON_AddNumberToObject(v, "nll_per_token", r->best_loss);
    cJSON_AddNumberToObject(v, "streams", VALID_STREAMS);
    char date[16];
    rs_loop_date(date);
    cJSON_AddStringToObject(j, "date", date);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* A new epoch: a random offset in [0, T), zero state. */
static long textlm_begin_epoch(void *ctx, rs_rng *rng)
{
    textlm_run *R = ctx;
    int B = R->o->batch_size, T = R->o->seq_len;
    long offset = (long)rs_rng_below(rng, (uint32_t)T);
    R->train = (streams){
        .ids = R->train.ids, .start = offset, .S = (R->n_train - 1 - offset) / B, .B = B, .T = T};
    memset(R->h, 0, R->state * sizeof *R->h);
    memset(R->c, 0, R->state * sizeof *R->c);
    return stream_windows(&R->train);
}

/* Window `index` of the epoch's streams, from the carried state. */
static double textlm_step(void *ctx, long index, double *weight, long *units)
{
    textlm_run *R = ctx;
    int lstm = R->cfg.cell == RS_CELL_LSTM;
    int len = stream_window(&R->train, (int)index, R->tokens, R->targets, R->lengths);
    rs_batch batch = {.B = R->train.B,
                      .T = len,
                      .tokens = R->tokens,
                      .lengths = R->lengths,
                      .targets = R->targets,
                      .h0 = R->h,
                      .c0 = lstm ? R->c : NULL};
    double loss = rs_forward(R->ws, &R->p, &batch, &R->fopts);
    rs_backward(R->ws, &R->p, &R->g, &batch);
    rs_workspace_final_state(R->ws, R->h, lstm ? R->c : NULL);
    *weight = (double)len * R->train.B;
    *units = (long)len * R->train.B;
    return loss;
}

static double textlm_validate(void *ctx, const float *theta, double *accuracy)
{
    textlm_run *R = ctx;
    rs_params p;
    rs_params_bind(&R->cfg, (float *)theta, &p);
    *accuracy = 0;
    return streams_nll(R->vws, &p, &R->cfg, &R->valid, R->tokens, R->targets, R->lengths, R->vh,
                       R->vc);
}

static int textlm_write(void *ctx, const float *theta, const rs_loop_result *r, char *err,
                        size_t errlen)
{
    textlm_run *R = ctx;
    char *tjson = training_json(R, r);
    if (!tjson) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rs_params pb;
    rs_params_bind(&R->cfg, (float *)theta, &pb);
    rs_model_spec spec = {.cfg = R->cfg,
                          .vocab = (const char *const *)R->vocab,
                          .normalize = RS_NORMALIZE_NONE,
                          .training_json = tjson,
                          .unigram = R->unigram};
    int rc = rs_model_write(R->o->out, &spec, &pb, err, errlen);
    free(tjson);
    return rc;
}

int rs_textlm_main(int argc, char **argv)
{
    textlm_opts o = {.cell = 1,
                     .layers = 2,
                     .hidden = 256,
                     .embed = 64,
                     .dropout = 0.2,
                     .batch_size = 32,
                     .seq_len = 128,
                     .valid_tail = 0.1,
                     .seed = 1,
                     .max_vocab = 20000,
                     .min_count = 1};
    rs_loop_opts lo;
    rs_loop_defaults(&lo);
    lo.epochs = 10;
    lo.lr = 2e-3;
    lo.clip = 5.0;
    flag flags[40] = {
        {"data", NULL, FLAG_STRING, &o.data, 0, 0, NULL, "the running text (UTF-8)", 0, NULL},
        {"out", NULL, FLAG_STRING, &o.out, 0, 0, NULL,
         "model file: the best so far, rewritten at each improvement", 0, NULL},
        {"cell", NULL, FLAG_CHOICE, &o.cell, 0, 0, cell_choices, "rnn, lstm or gru", 0, NULL},
        {"layers", NULL, FLAG_INT, &o.layers, 1, RS_MAX_LAYERS, NULL, "stacked layers", 0, NULL},
        {"hidden", NULL, FLAG_INT, &o.hidden, 1, 2048, NULL, "hidden size", 0, NULL},
        {"embed", NULL, FLAG_INT, &o.embed, 1, 2048, NULL, "token embedding size", 0, NULL},
        {"dropout", NULL, FLAG_DOUBLE, &o.dropout, 0, 0.9, NULL,
         "dropout between layers and before the head", 0, NULL},
        {"weight-dropout", NULL, FLAG_DOUBLE, &o.weight_dropout, 0, 0.9, NULL,
         "DropConnect on the recurrent weights W_hh, one mask per window", 0, NULL},
        {"batch-size", NULL, FLAG_INT, &o.batch_size, 1, 4096, NULL, "contiguous streams B", 0,
         NULL},
        {"seq-len", NULL, FLAG_INT, &o.seq_len, 2, 4096, NULL,
         "tokens per window T (backpropagation through time)", 0, NULL},
        {"valid-tail", NULL, FLAG_DOUBLE, &o.valid_tail, 0.001, 0.5, NULL,
         "share of the text at its end held out for validation", 0, NULL},
        {"tokenizer", NULL, FLAG_CHOICE, &o.tokenizer, 0, 0, tokenizer_choices,
         "tokens: characters, or words and punctuation (DESIGN.md)", 0, NULL},
        {"min-count", NULL, FLAG_INT, &o.min_count, 1, 1000000, NULL,
         "--tokenizer word: words seen fewer times in the training part are <unk>", 0, NULL},
        {"max-vocab", NULL, FLAG_INT, &o.max_vocab, 5, 1000000, NULL,
         "refuse a text with more distinct tokens than this", 0, NULL},
        {"seed", NULL, FLAG_U64, &o.seed, 0, 0, NULL, "random seed", 0, NULL},
        {"threads", NULL, FLAG_INT, &o.threads, 0, 256, NULL, "BLAS threads, 0 = all cores", 0,
         NULL},
        {"init-from", NULL, FLAG_STRING, &o.init_from, 0, 0, NULL,
         "start from this model's weights (same shape and vocabulary) instead of random ones; "
         "the optimiser starts afresh",
         0, NULL},
    };
    int n_flags = 17;
    if (rs_loop_flags(&lo, flags, &n_flags, (int)(sizeof flags / sizeof flags[0])) != 0)
        return 2;
    int exit_status = flags_command(
        "rnntrain textlm",
        "usage: rnntrain textlm --data FILE.txt --out MODEL.safetensors [options]\n\n"
        "Trains a language model on one running text (truncated BPTT over contiguous\n"
        "streams, state carried between windows) and keeps the parameters with the\n"
        "lowest validation loss on the text's tail.\n\noptions:\n",
        flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[1024];
    if (!o.data || !o.out) {
        fprintf(stderr, "rnntrain textlm: --data and --out are required (see --help)\n");
        return 2;
    }
    if (rs_loop_check(&lo, flags, n_flags, "textlm") != 0)
        return 2;
    if (o.threads > 0)
        openblas_set_num_threads(o.threads);

    int status = 1;
    rs_corpus corpus = {0};
    char **vocab = NULL;
    int V = 0;
    int32_t *ids = NULL;
    uint32_t *table = NULL;
    double *unigram = NULL; /* --tokenizer word: ln count of each token */
    float *theta = NULL, *grad = NULL;
    textlm_run R = {.o = &o, .lo = &lo};
    char *sig = NULL;

    if (rs_corpus_load(o.data, &corpus, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        goto done;
    }
    long n = corpus.n;
    long n_valid = (long)ceil((double)n * o.valid_tail);
    long n_train = n - n_valid;
    const char *unit = "chars";
    if (o.tokenizer == 1) { /* words: the split stays at the same character */
        long n_tok = 0, n_train_tok = 0;
        if (rs_corpus_words(&corpus, n_train, o.min_count, &vocab, &V, &unigram, &ids, &n_tok,
                            &n_train_tok) != 0) {
            fprintf(stderr, "rnntrain textlm: %s: no words, or out of memory\n", o.data);
            goto done;
        }
        n = n_tok;
        n_train = n_train_tok;
        n_valid = n - n_train;
        unit = "words";
    }
    int B = o.batch_size, T = o.seq_len;
    /* the epoch offset is below T, and each stream needs one window and the
     * token after it */
    long need = (long)B * (T + 1) + T;
    if (n_train < need || n_valid < 2) {
        fprintf(stderr,
                "rnntrain textlm: %s: %ld %s is too short: %ld for training (needs at "
                "least --batch-size x (--seq-len + 1) + --seq-len = %ld) and %ld for validation "
                "(needs 2)\n",
                o.data, n, o.tokenizer == 1 ? "words" : "characters", n_train, need, n_valid);
        goto done;
    }
    if (o.tokenizer == 0 && rs_vocab_build(corpus.cps, n, &vocab, &V) != 0)
        goto nomem;
    if (V > o.max_vocab) {
        fprintf(stderr, "rnntrain textlm: %s: %d distinct tokens, over --max-vocab %d\n", o.data,
                V - RS_CORPUS_SPECIALS, o.max_vocab);
        goto done;
    }
    if (o.tokenizer == 0) {
        table = malloc((size_t)V * sizeof *table);
        ids = malloc((size_t)n * sizeof *ids);
        if (!table || !ids)
            goto nomem;
        for (int i = RS_CORPUS_SPECIALS; i < V; i++)
            rs_utf8_decode(vocab[i], strlen(vocab[i]), &table[i - RS_CORPUS_SPECIALS]);
        rs_corpus_encode(corpus.cps, n, table, V - RS_CORPUS_SPECIALS, ids);
    }

    char sha[65];
    if (rs_sha256_file(o.data, sha, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        goto done;
    }
    R.cfg = (rs_config){.task = RS_TASK_TEXTLM,
                        .cell = (rs_cell)o.cell,
                        .num_layers = o.layers,
                        .hidden_size = o.hidden,
                        .embedding_dim = o.embed,
                        .vocab_size = V,
                        .n_outputs = V};
    if (rs_config_check(&R.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        goto done;
    }
    size_t n_params = rs_param_count(&R.cfg);
    int Bv = VALID_STREAMS;
    while (Bv > 1 && (n_valid - 1) / Bv < 2)
        Bv--;
    R.sha = sha;
    R.vocab = vocab;
    R.unigram = unigram;
    R.n_train = n_train;
    R.n_valid = n_valid;
    R.train = (streams){.ids = ids, .B = B, .T = T};
    R.valid = (streams){.ids = ids, .start = n_train, .S = (n_valid - 1) / Bv, .B = Bv, .T = T};
    R.state = (size_t)o.layers * B * o.hidden;
    size_t vstate = (size_t)o.layers * Bv * o.hidden;
    int lstm = R.cfg.cell == RS_CELL_LSTM;
    theta = malloc(n_params * sizeof *theta);
    grad = malloc(n_params * sizeof *grad);
    R.h = calloc(R.state, sizeof *R.h);
    R.c = calloc(R.state, sizeof *R.c);
    R.vh = malloc(vstate * sizeof *R.vh);
    R.vc = malloc(vstate * sizeof *R.vc);
    int big = B > Bv ? B : Bv;
    R.tokens = malloc((size_t)big * T * sizeof *R.tokens);
    R.targets = malloc((size_t)big * T * sizeof *R.targets);
    R.lengths = malloc((size_t)big * sizeof *R.lengths);
    R.ws = rs_workspace_create(&R.cfg, B, T);
    R.vws = rs_workspace_create(&R.cfg, Bv, T);
    sig = signature(&o, sha, V);
    if (!theta || !grad || !R.h || !R.c || !R.vh || !R.vc || !R.tokens || !R.targets ||
        !R.lengths || !R.ws || !R.vws || !sig)
        goto nomem;
    rs_params_bind(&R.cfg, theta, &R.p);
    rs_params_bind(&R.cfg, grad, &R.g);

    rs_rng rng;
    rs_rng_seed(&rng, o.seed);
    rs_params_init(&R.cfg, &R.p, &rng);
    if (o.init_from && init_weights(o.init_from, &R.cfg, vocab, theta, err, sizeof err)) {
        fprintf(stderr, "rnntrain textlm: --init-from: %s\n", err);
        goto done;
    }
    R.fopts = (rs_forward_opts){
        .dropout = (rs_real)o.dropout, .weight_dropout = (rs_real)o.weight_dropout, .rng = &rng};

    long per_epoch_windows = (long)((n_train - 1 - (T - 1)) / B + T - 1) / T; /* for the ETA */
    fprintf(stderr,
            "rnntrain textlm: %ld %s (%ld train, %ld valid), vocab %d, %s %dx%d, %zu "
            "parameters, %d streams x %d, ~%ld windows an epoch\n",
            n, o.tokenizer == 1 ? "words" : "characters", n_train, n_valid, V, cell_choices[o.cell],
            o.layers, o.hidden, n_params, B, T, per_epoch_windows);
    rs_loop_state carried[2] = {{.name = "state.h", .data = R.h, .n = R.state},
                                {.name = "state.c", .data = R.c, .n = R.state}};
    rs_loop_task task = {.cmd = "textlm",
                         .unit = unit,
                         .steps_per_epoch = per_epoch_windows,
                         .signature = sig,
                         .state = carried,
                         .n_state = lstm ? 2 : 1,
                         .ctx = &R,
                         .begin_epoch = textlm_begin_epoch,
                         .step = textlm_step,
                         .validate = textlm_validate,
                         .write_model = textlm_write};
    rs_loop_result res;
    status = rs_train_loop(&task, &lo, theta, grad, n_params, &rng, &res);
    if (status == 0 || res.best_epoch > 0) {
        if (res.best_epoch > 0)
            fprintf(stderr, "%s: weights of epoch %d, valid nll/token %.4f\n", o.out,
                    res.best_epoch, res.best_loss);
        else
            fprintf(stderr, "no epoch completed yet: %s not written\n", o.out);
    }
    goto done;
nomem:
    fprintf(stderr, "rnntrain textlm: out of memory\n");
done:
    rs_corpus_free(&corpus);
    rs_vocab_free(vocab, V);
    free(ids);
    free(table);
    free(unigram);
    free(R.tokens);
    free(R.targets);
    free(R.lengths);
    free(theta);
    free(grad);
    free(R.h);
    free(R.c);
    free(R.vh);
    free(R.vc);
    free(sig);
    rs_workspace_destroy(R.ws);
    rs_workspace_destroy(R.vws);
    return status;
}
