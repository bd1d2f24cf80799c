/*
 * engine.h — the one thread that runs every model's computation, batching
 * concurrent requests (continuous batching, as Orca's iteration-level
 * scheduling and llama.cpp's slots do it for transformers).
 *
 * A request becomes a job.  Generation and scoring jobs become sequences
 * in the rows of their model's lane: each engine iteration advances every
 * active sequence of a model by one token with one rs_linear per layer
 * (prefix tokens and sampled tokens alike), samples each row, retires the
 * rows that finished and admits waiting jobs into free rows.  A job's
 * samples run one after another in its row, consuming the request's random
 * stream in the order `rnntrain sample` does.  Classification jobs waiting
 * for a model are classified together in one batch whenever the engine
 * comes round to it, with no added delay.  Batching does not change any
 * number (see infer.h), so the answer to a seeded request does not depend
 * on the load.
 *
 * The HTTP side never blocks here: rs_engine_submit queues a job and
 * returns; the engine calls job->notify from its thread when the job has
 * streamed tokens and when it is done, and the HTTP side resumes the
 * suspended connection from there.  The queue is bounded: a full engine
 * refuses a job at once (the caller answers 503).
 *
 * A lane is a model's engine state: its prepared weights, its batch
 * scratch, its rows.  Lanes are created with their model set (registry.c)
 * and only the engine thread touches their rows, so a reload that
 * replaces the set leaves jobs in flight on the lanes (and models) they
 * started with; a job holds a reference to its set until it is freed.
 */
#ifndef RNNSERVE_SERVE_ENGINE_H
#define RNNSERVE_SERVE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "reply.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"

typedef struct rs_lane rs_lane;
typedef struct rs_engine rs_engine;
typedef struct rs_job rs_job;

/* ---- lanes ---------------------------------------------------------------- */

typedef struct rs_lane_limits {
    int rows;               /* generator sequences stepped together, at most */
    rs_team *team;          /* shares steps of at most 2 rows with a second core, or NULL */
    int classifier_rows;    /* names classified together, at most (>= one request's) */
    int classifier_max_len; /* tokens per name */
} rs_lane_limits;

/* Prepares m's weights and scratch.  NULL on allocation failure.  m must
 * outlive the lane. */
rs_lane *rs_lane_create(const rs_model *m, const rs_lane_limits *lim);
void rs_lane_destroy(rs_lane *lane);
/* Bytes of the lane's prepared weights (packed copies and tables). */
size_t rs_lane_weight_bytes(const rs_lane *lane);

/* ---- jobs ---------------------------------------------------------------- */

typedef enum { RS_JOB_CLASSIFY, RS_JOB_GENERATE, RS_JOB_SCORE } rs_job_kind;

/* One generated (or scored) sequence's outcome. */
typedef struct rs_job_sample {
    int category;    /* the category it was conditioned on, -1 if none */
    int32_t *tokens; /* (job->max_length) forced and sampled tokens */
    int n_tokens;
    double log_prob;
    int finished;     /* 1 when it ended with <eos> */
    rs_finish finish; /* why it ended */
} rs_job_sample;

/* How far a stream has been sent: samples before `sample` are complete,
 * and `token` tokens of samples[sample] have been sent. */
typedef struct rs_stream_cursor {
    int sample, token;
} rs_stream_cursor;

struct rs_job {
    /* ---- set by the creator before rs_engine_submit -------------------- */
    rs_job_kind kind;
    rs_lane *lane;
    /* classify: names[i][0..lengths[i]) for i < n_names; logits (n_names, K) */
    int n_names;
    const int32_t **names;
    int *lengths;
    float *logits;
    /* generate and score */
    rs_special_ids ids;
    const int32_t *forced; /* (n_forced) prefix, or the text to score */
    int n_forced;
    int max_length; /* tokens per sample in all */
    rs_sampler sampler;
    rs_rng rng;
    int category;     /* fixed category, or -1: each sample draws one if the model has any */
    int n_categories; /* the model's (0: unconditioned) */
    int n_samples;
    rs_job_sample *samples; /* (n_samples) */
    /* decoding options (rs_decode): a textlm's text mode, stop sequences,
     * repetition penalty (1 = off) */
    int text;
    const int32_t *const *stops; /* (n_stops), lengths stop_lens */
    const int *stop_lens;
    int n_stops;
    float penalty;
    const int32_t *acrostic; /* (n_acrostic) line starts; breaks (n_breaks) end lines */
    int n_acrostic;
    const int32_t *breaks;
    int n_breaks;
    int stream; /* 1: notify after every sampled token, not only at the end */
    /* score: each predicted token's ln p, in order (n_forced + 1 for an
     * item generator, <eos> last; n_forced - 1 in text mode), or NULL */
    double *token_log_probs;
    /* called on the engine thread, with the job's lock NOT held: after
     * streamed tokens (when stream is set) and once when done */
    void (*notify)(rs_job *job);
    void *ctx; /* the notify callback's (the HTTP request) */
    /* builds the reply from the results, on an HTTP thread */
    void (*finish)(rs_job *job, rs_reply *r);
    /* streaming (when stream is set): appends the events for what is new
     * since *cur to *chunk (malloc'd, *len bytes; NULL and 0 when nothing
     * is new), moves *cur, and returns 1 once the final event is in */
    int (*stream_chunk)(rs_job *job, rs_stream_cursor *cur, char **chunk, size_t *len);
    /* frees what the creator put in (called with the last reference) */
    void (*cleanup)(rs_job *job);
    void *user; /* the creator's (e.g. the parsed request) */

    /* ---- progress, written by the engine under lock ------------------ */
    pthread_mutex_t lock;
    int samples_done;     /* samples[0..samples_done) are complete */
    int current;          /* tokens of samples[samples_done] that can be sent (streaming) */
    int done;             /* 1: every result is final (or the job was cancelled) */
    atomic_int cancelled; /* set by the HTTP side: the client went away */
    atomic_int refs;

    /* ---- the engine's ------------------------------------------------ */
    rs_job *next; /* in a lane's queue */
};

/* A job with one reference (the caller's), nothing else set.  NULL on
 * allocation failure.  extra: bytes of scratch after the struct, returned
 * zeroed in *extra_out (the caller's buffers). */
rs_job *rs_job_create(size_t extra, void **extra_out);
void rs_job_ref(rs_job *job);
/* Drops a reference; the last one calls cleanup and frees the job. */
void rs_job_unref(rs_job *job);
/* Asks the engine to stop the job at its next iteration (idempotent). */
void rs_job_cancel(rs_job *job);
/* 1 when the job has progress that cur has not seen; the caller holds
 * job->lock. */
int rs_job_has_news_locked(const rs_job *job, const rs_stream_cursor *cur);

/* ---- the engine -------------------------------------------------------- */

/* Starts the engine thread.  queue_limit: jobs submitted and not yet done,
 * at most.  NULL on failure. */
rs_engine *rs_engine_create(int queue_limit, rs_metrics *metrics);
/* Stops the thread and cancels every job left (each is marked done and
 * cancelled, and notified, so that its connection is answered); submit
 * refuses every job from then on.  Idempotent; NULL is a no-op. */
void rs_engine_stop(rs_engine *e);
/* rs_engine_stop, then frees the engine (after the HTTP daemon stopped). */
void rs_engine_destroy(rs_engine *e);
/* Queues job (the engine takes its own reference).  0, or -1 when the
 * queue is full: the job is untouched and the caller answers 503. */
int rs_engine_submit(rs_engine *e, rs_job *job);
/* Jobs submitted and not yet done. */
int rs_engine_pending(rs_engine *e);

#endif
