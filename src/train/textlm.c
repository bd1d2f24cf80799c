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
 * Long runs.  The best model so far is written (atomically) whenever the
 * validation loss improves, so the model file is always the best of the
 * run.  With --checkpoint, the whole training state (parameters, Adam's
 * moments, the best parameters, the carried state, the position in the
 * epoch and the random generator) is written every --checkpoint-every
 * seconds, at the end of every epoch and when the run stops early
 * (--time-budget, SIGINT, SIGTERM); --resume continues from it, and a run
 * resumed with the same flags gives the same bytes as one never stopped.
 */
#define _POSIX_C_SOURCE 200809L
#include "textlm.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"
#include "flags.h"
#include "rnnserve/model.h"
#include "rnnserve/optim.h"
#include "rnnserve/safetensors.h"
#include "rnnserve/sha256.h"
#include "rnnserve/text.h"

#define VALID_STREAMS     16
#define CHECKPOINT_FORMAT "rnntrain-textlm-checkpoint/1"

typedef struct textlm_opts {
    const char *data, *out, *log, *checkpoint, *init_from;
    int cell, layers, hidden, embed;
    double dropout, weight_dropout;
    int epochs, batch_size, seq_len;
    double lr, weight_decay, clip;
    int schedule;
    double valid_tail;
    uint64_t seed;
    int threads, max_vocab, resume;
    int tokenizer, min_count; /* 0 char, 1 word; words seen fewer times are <unk> */
    double time_budget, checkpoint_every;
} textlm_opts;

static const char *const cell_choices[] = {"rnn", "lstm", "gru", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const tokenizer_choices[] = {"char", "word", NULL};

static volatile sig_atomic_t stop_requested;
static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

/* ---- checkpoints -------------------------------------------------------- */

/* Everything a resumed run needs besides the flags. */
typedef struct progress {
    int epoch;        /* epochs completed */
    int window;       /* windows of epoch+1 done */
    long offset;      /* epoch+1's random offset */
    long step;        /* optimiser steps so far */
    rs_rng rng;       /* after drawing epoch+1's offset */
    double best_loss; /* INFINITY: none yet */
    int best_epoch;
    double train_sum; /* epoch+1's loss so far, and its tokens */
    long train_tokens;
    double elapsed; /* seconds of training before this process */
} progress;

/* The flags that must match for a checkpoint to be resumed. */
static char *signature(const textlm_opts *o, const char *sha, int vocab)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "data=%s vocab=%d cell=%s layers=%d hidden=%d embed=%d batch=%d seq=%d "
                     "epochs=%d lr=%.17g wd=%.17g clip=%.17g schedule=%s dropout=%.17g "
                     "wdrop=%.17g tail=%.17g seed=%llu",
                     sha, vocab, cell_choices[o->cell], o->layers, o->hidden, o->embed,
                     o->batch_size, o->seq_len, o->epochs, o->lr, o->weight_decay, o->clip,
                     schedule_choices[o->schedule], o->dropout, o->weight_dropout, o->valid_tail,
                     (unsigned long long)o->seed);
    /* only when not the default, so that checkpoints of char runs made
     * before the word tokenizer still resume */
    if (o->tokenizer != 0 && n > 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, " tokenizer=%s min_count=%d",
                 tokenizer_choices[o->tokenizer], o->min_count);
    return strdup(buf);
}

