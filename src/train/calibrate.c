/*
 * calibrate.c — temperature scaling and the expected calibration error
 * (calibrate.h), and `rnntrain calibrate`.
 */
#include "calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "flags.h"
#include "model_rows.h"

/* ln Σ exp(z / T) − z[y] / T for one row, in double. */
static double row_nll(const float *z, int K, int y, double T)
{
    double mx = z[0] / T;
    for (int k = 1; k < K; k++)
        mx = z[k] / T > mx ? z[k] / T : mx;
    double sum = 0;
    for (int k = 0; k < K; k++)
        sum += exp(z[k] / T - mx);
    return mx + log(sum) - z[y] / T;
}

double rs_nll_at(const float *logits, const int *targets, int n, int K, double T)
{
    double total = 0;
    for (int i = 0; i < n; i++)
        total += row_nll(logits + (size_t)i * K, K, targets[i], T);
    return n ? total / n : 0;
}

double rs_fit_temperature(const float *logits, const int *targets, int n, int K)
{
    double lo = log(0.05), hi = log(20.0), g = (sqrt(5.0) - 1) / 2;
    double a = hi - g * (hi - lo), b = lo + g * (hi - lo);
    double fa = rs_nll_at(logits, targets, n, K, exp(a));
    double fb = rs_nll_at(logits, targets, n, K, exp(b));
    for (int it = 0; it < 60; it++) {
        if (fa <= fb) {
            hi = b;
            b = a;
            fb = fa;
            a = hi - g * (hi - lo);
            fa = rs_nll_at(logits, targets, n, K, exp(a));
        } else {
            lo = a;
            a = b;
            fa = fb;
            b = lo + g * (hi - lo);
            fb = rs_nll_at(logits, targets, n, K, exp(b));
        }
    }
    return exp((lo + hi) / 2);
}

double rs_ece(const float *logits, const int *targets, int n, int K, double T)
{
    double conf[RS_ECE_BINS] = {0}, hits[RS_ECE_BINS] = {0};
    long count[RS_ECE_BINS] = {0};
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best])
                best = k;
        /* the top probability: 1 / Σ exp((z − z_best) / T) */
        double sum = 0;
        for (int k = 0; k < K; k++)
            sum += exp((z[k] - z[best]) / T);
        double p = 1 / sum;
        int bin = (int)(p * RS_ECE_BINS);
        bin = bin >= RS_ECE_BINS ? RS_ECE_BINS - 1 : bin;
        conf[bin] += p;
        hits[bin] += best == targets[i];
        count[bin]++;
    }
    double ece = 0;
    for (int b = 0; b < RS_ECE_BINS; b++)
        if (count[b])
            ece += fabs(hits[b] - conf[b]) / n; /* (n_b / N)·|acc_b − conf_b| */
    return ece;
}

/* The logits (n, K) and label ids of every row of d under classifier m. */
static float *logits_of(const rs_model *m, const rs_dataset *d, int **targets, int *n, char *err,
                        size_t errlen)
{
    const rs_config *cfg = rs_model_config(m);
    int K = cfg->n_outputs;
    rs_model_rows r = {0};
    float *out = NULL;
    *targets = NULL;
    if (rs_model_rows_encode(m, d, 1, &r, err, errlen) != 0) {
        rs_model_rows_free(&r);
        return NULL;
    }
    rs_rows_batch bb;
    rs_workspace *ws = rs_workspace_create(cfg, r.batch, r.width);
    int bb_failed = rs_rows_batch_init(&bb, &r);
    out = malloc((size_t)r.n * K * sizeof *out);
    *targets = malloc((size_t)r.n * sizeof **targets);
    if (!ws || bb_failed || !out || !*targets) {
        snprintf(err, errlen, "out of memory");
        free(out);
        free(*targets);
        out = NULL;
        *targets = NULL;
    } else {
        for (int start = 0; start < r.n; start += r.batch) {
            rs_rows_batch_fill(&bb, m, &r, start);
            rs_forward(ws, rs_model_params(m), &bb.batch, NULL);
            const float *z = rs_workspace_logits(ws);
            for (int b = 0; b < bb.batch.B; b++) {
                memcpy(out + (size_t)bb.row[b] * K, z + (size_t)b * K, (size_t)K * sizeof *out);
                (*targets)[bb.row[b]] = bb.targets[b];
            }
        }
        *n = r.n;
    }
    if (!bb_failed)
        rs_rows_batch_free(&bb);
    rs_workspace_destroy(ws);
    rs_model_rows_free(&r);
    return out;
}

