/*
 * optim.h — optimisers, gradient clipping and learning-rate schedules, each
 * one loop over the flat parameter buffer.
 *
 * Semantics follow PyTorch so that the parity tests can compare step by step:
 * torch.optim.Adam (weight_decay adds wd·θ to the gradient, bias-corrected
 * moments), torch.optim.SGD without momentum, torch.nn.utils.clip_grad_norm_.
 */
#ifndef RNNSERVE_OPTIM_H
#define RNNSERVE_OPTIM_H

#include <stddef.h>

#include "rnnserve/nn.h"

typedef enum { RS_OPTIM_ADAM = 0, RS_OPTIM_SGD = 1 } rs_optim_kind;
typedef enum { RS_SCHEDULE_CONSTANT = 0, RS_SCHEDULE_COSINE = 1 } rs_schedule;

typedef struct rs_optim {
    rs_optim_kind kind;
    double lr;           /* base learning rate */
    double beta1, beta2; /* Adam, 0.9 and 0.999 by default */
    double eps;          /* Adam, 1e-8 */
    double weight_decay; /* L2 added to the gradient, 0 = off */
    long step;           /* steps taken so far */
    size_t n;            /* number of parameters */
    rs_real *m, *v;      /* (n) Adam moments, owned */
} rs_optim;

/* Returns 0, or -1 when the moments cannot be allocated.  Free with rs_optim_free. */
int rs_optim_init(rs_optim *opt, rs_optim_kind kind, size_t n, double lr, double weight_decay);
void rs_optim_free(rs_optim *opt);
/* One update of params (n) from grads (n) at learning rate lr. */
void rs_optim_step(rs_optim *opt, rs_real *params, const rs_real *grads, double lr);

/* Scales grads so that their L2 norm is at most max_norm (> 0); returns the
 * norm before clipping, as clip_grad_norm_ does. */
double rs_clip_grad_norm(rs_real *grads, size_t n, double max_norm);

/* Learning rate at step (0-based) of total_steps. */
double rs_schedule_lr(rs_schedule schedule, double base_lr, long step, long total_steps);

#endif
