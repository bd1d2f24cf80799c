/*
 * team.c — a second core sharing rs_linear products (see rs_team in
 * infer.h): one helper thread, and rs_linear_team, which gives it the first
 * half of a product's panels while the caller computes the second half.
 *
 * Why it keeps the numbers: rs_linear computes every output column from
 * its own panel alone, in the same order whatever else is computed (see
 * linear.h), so splitting the panels between two threads changes only who
 * computes a column, not a bit of it.
 *
 * The hand-over is a sequence number.  The caller writes the job, then
 * publishes it by raising `posted` (release); the helper, spinning on it
 * (acquire), claims it by raising `claimed` from the job before, runs it
 * and raises `finished` (release), which the caller waits for (acquire).
 * A caller done with its own half that finds the helper's half unclaimed
 * (the helper is not running: the machine is busy) claims and computes it
 * itself, so a descheduled helper never makes a step wait.  A helper that has had no job for
 * SPIN_NS sleeps on a condition variable; the caller takes the mutex to post, so a helper about to
 * sleep cannot miss a job.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "linear.h"
#include "rnnserve/infer.h"

#define SPIN_NS 300000 /* 0.3 ms: longer than the gap between two steps of a stream */

struct rs_team {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_ulong posted, claimed, finished;
    atomic_int stop;
    int sleeping; /* under lock */
    /* the job: rs_linear over w's panels [0, half) */
    const rs_linear_weight *w;
    int M, half;
    const float *X, *bias;
    size_t ldx, ldy;
    float *Y;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* rs_linear over panels [p0, p1) of w: the columns [p0·PANEL, …) of Y. */
static void run_panels(const rs_linear_weight *w, int p0, int p1, int M, const float *X, size_t ldx,
                       const float *bias, float *Y, size_t ldy)
{
    int c0 = p0 * RS_LINEAR_PANEL, c1 = p1 * RS_LINEAR_PANEL;
    if (c1 > w->N)
        c1 = w->N;
    if (c0 >= c1)
        return;
    rs_linear_weight part = {
        .N = c1 - c0, .K = w->K, .panels = w->panels + (size_t)p0 * (size_t)w->K * RS_LINEAR_PANEL};
    rs_linear(&part, M, X, ldx, bias ? bias + c0 : NULL, Y + c0, ldy);
}

static void *helper_main(void *arg)
{
    rs_team *t = arg;
    unsigned long seen = 0;
    for (;;) {
        uint64_t idle_from = now_ns();
        unsigned long p;
        while ((p = atomic_load_explicit(&t->posted, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&t->stop, memory_order_acquire))
                return NULL;
            if (now_ns() - idle_from > SPIN_NS) { /* sleep until the next job */
                pthread_mutex_lock(&t->lock);
                t->sleeping = 1;
                while (atomic_load_explicit(&t->posted, memory_order_acquire) == seen &&
                       !atomic_load_explicit(&t->stop, memory_order_acquire))
                    pthread_cond_wait(&t->wake, &t->lock);
                t->sleeping = 0;
                pthread_mutex_unlock(&t->lock);
                idle_from = now_ns();
            } else {
                cpu_relax();
            }
        }
        seen = p;
        unsigned long before = p - 1;
        if (atomic_compare_exchange_strong_explicit(&t->claimed, &before, p, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            run_panels(t->w, 0, t->half, t->M, t->X, t->ldx, t->bias, t->Y, t->ldy);
            atomic_store_explicit(&t->finished, p, memory_order_release);
        }
    }
}

rs_team *rs_team_create(void)
{
    rs_team *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->posted, 0);
    atomic_init(&t->claimed, 0);
    atomic_init(&t->finished, 0);
    atomic_init(&t->stop, 0);
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->wake, NULL) != 0 ||
        pthread_create(&t->thread, NULL, helper_main, t) != 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

void rs_team_destroy(rs_team *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void rs_linear_team(rs_team *t, const rs_linear_weight *w, int M, const float *X, size_t ldx,
                    const float *bias, float *Y, size_t ldy)
{
    int panels = (w->N + RS_LINEAR_PANEL - 1) / RS_LINEAR_PANEL;
    if (!t || panels < 2 || M < 1) {
        rs_linear(w, M, X, ldx, bias, Y, ldy);
        return;
    }
    int half = panels / 2;
    t->w = w;
    t->M = M;
    t->half = half;
    t->X = X;
    t->ldx = ldx;
    t->bias = bias;
    t->Y = Y;
    t->ldy = ldy;
    pthread_mutex_lock(&t->lock);
    unsigned long job = atomic_load_explicit(&t->posted, memory_order_relaxed) + 1;
    atomic_store_explicit(&t->posted, job, memory_order_release);
    if (t->sleeping)
        pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    run_panels(w, half, panels, M, X, ldx, bias, Y, ldy);
    unsigned long before = job - 1;
    if (atomic_compare_exchange_strong_explicit(&t->claimed, &before, job, memory_order_acq_rel,
                                                memory_order_acquire)) {
        run_panels(w, 0, half, M, X, ldx, bias, Y, ldy); /* the helper has not started */
        return;
    }
    while (atomic_load_explicit(&t->finished, memory_order_acquire) != job)
        cpu_relax();
}