static int checkpoint_write(const char *path, const char *sig, const progress *pg, size_t n,
                            const float *theta, const rs_optim *opt, const float *best,
                            const rs_real *h, const rs_real *c, size_t state, char *err,
                            size_t errlen)
{
    rs_st_out t[5] = {
        {.name = "theta", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {n}, .data = theta},
        {.name = "adam.m", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {n}, .data = opt->m},
        {.name = "adam.v", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {n}, .data = opt->v},
        {.name = "best", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {n}, .data = best},
        {.name = "state.h", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {state}, .data = h},
    };
    rs_st_out cstate = {
        .name = "state.c", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {state}, .data = c};
    rs_st_out all[6];
    memcpy(all, t, sizeof t);
    all[5] = cstate;
    char pj[512];
    snprintf(pj, sizeof pj,
             "{\"epoch\":%d,\"window\":%d,\"offset\":%ld,\"step\":%ld,\"optim_step\":%ld,"
             "\"rng_state\":\"%llu\",\"rng_inc\":\"%llu\",\"best_loss\":%.17g,\"best_epoch\":%d,"
             "\"train_sum\":%.17g,\"train_tokens\":%ld,\"elapsed\":%.3f}",
             pg->epoch, pg->window, pg->offset, pg->step, opt->step,
             (unsigned long long)pg->rng.state, (unsigned long long)pg->rng.inc,
             isfinite(pg->best_loss) ? pg->best_loss : -1.0, pg->best_epoch, pg->train_sum,
             pg->train_tokens, pg->elapsed);
    const char *keys[3] = {"format", "signature", "progress"};
    const char *values[3] = {CHECKPOINT_FORMAT, sig, pj};
    return rs_st_write(path, all, c ? 6 : 5, keys, values, 3, err, errlen);
}

static int copy_tensor(const rs_st_file *f, const char *name, size_t numel, void *dst, char *err,
                       size_t errlen)
{
    const rs_st_tensor *t = rs_st_find(f, name);
    if (!t || t->dtype != RS_DTYPE_F32 || t->numel != numel) {
        snprintf(err, errlen, "%s: tensor '%s' is missing or has the wrong size", rs_st_path(f),
                 name);
        return -1;
    }
    rs_st_copy(t, dst);
    return 0;
}

static int checkpoint_read(const char *path, const char *sig, progress *pg, size_t n, float *theta,
                           rs_optim *opt, float *best, rs_real *h, rs_real *c, size_t state,
                           char *err, size_t errlen)
{
    rs_st_file *f = NULL;
    if (rs_st_open(path, &f, err, errlen) != 0)
        return -1;
    int status = -1;
    const char *format = rs_st_metadata(f, "format");
    const char *fsig = rs_st_metadata(f, "signature");
    const char *pj = rs_st_metadata(f, "progress");
    cJSON *j = pj ? cJSON_Parse(pj) : NULL;
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0 || !j) {
        snprintf(err, errlen, "%s: not a textlm checkpoint", path);
        goto done;
    }
    if (!fsig || strcmp(fsig, sig) != 0) {
        snprintf(err, errlen,
                 "%s: made with other data or flags; it has \"%s\", this run \"%s\" (start over "
                 "without --resume, or resume with the same flags)",
                 path, fsig ? fsig : "", sig);
        goto done;
    }
    if (copy_tensor(f, "theta", n, theta, err, errlen) ||
        copy_tensor(f, "adam.m", n, opt->m, err, errlen) ||
        copy_tensor(f, "adam.v", n, opt->v, err, errlen) ||
        copy_tensor(f, "best", n, best, err, errlen) ||
        copy_tensor(f, "state.h", state, h, err, errlen) ||
        (c && copy_tensor(f, "state.c", state, c, err, errlen)))
        goto done;
    const char *fields[] = {"epoch",     "window",     "offset",    "step",         "optim_step",
                            "best_loss", "best_epoch", "train_sum", "train_tokens", "elapsed"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!cJSON_IsNumber(cJSON_GetObjectItem(j, fields[i]))) {
            snprintf(err, errlen, "%s: progress has no number '%s'", path, fields[i]);
            goto done;
        }
    cJSON *rs = cJSON_GetObjectItem(j, "rng_state"), *ri = cJSON_GetObjectItem(j, "rng_inc");
    if (!cJSON_IsString(rs) || !cJSON_IsString(ri)) {
        snprintf(err, errlen, "%s: progress has no random state", path);
        goto done;
    }
    pg->epoch = cJSON_GetObjectItem(j, "epoch")->valueint;
    pg->window = cJSON_GetObjectItem(j, "window")->valueint;
    pg->offset = (long)cJSON_GetObjectItem(j, "offset")->valuedouble;
    pg->step = (long)cJSON_GetObjectItem(j, "step")->valuedouble;
    opt->step = (long)cJSON_GetObjectItem(j, "optim_step")->valuedouble;
    double bl = cJSON_GetObjectItem(j, "best_loss")->valuedouble;
    pg->best_loss = bl < 0 ? INFINITY : bl;
    pg->best_epoch = cJSON_GetObjectItem(j, "best_epoch")->valueint;
    pg->train_sum = cJSON_GetObjectItem(j, "train_sum")->valuedouble;
    pg->train_tokens = (long)cJSON_GetObjectItem(j, "train_tokens")->valuedouble;
    pg->elapsed = cJSON_GetObjectItem(j, "elapsed")->valuedouble;
    pg->rng.state = strtoull(rs->valuestring, NULL, 10);
    pg->rng.inc = strtoull(ri->valuestring, NULL, 10);
    status = 0;
