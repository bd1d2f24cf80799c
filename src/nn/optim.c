/*
 * optim.c — Adam, SGD, clip_grad_norm_ and the schedules, as in optim.h.
 */
#include "rnnserve/optim.h"

#include <math.h>
#include <stdlib.h>

#ifdef RS_REAL_IS_DOUBLE
#define SQRT sqrt
#else
#define SQRT sqrtf
#endif

int rs_optim_init(rs_optim *opt, rs_optim_kind kind, size_t n, double lr, double weight_decay)
{
    *opt = (rs_optim){.kind = kind,
                      .lr = lr,
                      .beta1 = 0.9,
                      .beta2 = 0.999,
                      .eps = 1e-8,
                      .weight_decay = weight_decay,
                      .n = n};
    if (kind == RS_OPTIM_ADAM) {
        opt->m = calloc(n ? n : 1, sizeof *opt->m);
        opt->v = calloc(n ? n : 1, sizeof *opt->v);
        if (!opt->m || !opt->v) {
            rs_optim_free(opt);
            return -1;
        }
    }
    return 0;
}

void rs_optim_free(rs_optim *opt)
{
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void rs_optim_step(rs_optim *opt, rs_real *params, const rs_real *grads, double lr)
{
    opt->step++;
    double wd = opt->weight_decay;
    if (opt->kind == RS_OPTIM_SGD) {
        for (size_t i = 0; i < opt->n; i++)
            params[i] -= (rs_real)(lr * (grads[i] + wd * params[i]));
        return;
    }
    double bc1 = 1.0 - pow(opt->beta1, (double)opt->step);
    double bc2 = 1.0 - pow(opt->beta2, (double)opt->step);
    /* per element in rs_real so that the loop vectorises; the bias
     * corrections are computed once, in double */
    const rs_real b1 = (rs_real)opt->beta1, b2 = (rs_real)opt->beta2;
    const rs_real step_size = (rs_real)(lr / bc1), inv_bc2_sqrt = (rs_real)(1.0 / sqrt(bc2));
    const rs_real eps = (rs_real)opt->eps, decay = (rs_real)wd;
    rs_real *restrict m = opt->m, *restrict v = opt->v, *restrict theta = params;
    const rs_real *restrict g_in = grads;
    for (size_t i = 0; i < opt->n; i++) {
        rs_real g = g_in[i] + decay * theta[i];
        m[i] = b1 * m[i] + ((rs_real)1 - b1) * g;
        v[i] = b2 * v[i] + ((rs_real)1 - b2) * g * g;
        theta[i] -= step_size * m[i] / (SQRT(v[i]) * inv_bc2_sqrt + eps);
    }
}

double rs_clip_grad_norm(rs_real *grads, size_t n, double max_norm)
{
    /* eight running sums instead of one, so that the loop vectorises (one
     * sum is a chain of dependent adds); the order is fixed, so the norm is
     * the same on every run */
    enum { LANES = 8 };
    double lane[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            lane[k] += (double)grads[i + k] * grads[i + k];
    double sum = 0.0;
    for (int k = 0; k < LANES; k++)
        sum += lane[k];
    for (; i < n; i++)
        sum += (double)grads[i] * grads[i];
    double norm = sqrt(sum);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0)
        for (size_t i = 0; i < n; i++)
            grads[i] *= (rs_real)coef;
    return norm;
}

double rs_schedule_lr(rs_schedule schedule, double base_lr, long step, long total_steps)
{
    if (schedule == RS_SCHEDULE_CONSTANT || total_steps <= 0)
        return base_lr;
    double progress = (double)step / (double)total_steps;
    if (progress > 1.0)
        progress = 1.0;
    return base_lr * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}
