/*
 * optim.c — Adam, SGD, clip_grad_norm_ and the schedules, as in optim.h.
 */
#include "rnnserve/optim.h"

#include <math.h>
#include <stdlib.h>

int rs_optim_init(rs_optim *opt, rs_optim_kind kind, size_t n, double lr, double weight_decay)
{
    *opt = (rs_optim){.kind = kind, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                      .weight_decay = weight_decay, .n = n};
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
    double b1 = opt->beta1, b2 = opt->beta2;
    double bc1 = 1.0 - pow(b1, (double)opt->step);
    double bc2 = 1.0 - pow(b2, (double)opt->step);
    double step_size = lr / bc1;
    double bc2_sqrt = sqrt(bc2);
    for (size_t i = 0; i < opt->n; i++) {
        double g = grads[i] + wd * params[i];
        double m = b1 * opt->m[i] + (1.0 - b1) * g;
        double v = b2 * opt->v[i] + (1.0 - b2) * g * g;
        opt->m[i] = (rs_real)m;
        opt->v[i] = (rs_real)v;
        params[i] -= (rs_real)(step_size * m / (sqrt(v) / bc2_sqrt + opt->eps));
    }
}

double rs_clip_grad_norm(rs_real *grads, size_t n, double max_norm)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
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
