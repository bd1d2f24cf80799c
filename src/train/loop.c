/*
 * loop.c — the training loop every `rnntrain` task shares (loop.h).
 *
 * One step: zero the gradient, the task's forward and backward, clip the
 * gradient's global norm, one optimiser step at the schedule's learning
 * rate.  One epoch: the task's steps, then its validation; the best
 * parameters by validation loss are kept and written through the task.
 *
 * Checkpoints (--checkpoint) hold the parameters, Adam's moments, the best
 * parameters, the averaging ring, the task's carried state, and the
 * progress (epoch, step in it, the generator before and after the epoch's
 * draw, the running sums) as JSON metadata; they are written every
 * --checkpoint-every seconds, at each epoch's end and on stopping.
 */
#define _POSIX_C_SOURCE 200809L
#include "loop.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plot.h"
#include "rnnserve/optim.h"
#include "rnnserve/safetensors.h"

#define CHECKPOINT_FORMAT "rnntrain-checkpoint/2"

static const char *const schedule_choices[] = {"constant", "cosine", NULL};
static const char *const optim_choices[] = {"adam", "sgd", NULL};

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

void rs_loop_date(char out[16])
{
    time_t t = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde)
        t = (time_t)strtoll(sde, NULL, 10);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

void rs_loop_defaults(rs_loop_opts *o)
{
    *o = (rs_loop_opts){.epochs = 20,
                        .lr = 3e-3,
                        .clip = 1.0,
                        .schedule = RS_SCHEDULE_COSINE,
                        .optimizer = RS_OPTIM_ADAM,
                        .checkpoint_every = 300};
}

int rs_loop_flags(rs_loop_opts *o, flag *table, int *n, int cap)
{
    const flag shared[] = {
        {"epochs", NULL, FLAG_INT, &o->epochs, 1, 100000, NULL, "maximum epochs", 0, NULL},
        {"lr", NULL, FLAG_DOUBLE, &o->lr, 1e-7, 10, NULL, "learning rate", 0, NULL},
        {"weight-decay", NULL, FLAG_DOUBLE, &o->weight_decay, 0, 1, NULL, "L2 weight decay", 0,
         NULL},
        {"clip", NULL, FLAG_DOUBLE, &o->clip, 0, 1e6, NULL, "gradient-norm clip, 0 = off", 0, NULL},
        {"schedule", NULL, FLAG_CHOICE, &o->schedule, 0, 0, schedule_choices,
         "learning-rate schedule", 0, NULL},
        {"optimizer", NULL, FLAG_CHOICE, &o->optimizer, 0, 0, optim_choices, "adam or sgd", 0,
         NULL},
        {"patience", NULL, FLAG_INT, &o->patience, 0, 100000, NULL,
         "stop after this many epochs without improvement, 0 = off", 0, NULL},
        {"average", NULL, FLAG_INT, &o->average, 0, 100, NULL,
         "also try the mean of the last N epochs' weights, keep it if better, 0 = off", 0, NULL},
        {"log", NULL, FLAG_STRING, &o->log, 0, 0, NULL, "write per-epoch figures as CSV", 0, NULL},
        {"plot", NULL, FLAG_STRING, &o->plot, 0, 0, NULL,
         "draw the training and validation loss (and the learning rate) per epoch as an SVG, "
         "rewritten after every epoch",
         0, NULL},
        {"checkpoint", NULL, FLAG_STRING, &o->checkpoint, 0, 0, NULL,
         "file for the whole training state (see --resume)", 0, NULL},
        {"checkpoint-every", NULL, FLAG_DOUBLE, &o->checkpoint_every, 1, 1e9, NULL,
         "seconds between checkpoints (also written at each epoch's end and on stopping)", 0, NULL},
        {"resume", NULL, FLAG_BOOL, &o->resume, 0, 0, NULL,
         "continue from --checkpoint when it exists (same data and flags)", 0, NULL},
        {"time-budget", NULL, FLAG_DOUBLE, &o->time_budget, 0, 1e9, NULL,
         "stop after this many seconds of this process (writing the checkpoint); 0 = none", 0,
         NULL},
    };
    int k = (int)(sizeof shared / sizeof shared[0]);
    if (*n + k > cap)
        return -1;
    memcpy(table + *n, shared, sizeof shared);
    *n += k;
    return 0;
}

