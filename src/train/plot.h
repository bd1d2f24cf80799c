/*
 * plot.h — the pictures of training (plot.c): SVG files, written by hand,
 * self-contained (no script, no external font or style sheet), atomically
 * (a temporary file renamed into place).
 *
 *   rs_plot_curves     a line chart: training and validation loss per epoch
 *                      on the left axis, the learning rate on a right axis;
 *                      one <path class="curve"> per series, a legend, axis
 *                      labels and ticks, each point's value on hover
 *                      (<title>).
 *   rs_plot_confusion  a classifier's confusion matrix: true label down,
 *                      predicted across, each row normalised to 1 and
 *                      shaded by it, the label names on both axes, each
 *                      cell's count and share on hover (<title>).
 */
#ifndef RNNTRAIN_PLOT_H
#define RNNTRAIN_PLOT_H

#include <stddef.h>

typedef struct rs_series {
    const char *name; /* legend text */
    const double *y;  /* (n) one value per epoch 1..n; NaN = none */
    int right_axis;   /* 1: plotted against the right axis */
} rs_series;

/* Writes path: epochs 1..n on x, the series on y.  0, or -1 with err. */
int rs_plot_curves(const char *path, const char *title, const char *y_label,
                   const char *right_label, const rs_series *series, int n_series, int n, char *err,
                   size_t errlen);

/* counts (K, K): counts[true · K + predicted].  0, or -1 with err. */
int rs_plot_confusion(const char *path, const char *title, const char *const *labels, int K,
                      const long *counts, char *err, size_t errlen);

#endif
