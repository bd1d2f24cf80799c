/*
 * loop.h — the training loop every `rnntrain` task shares (loop.c).
 *
 * A task (classifier, generator, textlm, translator) knows its data, its
 * batches and its model file; the loop knows everything else: epochs,
 * the learning-rate schedule, gradient clipping, the optimiser, progress
 * lines with an ETA, the per-epoch CSV log, best-by-validation (the model
 * file is rewritten, atomically, whenever validation improves), patience,
 * weight averaging over the last epochs, a time budget, SIGINT/SIGTERM,
 * checkpoints from which a run resumes to the same bytes as a run never
 * stopped, and --plot: the loss curves and the learning rate as an SVG,
 * rewritten after every epoch (plot.h).
 *
 * Determinism across a resume: the task draws an epoch's order from the
 * run's generator in begin_epoch and nothing else; the loop keeps the
 * generator as it was before begin_epoch, so a resumed run redraws the
 * same order, then takes the generator as it was at the stop.
 */
#ifndef RNNTRAIN_LOOP_H
#define RNNTRAIN_LOOP_H

#include <stddef.h>

#include "flags.h"
#include "rnnserve/rng.h"

/* The loop's flags (rs_loop_flags adds them to a task's table). */
typedef struct rs_loop_opts {
    int epochs, patience, average;
    double lr, weight_decay, clip;
    int schedule;  /* rs_schedule */
    int optimizer; /* rs_optim_kind */
    const char *log, *checkpoint, *plot;
    double checkpoint_every, time_budget;
    int resume;
} rs_loop_opts;

/* Defaults: 20 epochs, Adam, lr 3e-3, clip 1, cosine, checkpoints every 300 s. */
void rs_loop_defaults(rs_loop_opts *o);
/* Appends the loop's flags to table[*n..cap); -1 if they do not fit. */
int rs_loop_flags(rs_loop_opts *o, flag *table, int *n, int cap);
/* "rnntrain CMD: …" for flag combinations the loop refuses; 0 if fine. */
int rs_loop_check(const rs_loop_opts *o, const flag *table, int n, const char *cmd);

/* "YYYY-MM-DD" for a model's "training" metadata: SOURCE_DATE_EPOCH when
 * set (reproducible builds), else today (UTC). */
void rs_loop_date(char out[16]);

/* A task's array that a checkpoint keeps besides the parameters: state
 * carried between steps (a textlm's h and c) or between epochs (the order
 * of the items, which each epoch shuffles further).  A resumed run puts it
 * back before the next epoch's begin_epoch, or, resuming inside an epoch,
 * after the redrawn begin_epoch. */
typedef struct rs_loop_state {
    const char *name;
    void *data; /* n floats, or n int32 with is_int */
    size_t n;
    int is_int;
} rs_loop_state;

typedef struct rs_loop_result {
    int epochs_run;      /* epochs completed, resumed ones included */
    int best_epoch;      /* 0: none yet */
    int best_is_average; /* the best weights are the mean of the last `average` epochs */
    double best_loss, best_accuracy;
    int stopped; /* ended by --time-budget or a signal before the last epoch */
} rs_loop_result;

#define RS_LOOP_MAX_EPOCHS 100000

typedef struct rs_loop_task {
    const char *cmd;       /* "textlm": messages say "rnntrain textlm: …" */
    const char *unit;      /* what the rate counts: "chars", "words" */
    int has_accuracy;      /* validate reports an accuracy worth printing */
    long steps_per_epoch;  /* for the schedule and the ETA (an estimate is fine) */
    const char *signature; /* the task's flags and data a checkpoint must match */
    const rs_loop_state *state;
    int n_state;
    void *ctx;
    /* A new epoch: draws its order from rng (and nothing else from it),
     * resets carried state; returns its number of steps. */
    long (*begin_epoch)(void *ctx, rs_rng *rng);
    /* Step `index` of the epoch: forward and backward at the parameters,
     * the gradient into the (zeroed) gradient buffer.  Returns the mean
     * loss; *weight = what the mean is over (tokens, items), *units = what
     * the rate counts. */
    double (*step)(void *ctx, long index, double *weight, long *units);
    /* Validation loss of theta (n parameters); *accuracy when it has one. */
    double (*validate)(void *ctx, const float *theta, double *accuracy);
    /* Writes the model file from theta; 0, or -1 with a message in err. */
    int (*write_model)(void *ctx, const float *theta, const rs_loop_result *r, char *err,
                       size_t errlen);
} rs_loop_task;

/* Trains theta (n parameters, initialised) with grad (n, scratch) for
 * o->epochs, rng being the run's generator (the task's dropout draws from
 * it too).  Returns 0 when the run ended (all epochs, patience, or the
 * time budget), 1 on an error or a stop by signal (a message printed);
 * *r says how it went. */
int rs_train_loop(const rs_loop_task *t, const rs_loop_opts *o, float *theta, float *grad, size_t n,
                  rs_rng *rng, rs_loop_result *r);

#endif