int rs_loop_check(const rs_loop_opts *o, const flag *table, int n, const char *cmd)
{
    if (o->resume && !o->checkpoint) {
        fprintf(stderr, "rnntrain %s: --resume needs --checkpoint\n", cmd);
        return -1;
    }
    (void)table;
    (void)n;
    return 0;
}

/* ---- checkpoints -------------------------------------------------------- */

static int copy_typed(const rs_st_file *f, const char *name, rs_dtype dtype, size_t numel,
                      void *dst, char *err, size_t errlen)
{
    const rs_st_tensor *t = rs_st_find(f, name);
    if (!t || t->dtype != dtype || t->numel != numel) {
        snprintf(err, errlen, "%s: tensor '%s' is missing or has the wrong size", rs_st_path(f),
                 name);
        return -1;
    }
    rs_st_copy(t, dst);
    return 0;
}

/* Where the run is; what a checkpoint's "progress" says. */
typedef struct progress {
    int epoch;        /* epochs completed */
    long index;       /* steps done in epoch+1; -1: epoch+1 not begun */
    long step;        /* optimiser steps so far */
    rs_rng rng_epoch; /* before epoch+1's draw */
    double best_loss, best_accuracy;
    int best_epoch, best_is_average, since_best;
    double train_sum, train_weight; /* epoch+1's loss so far */
    long units;                     /* and what its rate counts */
    double elapsed;                 /* seconds of training before this process */
    double *history;                /* (3, epochs): train loss, valid loss, lr of each epoch */
    int history_cap;
} progress;

static char *full_signature(const rs_loop_task *t, const rs_loop_opts *o)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "%s epochs=%d lr=%.17g wd=%.17g clip=%.17g schedule=%s optimizer=%s patience=%d "
             "average=%d",
             t->signature ? t->signature : "", o->epochs, o->lr, o->weight_decay, o->clip,
             schedule_choices[o->schedule], optim_choices[o->optimizer], o->patience, o->average);
    return strdup(buf);
}

static void rng_json(cJSON *j, const char *key, const rs_rng *r)
{
    char s[48];
    snprintf(s, sizeof s, "%llu:%llu", (unsigned long long)r->state, (unsigned long long)r->inc);
    cJSON_AddStringToObject(j, key, s);
}

static int rng_parse(const cJSON *j, const char *key, rs_rng *r)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    unsigned long long s, inc;
    if (!cJSON_IsString(v) || sscanf(v->valuestring, "%llu:%llu", &s, &inc) != 2)
        return -1;
    r->state = s;
    r->inc = inc;
    return 0;
}

static int checkpoint_write(const char *path, const char *sig, const progress *pg,
                            const rs_rng *rng, const rs_loop_task *t, size_t n, const float *theta,
                            const rs_optim *opt, const float *best, const float *ring,
                            size_t ring_n, char *err, size_t errlen)
{
    rs_st_out out[8 + 8];
    int k = 0;
#define TENSOR(nm, ptr, count)                                                                     \
    out[k++] = (rs_st_out){                                                                        \
        .name = (nm), .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {(count)}, .data = (ptr)}
    TENSOR("theta", theta, n);
    TENSOR("best", best, n);
    if (opt->m) {
        TENSOR("adam.m", opt->m, n);
        TENSOR("adam.v", opt->v, n);
    }
    if (ring)
        TENSOR("average.ring", ring, ring_n);
    for (int i = 0; i < t->n_state && i < 8; i++) {
        TENSOR(t->state[i].name, t->state[i].data, t->state[i].n);
        if (t->state[i].is_int)
            out[k - 1].dtype = RS_DTYPE_I32;
    }
#undef TENSOR
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", pg->epoch);
    cJSON_AddNumberToObject(j, "index", (double)pg->index);
    cJSON_AddNumberToObject(j, "step", (double)pg->step);
    cJSON_AddNumberToObject(j, "optim_step", (double)opt->step);
    rng_json(j, "rng_epoch", &pg->rng_epoch);
    rng_json(j, "rng", rng);
    cJSON_AddNumberToObject(j, "best_loss", isfinite(pg->best_loss) ? pg->best_loss : -1.0);
    cJSON_AddNumberToObject(j, "best_accuracy", pg->best_accuracy);
    cJSON_AddNumberToObject(j, "best_epoch", pg->best_epoch);
    cJSON_AddNumberToObject(j, "best_is_average", pg->best_is_average);
    cJSON_AddNumberToObject(j, "since_best", pg->since_best);
    cJSON_AddNumberToObject(j, "train_sum", pg->train_sum);
    cJSON_AddNumberToObject(j, "train_weight", pg->train_weight);
    cJSON_AddNumberToObject(j, "units", (double)pg->units);
    cJSON_AddNumberToObject(j, "elapsed", pg->elapsed);
    if (pg->history && pg->epoch > 0) {
        static const char *const keys[3] = {"history_train", "history_valid", "history_lr"};
        for (int k = 0; k < 3; k++)
            cJSON_AddItemToObject(
                j, keys[k],
                cJSON_CreateDoubleArray(pg->history + (size_t)k * pg->history_cap, pg->epoch));
    }
    char *pj = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!pj) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *keys[3] = {"format", "signature", "progress"};
    const char *values[3] = {CHECKPOINT_FORMAT, sig, pj};
    int rc = rs_st_write(path, out, k, keys, values, 3, err, errlen);
    free(pj);
    return rc;
}