done:
    cJSON_Delete(j);
    rs_st_close(f);
    return status;
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

static char *training_json(const textlm_opts *o, const char *sha, long n_train, long n_valid,
                           const progress *pg)
{
    cJSON *j = cJSON_CreateObject();
    const char *slash = strrchr(o->data, '/');
    cJSON_AddStringToObject(j, "dataset", slash ? slash + 1 : o->data);
    cJSON_AddStringToObject(j, "dataset_sha256", sha);
    cJSON_AddStringToObject(j, "tokenizer", tokenizer_choices[o->tokenizer]);
    if (o->tokenizer == 1)
        cJSON_AddNumberToObject(j, "min_count", o->min_count);
    cJSON_AddNumberToObject(j, "train_tokens", (double)n_train);
    cJSON_AddNumberToObject(j, "valid_tokens", (double)n_valid);
    cJSON *h = cJSON_AddObjectToObject(j, "hyperparameters");
    cJSON_AddStringToObject(h, "optimizer", "adam");
    cJSON_AddNumberToObject(h, "lr", o->lr);
    cJSON_AddNumberToObject(h, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(h, "batch_size", o->batch_size);
    cJSON_AddNumberToObject(h, "seq_len", o->seq_len);
    cJSON_AddNumberToObject(h, "dropout", o->dropout);
    cJSON_AddNumberToObject(h, "weight_dropout", o->weight_dropout);
    cJSON_AddNumberToObject(h, "clip", o->clip);
    cJSON_AddStringToObject(h, "schedule", schedule_choices[o->schedule]);
    cJSON_AddNumberToObject(h, "epochs", o->epochs);
    cJSON_AddNumberToObject(h, "valid_tail", o->valid_tail);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "best_epoch", pg->best_epoch);
    cJSON *v = cJSON_AddObjectToObject(j, "validation");
    cJSON_AddNumberToObject(v, "nll_per_token", pg->best_loss);
    cJSON_AddNumberToObject(v, "streams", VALID_STREAMS);
    char date[16];
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde)
        t = (time_t)strtoll(sde, NULL, 10);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    cJSON_AddStringToObject(j, "date", date);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int rs_textlm_main(int argc, char **argv)
{
    textlm_opts o = {.cell = 1,
                     .layers = 2,
                     .hidden = 256,
                     .embed = 64,
                     .dropout = 0.2,
                     .epochs = 10,
                     .batch_size = 32,
                     .seq_len = 128,
                     .lr = 2e-3,
                     .clip = 5.0,
                     .schedule = 1,
                     .valid_tail = 0.1,
                     .seed = 1,
                     .max_vocab = 20000,
                     .min_count = 1,
                     .checkpoint_every = 300};
    flag flags[] = {
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
        {"epochs", NULL, FLAG_INT, &o.epochs, 1, 100000, NULL, "epochs", 0, NULL},
        {"batch-size", NULL, FLAG_INT, &o.batch_size, 1, 4096, NULL, "contiguous streams B", 0,
         NULL},
        {"seq-len", NULL, FLAG_INT, &o.seq_len, 2, 4096, NULL,
         "tokens per window T (backpropagation through time)", 0, NULL},
        {"lr", NULL, FLAG_DOUBLE, &o.lr, 1e-7, 10, NULL, "learning rate (Adam)", 0, NULL},
        {"weight-decay", NULL, FLAG_DOUBLE, &o.weight_decay, 0, 1, NULL, "L2 weight decay", 0,
         NULL},
        {"clip", NULL, FLAG_DOUBLE, &o.clip, 0, 1e6, NULL, "gradient-norm clip, 0 = off", 0, NULL},
        {"schedule", NULL, FLAG_CHOICE, &o.schedule, 0, 0, schedule_choices,
         "learning-rate schedule", 0, NULL},
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
        {"log", NULL, FLAG_STRING, &o.log, 0, 0, NULL, "write per-epoch figures as CSV", 0, NULL},
        {"checkpoint", NULL, FLAG_STRING, &o.checkpoint, 0, 0, NULL,
         "file for the whole training state (see --resume)", 0, NULL},
        {"checkpoint-every", NULL, FLAG_DOUBLE, &o.checkpoint_every, 1, 1e9, NULL,
         "seconds between checkpoints (also written at each epoch's end and on stopping)", 0, NULL},
        {"resume", NULL, FLAG_BOOL, &o.resume, 0, 0, NULL,
         "continue from --checkpoint when it exists (same data and flags)", 0, NULL},
        {"init-from", NULL, FLAG_STRING, &o.init_from, 0, 0, NULL,
         "start from this model's weights (same shape and vocabulary) instead of random ones; "
         "the optimiser starts afresh",
         0, NULL},
        {"time-budget", NULL, FLAG_DOUBLE, &o.time_budget, 0, 1e9, NULL,
         "stop after this many seconds of this process, writing the checkpoint; 0 = none", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: rnntrain textlm --data FILE.txt --out MODEL.safetensors [options]\n\n"
                   "Trains a character-level language model on one running text (truncated "
                   "BPTT over\ncontiguous streams, state carried between windows) and keeps the "
                   "parameters with\nthe lowest validation loss on the text's tail.\n\noptions:\n");
            flags_print(flags, n_flags);
            return 0;
        }
    char err[1024];
    if (flags_parse(flags, n_flags, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        return 2;
    }
    if (!o.data || !o.out) {
        fprintf(stderr, "rnntrain textlm: --data and --out are required (see --help)\n");
        return 2;
    }
    if (o.resume && !o.checkpoint) {
        fprintf(stderr, "rnntrain textlm: --resume needs --checkpoint\n");
        return 2;
    }
    if (o.threads > 0)
        openblas_set_num_threads(o.threads);

    int status = 1;
    rs_corpus corpus = {0};
    char **vocab = NULL;
    int V = 0;
    int32_t *ids = NULL, *tokens = NULL, *targets = NULL, *lengths = NULL;
    uint32_t *table = NULL;
    double *unigram = NULL; /* --tokenizer word: ln count of each token */
    float *theta = NULL, *grad = NULL, *best = NULL;
    rs_real *h = NULL, *c = NULL, *vh = NULL, *vc = NULL;
    rs_workspace *ws = NULL, *vws = NULL;
    rs_optim opt = {0};
    char *sig = NULL, *tjson = NULL;
    FILE *logf = NULL;

    if (rs_corpus_load(o.data, &corpus, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        goto done;
    }
    long n = corpus.n;
    long n_valid = (long)ceil((double)n * o.valid_tail);
    long n_train = n - n_valid;
    const char *unit = "characters";
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
                o.data, n, unit, n_train, need, n_valid);
        goto done;
    }
    if (o.tokenizer == 0 && rs_vocab_build(corpus.cps, n, &vocab, &V) != 0)
        goto nomem;
    if (V > o.max_vocab) {
        fprintf(stderr,
                "rnntrain textlm: %s: %d distinct tokens, over --max-vocab "
                "%d\n",
                o.data, V - RS_CORPUS_SPECIALS, o.max_vocab);
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
    rs_config cfg = {.task = RS_TASK_TEXTLM,
                     .cell = (rs_cell)o.cell,
                     .num_layers = o.layers,
                     .hidden_size = o.hidden,
                     .embedding_dim = o.embed,
                     .vocab_size = V,
                     .n_outputs = V};
    if (rs_config_check(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain textlm: %s\n", err);
        goto done;
    }
    size_t n_params = rs_param_count(&cfg);
    int Bv = VALID_STREAMS;
    while (Bv > 1 && (n_valid - 1) / Bv < 2)
        Bv--;
    streams valid = {.ids = ids, .start = n_train, .S = (n_valid - 1) / Bv, .B = Bv, .T = T};
    size_t state = (size_t)o.layers * B * o.hidden, vstate = (size_t)o.layers * Bv * o.hidden;
    int lstm = cfg.cell == RS_CELL_LSTM;
    theta = malloc(n_params * sizeof *theta);
    grad = malloc(n_params * sizeof *grad);
    best = malloc(n_params * sizeof *best);
    h = calloc(state, sizeof *h);
    c = calloc(state, sizeof *c);
    vh = malloc(vstate * sizeof *vh);
    vc = malloc(vstate * sizeof *vc);
    int big = B > Bv ? B : Bv;
    tokens = malloc((size_t)big * T * sizeof *tokens);
    targets = malloc((size_t)big * T * sizeof *targets);
    lengths = malloc((size_t)big * sizeof *lengths);
    ws = rs_workspace_create(&cfg, B, T);
    vws = rs_workspace_create(&cfg, Bv, T);
    sig = signature(&o, sha, V);
    if (!theta || !grad || !best || !h || !c || !vh || !vc || !tokens || !targets || !lengths ||
        !ws || !vws || !sig || rs_optim_init(&opt, RS_OPTIM_ADAM, n_params, o.lr, o.weight_decay))
        goto nomem;
    rs_params p, g;
    rs_params_bind(&cfg, theta, &p);
    rs_params_bind(&cfg, grad, &g);

    progress pg = {.best_loss = INFINITY, .best_epoch = 0, .offset = -1};
    rs_rng rng;
    rs_rng_seed(&rng, o.seed);
    rs_params_init(&cfg, &p, &rng);
    if (o.init_from && init_weights(o.init_from, &cfg, vocab, theta, err, sizeof err)) {
        fprintf(stderr, "rnntrain textlm: --init-from: %s\n", err);
        goto done;
    }
    memcpy(best, theta, n_params * sizeof *theta);
    int resumed = 0;
    if (o.resume && access(o.checkpoint, F_OK) == 0) {
        if (checkpoint_read(o.checkpoint, sig, &pg, n_params, theta, &opt, best, h, lstm ? c : NULL,
                            state, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain textlm: --resume: %s\n", err);
            goto done;
        }
        rng = pg.rng;
        resumed = 1;
    }
    if (o.log && !(logf = fopen(o.log, resumed ? "a" : "w"))) {
        fprintf(stderr, "rnntrain textlm: %s: cannot create the log\n", o.log);
        goto done;
    }
    if (logf && !resumed)
        fprintf(logf, "epoch,step,train_nll,valid_nll,lr,chars_per_s,seconds\n");

    long per_epoch_windows = (long)((n_train - 1 - (T - 1)) / B + T - 1) / T; /* for the ETA */
    long total_steps = per_epoch_windows * o.epochs;
    fprintf(stderr,
            "rnntrain textlm: %ld %s (%ld train, %ld valid), vocab %d, %s %dx%d, %zu "
            "parameters, %d streams x %d, ~%ld windows an epoch\n",
            n, unit, n_train, n_valid, V, cell_choices[o.cell], o.layers, o.hidden, n_params, B, T,
            per_epoch_windows);
    if (resumed)
        fprintf(stderr, "resumed from %s: epoch %d, window %d, step %ld, best valid %.4f\n",
                o.checkpoint, pg.epoch + 1, pg.window, pg.step, pg.best_loss);

    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    rs_forward_opts fopts = {
        .dropout = (rs_real)o.dropout, .weight_dropout = (rs_real)o.weight_dropout, .rng = &rng};
    int tty = isatty(STDERR_FILENO);
    double t_start = now_seconds(), last_checkpoint = t_start, last_report = t_start;
    int stopped = 0;
    while (pg.epoch < o.epochs && !stopped) {
        if (pg.offset < 0) { /* a new epoch: its offset, zero state */
            pg.offset = (long)rs_rng_below(&rng, (uint32_t)T);
            pg.window = 0;
            pg.train_sum = 0;
            pg.train_tokens = 0;
            memset(h, 0, state * sizeof *h);
            memset(c, 0, state * sizeof *c);
        }
        streams tr = {
            .ids = ids, .start = pg.offset, .S = (n_train - 1 - pg.offset) / B, .B = B, .T = T};
        int windows = stream_windows(&tr);
        double epoch_t0 = now_seconds();
        long epoch_tokens0 = pg.train_tokens;
        for (; pg.window < windows; pg.window++) {
            int len = stream_window(&tr, pg.window, tokens, targets, lengths);
            rs_batch batch = {.B = B,
                              .T = len,
                              .tokens = tokens,
                              .lengths = lengths,
                              .targets = targets,
                              .h0 = h,
                              .c0 = lstm ? c : NULL};
            memset(grad, 0, n_params * sizeof *grad);
            double loss = rs_forward(ws, &p, &batch, &fopts);
            rs_backward(ws, &p, &g, &batch);
            rs_workspace_final_state(ws, h, lstm ? c : NULL);
            if (o.clip > 0)
                rs_clip_grad_norm(grad, n_params, o.clip);
            double lr = rs_schedule_lr((rs_schedule)o.schedule, o.lr, pg.step, total_steps);
            rs_optim_step(&opt, theta, grad, lr);
            pg.step++;
            pg.train_sum += loss * (double)len * B;
            pg.train_tokens += (long)len * B;
            double now = now_seconds();
            if (now - last_report >= (tty ? 0.5 : 30.0)) {
                double rate = (double)(pg.train_tokens - epoch_tokens0) / (now - epoch_t0 + 1e-9);
                double left = (double)(total_steps - pg.step) * B * T / (rate + 1e-9);
                fprintf(stderr, "%sepoch %d/%d  window %d/%d  loss %.4f  %.0f chars/s  ETA %.0fs%s",
                        tty ? "\r" : "", pg.epoch + 1, o.epochs, pg.window + 1, windows,
                        pg.train_sum / (double)pg.train_tokens, rate, left, tty ? "   " : "\n");
                last_report = now;
            }
            if (stop_requested || (o.time_budget > 0 && now - t_start >= o.time_budget)) {
                pg.window++;
                stopped = 1;
                break;
            }
            if (o.checkpoint && now - last_checkpoint >= o.checkpoint_every) {
                pg.window++;
                pg.rng = rng;
                pg.elapsed += now - t_start;
                int rc = checkpoint_write(o.checkpoint, sig, &pg, n_params, theta, &opt, best, h,
                                          lstm ? c : NULL, state, err, sizeof err);
                pg.elapsed -= now - t_start;
                pg.window--;
                if (rc != 0) {
                    fprintf(stderr, "\nrnntrain textlm: checkpoint: %s\n", err);
                    goto done;
                }
                last_checkpoint = now;
            }
        }
        if (stopped && pg.window < windows)
            break;
        /* the epoch is complete: validate, keep the best */
        stopped = 0;
        double vloss = streams_nll(vws, &p, &cfg, &valid, tokens, targets, lengths, vh, vc);
        double train = pg.train_sum / (double)(pg.train_tokens ? pg.train_tokens : 1);
        double secs = now_seconds() - epoch_t0;
        pg.epoch++;
        int improved = vloss < pg.best_loss;
        fprintf(stderr, "%sepoch %d/%d  train %.4f  valid %.4f  %.0f chars/s  %.1fs%s\n",
                tty ? "\r" : "", pg.epoch, o.epochs, train, vloss,
                (double)(pg.train_tokens - epoch_tokens0) / (secs + 1e-9), secs,
                improved ? "  *" : "");
        if (logf) {
            fprintf(logf, "%d,%ld,%.6f,%.6f,%.6g,%.0f,%.2f\n", pg.epoch, pg.step, train, vloss,
                    rs_schedule_lr((rs_schedule)o.schedule, o.lr, pg.step, total_steps),
                    (double)(pg.train_tokens - epoch_tokens0) / (secs + 1e-9), secs);
            fflush(logf);
        }
        if (improved) {
            pg.best_loss = vloss;
            pg.best_epoch = pg.epoch;
            memcpy(best, theta, n_params * sizeof *theta);
            free(tjson);
            tjson = training_json(&o, sha, n_train, n_valid, &pg);
            rs_params pb;
            rs_params_bind(&cfg, best, &pb);
            rs_model_spec spec = {.cfg = cfg,
                                  .vocab = (const char *const *)vocab,
                                  .normalize = RS_NORMALIZE_NONE,
                                  .training_json = tjson,
                                  .unigram = unigram};
            if (!tjson || rs_model_write(o.out, &spec, &pb, err, sizeof err) != 0) {
                fprintf(stderr, "rnntrain textlm: %s\n", tjson ? err : "out of memory");
                goto done;
            }
        }
        pg.offset = -1; /* the next epoch draws its own */
        if (stop_requested || (o.time_budget > 0 && now_seconds() - t_start >= o.time_budget))
            stopped = 1;
    }
    if (o.checkpoint) {
        pg.rng = rng;
        pg.elapsed += now_seconds() - t_start;
        /* a stopped epoch resumes at its next window with the same offset;
         * pg.offset = -1 makes the next run start a new epoch */
        if (checkpoint_write(o.checkpoint, sig, &pg, n_params, theta, &opt, best, h,
                             lstm ? c : NULL, state, err, sizeof err) != 0) {
            fprintf(stderr, "rnntrain textlm: checkpoint: %s\n", err);
            goto done;
        }
    }
    if (pg.epoch < o.epochs) {
        fprintf(stderr, "stopped at epoch %d/%d, window %d (%s); %s\n", pg.epoch + 1, o.epochs,
                pg.window, stop_requested ? "signal" : "--time-budget",
                o.checkpoint ? "continue with --resume" : "no --checkpoint: cannot resume");
    }
    if (pg.best_epoch > 0)
        fprintf(stderr, "%s: weights of epoch %d, valid nll/token %.4f\n", o.out, pg.best_epoch,
                pg.best_loss);
    else
        fprintf(stderr, "no epoch completed yet: %s not written\n", o.out);
    status = pg.epoch < o.epochs && stop_requested ? 1 : 0;
    goto done;
nomem:
    fprintf(stderr, "rnntrain textlm: out of memory\n");
done:
    if (logf)
        fclose(logf);
    rs_corpus_free(&corpus);
    rs_vocab_free(vocab, V);
    free(ids);
    free(table);
    free(unigram);
    free(tokens);
    free(targets);
    free(lengths);
    free(theta);
    free(grad);
    free(best);
    free(h);
    free(c);
    free(vh);
    free(vc);
    free(sig);
    free(tjson);
    rs_optim_free(&opt);
    rs_workspace_destroy(ws);
    rs_workspace_destroy(vws);
    return status;
}
