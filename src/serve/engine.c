/*
 * engine.c — the engine thread, its lanes and its jobs (see engine.h).
 *
 * Locks.  The engine's mutex guards the list of busy lanes, every lane's
 * `incoming` queue and the stop flag; the thread takes it once per
 * iteration to move incoming jobs to the lane's private `waiting` queue.
 * Rows, `waiting` and the scratch are the engine thread's alone.  A job's
 * own mutex guards its progress fields, which the HTTP side reads.  The
 * engine never holds two locks at once, and calls job->notify with none.
 *
 * Lifetimes.  A lane is in the busy list only while it has jobs; every job
 * holds a reference to its model set, which owns the lane.  So that a lane
 * is never freed under the engine, a finished job's last notification and
 * the engine's reference are dropped only at the end of the iteration,
 * after idle lanes have left the busy list.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long the idle engine waits awake for work before sleeping. */
#define IDLE_SPIN_NS 200000u

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- jobs ---------------------------------------------------------------- */

rs_job *rs_job_create(size_t extra, void **extra_out)
{
    /* the caller's scratch after the struct, aligned for any type */
    size_t head = (sizeof(rs_job) + 63) & ~(size_t)63;
    rs_job *job = calloc(1, head + extra);
    if (!job)
        return NULL;
    if (pthread_mutex_init(&job->lock, NULL) != 0) {
        free(job);
        return NULL;
    }
    atomic_init(&job->cancelled, 0);
    atomic_init(&job->refs, 1);
    job->category = -1;
    if (extra_out)
        *extra_out = extra ? (char *)job + head : NULL;
    return job;
}

void rs_job_ref(rs_job *job) { atomic_fetch_add(&job->refs, 1); }