int rs_calibrate_main(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *out_path = NULL;
    flag flags[] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "a classifier model file", 0, NULL},
        {"data", NULL, FLAG_STRING, &data, 0, 0, NULL,
         "validation rows (name<TAB>label) the model was not trained on", 0, NULL},
        {"out", NULL, FLAG_STRING, &out_path, 0, 0, NULL,
         "the calibrated model to write (default: --model, rewritten atomically)", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status =
        flags_command("rnntrain calibrate",
                      "usage: rnntrain calibrate --model M --data VALID.tsv [--out M2]\n\n"
                      "Fits the temperature T of softmax(logits / T) that minimises the negative\n"
                      "log-likelihood of the rows and writes it into the model's metadata.\n\n",
                      flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path || !data) {
        fprintf(stderr, "rnntrain calibrate: --model and --data are required\n");
        return 2;
    }
    rs_model *m = NULL;
    rs_dataset d = {0};
    float *logits = NULL;
    int *targets = NULL, n = 0, status = 1;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0 ||
        rs_dataset_load(data, RS_NORMALIZE_NONE, RS_DATA_MAX_CHARS, &d, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain calibrate: %s\n", err);
        goto done;
    }
    const rs_config *cfg = rs_model_config(m);
    if (cfg->task != RS_TASK_CLASSIFIER || !d.tsv) {
        fprintf(stderr, "rnntrain calibrate: a classifier, calibrated on a .tsv with labels\n");
        goto done;
    }
    if (!(logits = logits_of(m, &d, &targets, &n, err, sizeof err))) {
        fprintf(stderr, "rnntrain calibrate: %s\n", err);
        goto done;
    }
    int K = cfg->n_outputs;
    double T = rs_fit_temperature(logits, targets, n, K);
    fprintf(stderr, "rnntrain calibrate: %d rows; T = %.4f: nll %.4f -> %.4f, ECE %.4f -> %.4f\n",
            n, T, rs_nll_at(logits, targets, n, K, 1), rs_nll_at(logits, targets, n, K, T),
            rs_ece(logits, targets, n, K, 1), rs_ece(logits, targets, n, K, T));
    /* the same file with the temperature: every string the writer needs */
    int V = cfg->vocab_size;
    const char **vocab = malloc((size_t)V * sizeof *vocab);
    const char **labels = malloc((size_t)K * sizeof *labels);
    if (!vocab || !labels) {
        free(vocab);
        free(labels);
        fprintf(stderr, "rnntrain calibrate: out of memory\n");
        goto done;
    }
    for (int i = 0; i < V; i++)
        vocab[i] = rs_model_token(m, i);
    for (int i = 0; i < K; i++)
        labels[i] = rs_model_label(m, i);
    rs_model_spec spec = {.cfg = *cfg,
                          .vocab = vocab,
                          .labels = labels,
                          .normalize = rs_model_normalize(m),
                          .training_json = rs_model_metadata(m, "training"),
                          .temperature = T};
    int rc = rs_model_write(out_path ? out_path : model_path, &spec, rs_model_params(m), err,
                            sizeof err);
    free(vocab);
    free(labels);
    if (rc != 0) {
        fprintf(stderr, "rnntrain calibrate: %s\n", err);
        goto done;
    }
    status = 0;
done:
    free(logits);
    free(targets);
    rs_dataset_free(&d);
    rs_model_close(m);
    return status;
}