static int copy_tensor(const rs_st_file *f, const char *name, size_t numel, void *dst, char *err,
                       size_t errlen)
{
    return copy_typed(f, name, RS_DTYPE_F32, numel, dst, err, errlen);
}

static double number(const cJSON *j, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) {
        *ok = 0;
        return 0;
    }
    return v->valuedouble;
}

/* Reads a checkpoint into place; the task's state tensors go to
 * state_copy[i] (the loop puts them in after the task's begin_epoch). */
static int checkpoint_read(const char *path, const char *sig, progress *pg, rs_rng *rng,
                           const rs_loop_task *t, size_t n, float *theta, rs_optim *opt,
                           float *best, float *ring, size_t ring_n, void **state_copy, char *err,
                           size_t errlen)
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
        snprintf(err, errlen, "%s: not an rnntrain checkpoint (format %s)", path,
                 CHECKPOINT_FORMAT);
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
        copy_tensor(f, "best", n, best, err, errlen) ||
        (opt->m && (copy_tensor(f, "adam.m", n, opt->m, err, errlen) ||
                    copy_tensor(f, "adam.v", n, opt->v, err, errlen))) ||
        (ring && copy_tensor(f, "average.ring", ring_n, ring, err, errlen)))
        goto done;
    for (int i = 0; i < t->n_state; i++)
        if (copy_typed(f, t->state[i].name, t->state[i].is_int ? RS_DTYPE_I32 : RS_DTYPE_F32,
                       t->state[i].n, state_copy[i], err, errlen))
            goto done;
    int ok = 1;
    pg->epoch = (int)number(j, "epoch", &ok);
    pg->index = (long)number(j, "index", &ok);
    pg->step = (long)number(j, "step", &ok);
    opt->step = (long)number(j, "optim_step", &ok);
    double bl = number(j, "best_loss", &ok);
    pg->best_loss = bl < 0 ? INFINITY : bl;
    pg->best_accuracy = number(j, "best_accuracy", &ok);
    pg->best_epoch = (int)number(j, "best_epoch", &ok);
    pg->best_is_average = (int)number(j, "best_is_average", &ok);
    pg->since_best = (int)number(j, "since_best", &ok);
    pg->train_sum = number(j, "train_sum", &ok);
    pg->train_weight = number(j, "train_weight", &ok);
    pg->units = (long)number(j, "units", &ok);
    pg->elapsed = number(j, "elapsed", &ok);
    if (!ok || rng_parse(j, "rng_epoch", &pg->rng_epoch) || rng_parse(j, "rng", rng)) {
        snprintf(err, errlen, "%s: its progress record is incomplete", path);
        goto done;
    }
    static const char *const keys[3] = {"history_train", "history_valid", "history_lr"};
    for (int k = 0; k < 3 && pg->history; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        int i = 0;
        for (const cJSON *v = a ? a->child : NULL; v && i < pg->epoch && i < pg->history_cap;
             v = v->next, i++)
            pg->history[(size_t)k * pg->history_cap + i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    status = 0;
done:
    cJSON_Delete(j);
    rs_st_close(f);
    return status;
}

/* ---- the loop ----------------------------------------------------------- */

typedef struct loop {
    const rs_loop_task *t;
    const rs_loop_opts *o;
    size_t n;
    float *theta, *grad, *best, *ring, *avg;
    size_t ring_n;
    rs_optim opt;
    rs_rng *rng;
    char *sig;
    progress pg;
    double t_start;
    char err[1024];
} loop;

static int save_checkpoint(loop *L)
{
    double now = now_seconds();
    L->pg.elapsed += now - L->t_start;
    int rc = checkpoint_write(L->o->checkpoint, L->sig, &L->pg, L->rng, L->t, L->n, L->theta,
                              &L->opt, L->best, L->ring, L->ring_n, L->err, sizeof L->err);
    L->pg.elapsed -= now - L->t_start;
    if (rc != 0)
        fprintf(stderr, "\nrnntrain %s: checkpoint: %s\n", L->t->cmd, L->err);
    return rc;
}

static int write_best(loop *L, int epochs_run)
{
    rs_loop_result r = {.epochs_run = epochs_run,
                        .best_epoch = L->pg.best_epoch,
                        .best_is_average = L->pg.best_is_average,
                        .best_loss = L->pg.best_loss,
                        .best_accuracy = L->pg.best_accuracy};
    if (L->t->write_model(L->t->ctx, L->best, &r, L->err, sizeof L->err) != 0) {
        fprintf(stderr, "rnntrain %s: %s\n", L->t->cmd, L->err);
        return -1;
    }
    return 0;
}

/* --plot: the curves of the epochs so far. */
static void draw(loop *L)
{
    if (!L->o->plot || L->pg.epoch == 0)
        return;
    int cap = L->pg.history_cap;
    rs_series s[3] = {{"training loss", L->pg.history, 0},
                      {"validation loss", L->pg.history + cap, 0},
                      {"learning rate", L->pg.history + 2 * (size_t)cap, 1}};
    char title[128];
    snprintf(title, sizeof title, "rnntrain %s: loss per epoch", L->t->cmd);
    if (rs_plot_curves(L->o->plot, title, "loss (nats)", "learning rate", s, 3, L->pg.epoch, L->err,
                       sizeof L->err) != 0)
        fprintf(stderr, "rnntrain %s: --plot: %s\n", L->t->cmd, L->err); /* training goes on */
}

static int stop_now(const loop *L)
{
    return stop_requested ||
           (L->o->time_budget > 0 && now_seconds() - L->t_start >= L->o->time_budget);
}

/* Tries the mean of the last `average` epochs' weights; keeps it if better. */
static void try_average(loop *L, int epochs_run)
{
    int k = L->o->average;
    for (size_t i = 0; i < L->n; i++) {
        double s = 0.0;
        for (int e = 0; e < k; e++)
            s += L->ring[(size_t)e * L->n + i];
        L->avg[i] = (float)(s / k);
    }
    double acc = 0.0;
    double vloss = L->t->validate(L->t->ctx, L->avg, &acc);
    fprintf(stderr, "mean of the last %d epochs: valid %.4f (best single epoch %.4f)\n", k, vloss,
            L->pg.best_loss);
    if (vloss < L->pg.best_loss) {
        L->pg.best_loss = vloss;
        L->pg.best_accuracy = acc;
        L->pg.best_epoch = epochs_run;
        L->pg.best_is_average = 1;
        memcpy(L->best, L->avg, L->n * sizeof *L->avg);
    }
}

int rs_train_loop(const rs_loop_task *t, const rs_loop_opts *o, float *theta, float *grad, size_t n,
                  rs_rng *rng, rs_loop_result *r)
{
    loop L = {.t = t, .o = o, .n = n, .theta = theta, .grad = grad, .rng = rng};
    L.pg = (progress){.best_loss = INFINITY, .index = -1};
    *r = (rs_loop_result){0};
    int status = 1, resumed = 0;
    void *state_copy[8] = {0};
    FILE *logf = NULL;
    L.best = malloc(n * sizeof *L.best);
    if (o->average > 0) {
        L.ring_n = n * (size_t)o->average;
        L.ring = calloc(L.ring_n, sizeof *L.ring);
        L.avg = malloc(n * sizeof *L.avg);
    }
    L.sig = full_signature(t, o);
    L.pg.history_cap = o->epochs;
    L.pg.history = malloc((size_t)3 * o->epochs * sizeof *L.pg.history);
    for (int i = 0; L.pg.history && i < 3 * o->epochs; i++)
        L.pg.history[i] = NAN;
    int ok = L.best && L.sig && L.pg.history && (o->average == 0 || (L.ring && L.avg)) &&
             t->n_state <= 8 &&
             rs_optim_init(&L.opt, (rs_optim_kind)o->optimizer, n, o->lr, o->weight_decay) == 0;
    for (int i = 0; ok && i < t->n_state; i++)
        ok = (state_copy[i] = malloc(t->state[i].n * 4)) != NULL; /* float or int32 */
    if (!ok) {
        fprintf(stderr, "rnntrain %s: out of memory\n", t->cmd);
        goto done;
    }
    memcpy(L.best, theta, n * sizeof *theta);

    if (o->resume && o->checkpoint && access(o->checkpoint, F_OK) == 0) {
        if (checkpoint_read(o->checkpoint, L.sig, &L.pg, rng, t, n, theta, &L.opt, L.best, L.ring,
                            L.ring_n, state_copy, L.err, sizeof L.err) != 0) {
            fprintf(stderr, "rnntrain %s: --resume: %s\n", t->cmd, L.err);
            goto done;
        }
        resumed = 1;
        for (int i = 0; i < t->n_state; i++)
            memcpy(t->state[i].data, state_copy[i], t->state[i].n * 4);
        fprintf(stderr, "resumed from %s: epoch %d, step %ld of it, best valid %.4f\n",
                o->checkpoint, L.pg.epoch + 1, L.pg.index < 0 ? 0 : L.pg.index, L.pg.best_loss);
    }
    if (o->log && !(logf = fopen(o->log, resumed ? "a" : "w"))) {
        fprintf(stderr, "rnntrain %s: %s: cannot create the log\n", t->cmd, o->log);
        goto done;
    }
    if (logf && !resumed)
        fprintf(logf,
                "epoch,steps,train_loss,valid_loss,valid_accuracy,lr,chars_per_s,elapsed_s\n");

    stop_requested = 0;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    long total_steps = t->steps_per_epoch * o->epochs;
    int tty = isatty(STDERR_FILENO);
    L.t_start = now_seconds();
    double last_checkpoint = L.t_start, last_report = L.t_start;
    int stopped = 0;
    while (L.pg.epoch < o->epochs && !stopped) {
        long steps;
        if (L.pg.index < 0) { /* a new epoch */
            L.pg.rng_epoch = *rng;
            steps = t->begin_epoch(t->ctx, rng);
            L.pg.index = 0;
            L.pg.train_sum = L.pg.train_weight = 0;
            L.pg.units = 0;
        } else { /* resumed inside an epoch: redraw its order, then the state */
            rs_rng now = *rng;
            *rng = L.pg.rng_epoch;
            steps = t->begin_epoch(t->ctx, rng);
            *rng = now;
            for (int i = 0; i < t->n_state; i++)
                memcpy(t->state[i].data, state_copy[i], t->state[i].n * 4);
        }
        double epoch_t0 = now_seconds();
        long units0 = L.pg.units, index0 = L.pg.index;
        for (; L.pg.index < steps; L.pg.index++) {
            memset(grad, 0, n * sizeof *grad);
            double weight = 0;
            long units = 0;
            double loss = t->step(t->ctx, L.pg.index, &weight, &units);
            if (o->clip > 0)
                rs_clip_grad_norm(grad, n, o->clip);
            double lr = rs_schedule_lr((rs_schedule)o->schedule, o->lr, L.pg.step, total_steps);
            rs_optim_step(&L.opt, theta, grad, lr);
            L.pg.step++;
            L.pg.train_sum += loss * weight;
            L.pg.train_weight += weight;
            L.pg.units += units;
            double now = now_seconds();
            if (now - last_report >= (tty ? 0.25 : 30.0)) {
                double rate = (double)(L.pg.units - units0) / (now - epoch_t0 + 1e-9);
                double per_step = (now - epoch_t0) / (double)(L.pg.index + 1 - index0);
                double eta = per_step * (double)(total_steps - L.pg.step);
                fprintf(stderr, "%sepoch %d/%d  step %ld/%ld  loss %.4f  %.0f %s/s  ETA %.0fs%s",
                        tty ? "\r" : "", L.pg.epoch + 1, o->epochs, L.pg.index + 1, steps,
                        L.pg.train_sum / (L.pg.train_weight + 1e-300), rate, t->unit,
                        eta > 0 ? eta : 0, tty ? "   " : "\n");
                last_report = now;
            }
            if (stop_now(&L)) {
                L.pg.index++;
                stopped = 1;
                break;
            }
            if (o->checkpoint && now - last_checkpoint >= o->checkpoint_every) {
                L.pg.index++;
                int rc = save_checkpoint(&L);
                L.pg.index--;
                if (rc != 0)
                    goto done;
                last_checkpoint = now;
            }
        }
        if (stopped && L.pg.index < steps)
            break;
        stopped = 0;
        /* the epoch is complete: validate, keep the best */
        double secs = now_seconds() - epoch_t0, acc = 0.0;
        double vloss = t->validate(t->ctx, theta, &acc);
        double train = L.pg.train_sum / (L.pg.train_weight > 0 ? L.pg.train_weight : 1);
        double rate = (double)(L.pg.units - units0) / (secs + 1e-9);
        L.pg.epoch++;
        L.pg.index = -1;
        double lr_now = rs_schedule_lr((rs_schedule)o->schedule, o->lr, L.pg.step, total_steps);
        L.pg.history[L.pg.epoch - 1] = train;
        L.pg.history[L.pg.history_cap + L.pg.epoch - 1] = vloss;
        L.pg.history[2 * (size_t)L.pg.history_cap + L.pg.epoch - 1] = lr_now;
        draw(&L);
        int improved = vloss < L.pg.best_loss;
        if (tty)
            fputc('\r', stderr);
        fprintf(stderr, "epoch %d/%d  train %.4f  valid %.4f", L.pg.epoch, o->epochs, train, vloss);
        if (t->has_accuracy)
            fprintf(stderr, "  valid accuracy %.4f", acc);
        fprintf(stderr, "  %.0f %s/s  %.1fs%s\n", rate, t->unit, secs, improved ? "  *" : "");
        if (logf) {
            fprintf(logf, "%d,%ld,%.6f,%.6f,%.6f,%.6g,%.0f,%.2f\n", L.pg.epoch, L.pg.step, train,
                    vloss, t->has_accuracy ? acc : 0.0, lr_now, rate,
                    L.pg.elapsed + now_seconds() - L.t_start);
            fflush(logf);
        }
        if (o->average > 0) /* the last N epochs' weights; their mean often generalises better */
            memcpy(L.ring + (size_t)((L.pg.epoch - 1) % o->average) * n, theta, n * sizeof *theta);
        if (improved) {
            L.pg.best_loss = vloss;
            L.pg.best_accuracy = acc;
            L.pg.best_epoch = L.pg.epoch;
            L.pg.best_is_average = 0;
            L.pg.since_best = 0;
            memcpy(L.best, theta, n * sizeof *theta);
            if (write_best(&L, L.pg.epoch) != 0)
                goto done;
        } else {
            L.pg.since_best++;
        }
        if (o->patience > 0 && L.pg.since_best >= o->patience) {
            fprintf(stderr, "no improvement for %d epochs: stopping\n", o->patience);
            break;
        }
        if (stop_now(&L))
            stopped = 1;
    }
    int finished = L.pg.epoch >= o->epochs || (o->patience > 0 && L.pg.since_best >= o->patience);
    if (o->checkpoint && save_checkpoint(&L) != 0)
        goto done;
    if (finished && o->average > 0 && L.pg.epoch >= o->average)
        try_average(&L, L.pg.epoch);
    /* once more at the end: the file says how many epochs ran */
    if (finished && L.pg.best_epoch > 0 && write_best(&L, L.pg.epoch) != 0)
        goto done;
    if (!finished)
        fprintf(stderr, "stopped at epoch %d/%d, step %ld (%s); %s\n", L.pg.epoch + 1, o->epochs,
                L.pg.index < 0 ? 0 : L.pg.index, stop_requested ? "signal" : "--time-budget",
                o->checkpoint ? "continue with --resume" : "no --checkpoint: cannot resume");
    *r = (rs_loop_result){.epochs_run = L.pg.epoch,
                          .best_epoch = L.pg.best_epoch,
                          .best_is_average = L.pg.best_is_average,
                          .best_loss = L.pg.best_loss,
                          .best_accuracy = L.pg.best_accuracy,
                          .stopped = !finished};
    status = !finished && stop_requested ? 1 : 0;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (logf)
        fclose(logf);
    for (int i = 0; i < 8; i++)
        free(state_copy[i]);
    rs_optim_free(&L.opt);
    free(L.best);
    free(L.ring);
    free(L.avg);
    free(L.sig);
    free(L.pg.history);
    return status;
}