void rs_job_unref(rs_job *job)
{
    if (!job || atomic_fetch_sub(&job->refs, 1) != 1)
        return;
    if (job->cleanup)
        job->cleanup(job);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

void rs_job_cancel(rs_job *job) { atomic_store(&job->cancelled, 1); }

int rs_job_has_news_locked(const rs_job *job, const rs_stream_cursor *cur)
{
    return job->done || job->samples_done > cur->sample || job->current > cur->token;
}

/* ---- lanes --------------------------------------------------------------- */

/* A generator row: one sequence of one job. */
typedef struct row {
    rs_job *job;
    int sample; /* index into job->samples */
    rs_decode dec;
} row;

typedef struct queue {
    rs_job *head, *tail;
} queue;

struct rs_lane {
    const rs_model *model;
    rs_infer_model *im;
    int classifier;
    int K; /* outputs per row: labels or vocabulary */
    /* generators */
    rs_stepper *st;
    row *rows; /* (max_rows) rows[0..n_rows) active */
    int n_rows, max_rows;
    int32_t *feed; /* (max_rows) */
    float *probs;  /* (K) sampling scratch */
    float *work;   /* (K) penalised logits (rs_decode_set_penalty) */
    int *order;    /* (K) */
    /* classifiers */
    rs_classifier *cl;
    int cl_rows;
    const int32_t **cl_names; /* (cl_rows) */
    int *cl_lengths;          /* (cl_rows) */
    /* queues: incoming under the engine's lock, waiting the engine's */
    queue incoming, waiting;
    int busy; /* in the engine's busy list (under its lock) */
    rs_lane *next_busy;
};

rs_lane *rs_lane_create(const rs_model *m, const rs_lane_limits *lim)
{
    rs_lane *lane = calloc(1, sizeof *lane);
    if (!lane)
        return NULL;
    const rs_config *cfg = rs_model_config(m);
    lane->model = m;
    lane->classifier = cfg->task == RS_TASK_CLASSIFIER;
    lane->K = cfg->n_outputs;
    lane->im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    if (!lane->im)
        goto fail;
    /* the packed copy is what steps read: the file's pages need not stay
     * resident (the few read from it, biases, come back on demand) */
    rs_model_release_pages(m);
    if (lane->classifier) {
        lane->cl_rows = lim->classifier_rows;
        lane->cl = rs_classifier_create(lane->im, lim->classifier_rows, lim->classifier_max_len);
        lane->cl_names = calloc((size_t)lim->classifier_rows, sizeof *lane->cl_names);
        lane->cl_lengths = calloc((size_t)lim->classifier_rows, sizeof *lane->cl_lengths);
        if (!lane->cl || !lane->cl_names || !lane->cl_lengths)
            goto fail;
    } else {
        lane->max_rows = lim->rows;
        lane->st = rs_stepper_create(lane->im, lim->rows);
        if (lane->st) /* few sequences: bound by reading the weights, two cores read them */
            rs_stepper_set_team(lane->st, lim->team, 2);
        lane->rows = calloc((size_t)lim->rows, sizeof *lane->rows);
        lane->feed = calloc((size_t)lim->rows, sizeof *lane->feed);
        lane->probs = calloc((size_t)lane->K, sizeof *lane->probs);
        lane->order = calloc((size_t)lane->K, sizeof *lane->order);
        lane->work = calloc((size_t)lane->K, sizeof *lane->work);
        if (!lane->st || !lane->rows || !lane->feed || !lane->probs || !lane->order || !lane->work)
            goto fail;
    }
    return lane;
fail:
    rs_lane_destroy(lane);
    return NULL;
}

void rs_lane_destroy(rs_lane *lane)
{
    if (!lane)
        return;
    rs_classifier_destroy(lane->cl);
    free(lane->cl_names);
    free(lane->cl_lengths);
    rs_stepper_destroy(lane->st);
    free(lane->rows);
    free(lane->feed);
    free(lane->probs);
    free(lane->order);
    free(lane->work);
    rs_infer_model_destroy(lane->im);
    free(lane);
}

size_t rs_lane_weight_bytes(const rs_lane *lane) { return rs_infer_model_bytes(lane->im); }

static void push(queue *q, rs_job *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static rs_job *pop(queue *q)
{
    rs_job *job = q->head;
    if (job) {
        q->head = job->next;
        if (!q->head)
            q->tail = NULL;
        job->next = NULL;
    }
    return job;
}

/* Appends all of from to to. */
static void splice(queue *to, queue *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

/* ---- the engine ---------------------------------------------------------- */

struct rs_engine {
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;            /* under lock */
    rs_lane *busy;       /* lanes with jobs (under lock; only the engine thread unlinks) */
    atomic_int has_work; /* set by submit: ends the idle spin without the lock */
    atomic_int pending;
    int limit;
    rs_metrics *metrics;
    queue finished; /* jobs done this iteration, notified at its end (engine thread) */
};

/* Marks job done (cancelled or complete) and schedules its notification. */
static void finish_job(rs_engine *e, rs_job *job, int cancelled)
{
    if (cancelled)
        atomic_store(&job->cancelled, 1);
    pthread_mutex_lock(&job->lock);
    job->done = 1;
    pthread_mutex_unlock(&job->lock);
    if (cancelled)
        rs_metrics_engine_cancelled(e->metrics);
    push(&e->finished, job);
}

/* Notifies and releases the jobs finished this iteration. */
static void release_finished(rs_engine *e)
{
    rs_job *job;
    while ((job = pop(&e->finished)) != NULL) {
        atomic_fetch_sub(&e->pending, 1);
        rs_metrics_engine_pending(e->metrics, -1);
        if (job->notify)
            job->notify(job);
        rs_job_unref(job);
    }
}

/* Puts sample s of job into row r: its category, zero state, decoding.
 * 0, or -1 if the job's arguments are unusable (then it fails whole). */
static int start_sample(rs_lane *lane, int r, rs_job *job, int s)
{
    int category = job->category;
    if (job->n_categories > 0 && category < 0)
        category = (int)rs_rng_below(&job->rng, (uint32_t)job->n_categories);
    job->samples[s].category = category;
    rs_stepper_reset(lane->st, r, category);
    row *w = &lane->rows[r];
    w->job = job;
    w->sample = s;
    int rc = job->kind == RS_JOB_SCORE
                 ? rs_decode_init_score(&w->dec, &job->ids, job->forced, job->n_forced)
                 : rs_decode_init_generate(&w->dec, &job->ids, job->forced, job->n_forced,
                                           job->max_length, &job->sampler, &job->rng,
                                           job->samples[s].tokens);
    if (rc != 0 || (job->text && rs_decode_set_text(&w->dec) != 0))
        return -1;
    rs_decode_set_stops(&w->dec, job->stops, job->stop_lens, job->n_stops);
    if (job->penalty > 0 && job->penalty != 1.0f)
        rs_decode_set_penalty(&w->dec, job->penalty, lane->work);
    if (job->n_acrostic > 0)
        rs_decode_set_acrostic(&w->dec, job->acrostic, job->n_acrostic, job->breaks, job->n_breaks);
    return 0;
}

/* A score's per-token terms (job->token_log_probs): what the advance just
 * added to log_prob.  A forced token consumed (n_out grew) is the token at
 * n_before, counted from the first predicted one (text mode predicts from
 * the second); the item generator's last advance adds <eos>. */
static void record_token(rs_job *job, const rs_decode *d, int n_before, double before)
{
    int at;
    if (d->n_out > n_before)
        at = d->text ? n_before - 1 : n_before;
    else if (d->done && !d->text)
        at = d->n_forced; /* <eos> */
    else
        return;
    if (at >= 0)
        job->token_log_probs[at] = d->log_prob - before;
}

/* One iteration of a generator lane: admit, step every row, advance,
 * retire. */
static void run_generator(rs_engine *e, rs_lane *lane)
{
    rs_job *job;
    while (lane->n_rows < lane->max_rows && (job = pop(&lane->waiting)) != NULL) {
        if (atomic_load(&job->cancelled)) {
            finish_job(e, job, 1);
            continue;
        }
        if (start_sample(lane, lane->n_rows, job, 0) != 0) {
            finish_job(e, job, 0); /* no samples_done: the finisher answers 500 */
            continue;
        }
        lane->n_rows++;
    }
    int n = lane->n_rows;
    if (n == 0)
        return;
    for (int i = 0; i < n; i++)
        lane->feed[i] = lane->rows[i].dec.next;
    const float *logits = rs_stepper_step(lane->st, lane->feed, n);
    rs_metrics_engine_batch(e->metrics, 0, n);

    /* advance every row; a finished row is marked by job = NULL */
    for (int i = 0; i < n; i++) {
        row *w = &lane->rows[i];
        job = w->job;
        if (atomic_load(&job->cancelled)) {
            finish_job(e, job, 1);
            w->job = NULL;
            continue;
        }
        int n_before = w->dec.n_out;
        double before = w->dec.log_prob;
        rs_decode_advance(&w->dec, logits + (size_t)i * lane->K, lane->K, lane->probs, lane->order);
        if (job->token_log_probs)
            record_token(job, &w->dec, n_before, before);
        int streamed = job->stream && w->dec.sampled >= 0;
        int next_sample = 0, all_done = 0;
        pthread_mutex_lock(&job->lock);
        job->current = w->dec.n_safe;
        if (w->dec.done) {
            rs_job_sample *s = &job->samples[w->sample];
            s->n_tokens = w->dec.n_out;
            s->log_prob = w->dec.log_prob;
            s->finished = w->dec.finished;
            s->finish = w->dec.finish;
            job->samples_done = w->sample + 1;
            job->current = 0;
            next_sample = job->samples_done < job->n_samples;
            all_done = !next_sample;
        }
        pthread_mutex_unlock(&job->lock);
        if (next_sample && start_sample(lane, i, job, w->sample + 1) != 0)
            all_done = 1;
        if (all_done) {
            finish_job(e, job, 0);
            w->job = NULL;
        } else if ((streamed || w->dec.done) && job->stream && job->notify) {
            job->notify(job); /* new tokens to send; the job holds its set */
        }
    }
    /* retire: move the last active row into each hole, from the end */
    for (int i = n - 1; i >= 0; i--) {
        if (lane->rows[i].job)
            continue;
        n--;
        if (i != n) {
            lane->rows[i] = lane->rows[n];
            rs_stepper_move(lane->st, i, n);
        }
    }
    lane->n_rows = n;
}

/* One batch of a classifier lane: every waiting job that fits. */
static void run_classifier(rs_engine *e, rs_lane *lane)
{
    queue batch = {0};
    int total = 0;
    rs_job *job;
    while ((job = lane->waiting.head) != NULL) {
        if (atomic_load(&job->cancelled)) {
            finish_job(e, pop(&lane->waiting), 1);
            continue;
        }
        if (total > 0 && total + job->n_names > lane->cl_rows)
            break;
        if (job->n_names > lane->cl_rows) { /* the handler bounds it; never run it half */
            finish_job(e, pop(&lane->waiting), 0);
            continue;
        }
        pop(&lane->waiting);
        for (int i = 0; i < job->n_names; i++) {
            lane->cl_names[total + i] = job->names[i];
            lane->cl_lengths[total + i] = job->lengths[i];
        }
        total += job->n_names;
        push(&batch, job);
    }
    if (total == 0)
        return;
    const float *logits = rs_classifier_run(lane->cl, lane->cl_names, lane->cl_lengths, total);
    rs_metrics_engine_batch(e->metrics, 1, total);
    int at = 0;
    while ((job = pop(&batch)) != NULL) {
        size_t bytes = (size_t)job->n_names * lane->K * sizeof(float);
        pthread_mutex_lock(&job->lock);
        if (logits) {
            memcpy(job->logits, logits + (size_t)at * lane->K, bytes);
            job->samples_done = 1; /* the results are there */
        }
        pthread_mutex_unlock(&job->lock);
        at += job->n_names;
        finish_job(e, job, 0);
    }
}

static int lane_idle(const rs_lane *lane)
{
    return !lane->incoming.head && !lane->waiting.head && lane->n_rows == 0;
}

static void *engine_main(void *arg)
{
    rs_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        if (!e->busy && !e->stop) {
            /* Idle: wait awake a little first.  At low load the next
             * request comes within a client's round trip, and a thread
             * woken from a futex wait costs tens of µs on a VM; a busy
             * engine never gets here. */
            pthread_mutex_unlock(&e->lock);
            uint64_t until = now_ns() + IDLE_SPIN_NS;
            while (!atomic_load(&e->has_work) && now_ns() < until)
                ;
            pthread_mutex_lock(&e->lock);
        }
        while (!e->busy && !e->stop)
            pthread_cond_wait(&e->wake, &e->lock);
        atomic_store(&e->has_work, 0);
        if (e->stop)
            break;
        for (rs_lane *l = e->busy; l; l = l->next_busy)
            splice(&l->waiting, &l->incoming);
        rs_lane *first = e->busy;
        pthread_mutex_unlock(&e->lock);

        /* submitters only add lanes at the head, before `first`, so this
         * walk is safe without the lock */
        for (rs_lane *l = first; l; l = l->next_busy) {
            if (l->classifier)
                run_classifier(e, l);
            else
                run_generator(e, l);
        }

        pthread_mutex_lock(&e->lock);
        for (rs_lane **at = &e->busy; *at;) {
            rs_lane *l = *at;
            if (lane_idle(l)) {
                *at = l->next_busy;
                l->next_busy = NULL;
                l->busy = 0;
            } else {
                at = &l->next_busy;
            }
        }
        pthread_mutex_unlock(&e->lock);
        release_finished(e); /* may free lanes: none of them is busy now */
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

rs_engine *rs_engine_create(int queue_limit, rs_metrics *metrics)
{
    rs_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->limit = queue_limit;
    e->metrics = metrics;
    atomic_init(&e->pending, 0);
    atomic_init(&e->has_work, 0);
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        free(e);
        return NULL;
    }
    if (pthread_cond_init(&e->wake, NULL) != 0 ||
        pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        pthread_mutex_destroy(&e->lock);
        free(e);
        return NULL;
    }
    e->started = 1;
    return e;
}

int rs_engine_submit(rs_engine *e, rs_job *job)
{
    if (atomic_fetch_add(&e->pending, 1) >= e->limit) {
        atomic_fetch_sub(&e->pending, 1);
        rs_metrics_engine_rejected(e->metrics);
        return -1;
    }
    rs_job_ref(job);
    rs_lane *lane = job->lane;
    pthread_mutex_lock(&e->lock);
    if (e->stop) {
        pthread_mutex_unlock(&e->lock);
        atomic_fetch_sub(&e->pending, 1);
        atomic_fetch_sub(&job->refs, 1); /* the caller still holds one */
        rs_metrics_engine_rejected(e->metrics);
        return -1;
    }
    rs_metrics_engine_pending(e->metrics, 1);
    push(&lane->incoming, job);
    if (!lane->busy) {
        lane->busy = 1;
        lane->next_busy = e->busy;
        e->busy = lane;
    }
    atomic_store(&e->has_work, 1);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int rs_engine_pending(rs_engine *e) { return atomic_load(&e->pending); }

void rs_engine_stop(rs_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->lock);
    e->stop = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    if (e->started)
        pthread_join(e->thread, NULL);
    e->started = 0;
    /* submit refuses jobs from now on (e->stop), so the lists are ours */
    /* the thread is gone: cancel whatever is left, notifying each job so
     * that its connection is resumed and answered */
    for (rs_lane *l = e->busy; l; l = l->next_busy) {
        splice(&l->waiting, &l->incoming);
        rs_job *job;
        while ((job = pop(&l->waiting)) != NULL)
            finish_job(e, job, 1);
        for (int i = 0; i < l->n_rows; i++)
            finish_job(e, l->rows[i].job, 1);
        l->n_rows = 0;
        l->busy = 0;
    }
    rs_lane *l = e->busy;
    while (l) {
        rs_lane *next = l->next_busy;
        l->next_busy = NULL;
        l = next;
    }
    e->busy = NULL;
    release_finished(e);
}

void rs_engine_destroy(rs_engine *e)
{
    if (!e)
        return;
    rs_engine_stop(e);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}
