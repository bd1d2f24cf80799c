/*
 * plot.c — SVG line charts and confusion matrices (plot.h).
 *
 * The file is built in memory (open_memstream) and written with one
 * write to a temporary file beside the target, fsynced and renamed, so a
 * reader (a browser refreshing the page during training) never sees half
 * a picture.  Text is XML-escaped.
 */
#define _POSIX_C_SOURCE 200809L
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_out.h"

#define W      720
#define H      420
#define LEFT   72
#define RIGHT  72
#define TOP    48
#define BOTTOM 56

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"};

static void escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A "nice" step for about `want` ticks over [lo, hi]. */
static double tick_step(double lo, double hi, int want)
{
    double raw = (hi - lo) / want, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static void range_of(const rs_series *s, int n_series, int n, int right, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < n_series; k++)
        if (s[k].right_axis == right)
            for (int i = 0; i < n; i++)
                if (isfinite(s[k].y[i])) {
                    *lo = fmin(*lo, s[k].y[i]);
                    *hi = fmax(*hi, s[k].y[i]);
                }
    if (!isfinite(*lo)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi - *lo < 1e-12) { /* a flat series: a band around it */
        double pad = fabs(*hi) > 0 ? fabs(*hi) * 0.1 : 1;
        *lo -= pad;
        *hi += pad;
    }
}

int rs_plot_curves(const char *path, const char *title, const char *y_label,
                   const char *right_label, const rs_series *series, int n_series, int n, char *err,
                   size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
    double lo, hi, rlo, rhi;
    range_of(series, n_series, n, 0, &lo, &hi);
    range_of(series, n_series, n, 1, &rlo, &rhi);
    double step = tick_step(lo, hi, 6);
    lo = floor(lo / step) * step;
    hi = ceil(hi / step) * step;
    int has_right = 0;
    for (int k = 0; k < n_series; k++)
        has_right |= series[k].right_axis;
    rlo = fmin(rlo, 0); /* the learning rate from 0 */
    int xmax = n > 1 ? n : 2;
#define PX(e) (LEFT + pw * ((e)-1) / (xmax - 1))
#define PY(v) (TOP + ph * (1 - ((v)-lo) / (hi - lo)))
#define PR(v) (TOP + ph * (1 - ((v)-rlo) / (rhi - rlo)))
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n",
            W, H, W, H);
    fputs("<title>", f);
    escaped(f, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
            W / 2);
    escaped(f, title);
    fputs("</text>\n", f);
    /* grid and left ticks */
    fputs("<g class=\"axis\" stroke=\"#cccccc\">\n", f);
    for (double v = lo; v <= hi + step / 2; v += step)
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>\n", LEFT, W - RIGHT, PY(v),
                PY(v));
    fputs("</g>\n<g class=\"ticks\" fill=\"#333333\">\n", f);
    for (double v = lo; v <= hi + step / 2; v += step)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", LEFT - 6,
                PY(v) + 4, v);
    int xstep = n <= 12 ? 1 : (n + 9) / 10;
    for (int e = 1; e <= n; e += xstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", PX(e),
                H - BOTTOM + 18, e);
    if (has_right)
        for (int i = 0; i <= 4; i++) {
            double v = rlo + (rhi - rlo) * i / 4;
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"start\">%.2g</text>\n",
                    W - RIGHT + 6, PR(v) + 4, v);
        }
    fputs("</g>\n", f);
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#333333\"/>\n",
            LEFT, TOP, pw, ph);
    fprintf(f, "<text class=\"x-label\" x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n",
            LEFT + pw / 2, H - 16);
    fprintf(f,
            "<text class=\"y-label\" transform=\"translate(18 %.0f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            TOP + ph / 2);
    escaped(f, y_label);
    fputs("</text>\n", f);
    if (has_right && right_label) {
        fprintf(f,
                "<text class=\"y-label-right\" transform=\"translate(%d %.0f) rotate(90)\" "
                "text-anchor=\"middle\">",
                W - 14, TOP + ph / 2);
        escaped(f, right_label);
        fputs("</text>\n", f);
    }
    /* the curves */
    for (int k = 0; k < n_series; k++) {
        const char *c = colours[k % 5];
        fprintf(f, "<path class=\"curve\" data-series=\"");
        escaped(f, series[k].name);
        fprintf(f, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", c,
                series[k].right_axis ? " stroke-dasharray=\"5 3\"" : "");
        /* an epoch without a figure (NaN: a record that kept only some
         * epochs) gets no point; the line joins the epochs on either side */
        int pen = 0;
        for (int i = 0; i < n; i++) {
            double v = series[k].y[i];
            if (!isfinite(v))
                continue;
            fprintf(f, "%s%.1f %.1f", pen ? " L" : "M", PX(i + 1),
                    series[k].right_axis ? PR(v) : PY(v));
            pen = 1;
        }
        fputs("\"/>\n", f);
        for (int i = 0; i < n; i++) {
            double v = series[k].y[i];
            if (!isfinite(v))
                continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>", PX(i + 1),
                    series[k].right_axis ? PR(v) : PY(v), c);
            escaped(f, series[k].name);
            fprintf(f, ", epoch %d: %.6g</title></circle>\n", i + 1, v);
        }
        /* legend */
        double ly = TOP + 14 + 18 * k;
        fprintf(f,
                "<g class=\"legend\"><line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" "
                "stroke=\"%s\" stroke-width=\"2\"%s/><text x=\"%.0f\" y=\"%.0f\">",
                W - RIGHT - 170.0, W - RIGHT - 146.0, ly, ly, c,
                series[k].right_axis ? " stroke-dasharray=\"5 3\"" : "", W - RIGHT - 140.0, ly + 4);
        escaped(f, series[k].name);
        fputs("</text></g>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
#undef PR
    if (fclose(f) != 0) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = rs_write_bytes_atomically(path, buf, len, err, errlen);
    free(buf);
    return rc;
}

int rs_plot_confusion(const char *path, const char *title, const char *const *labels, int K,
                      const long *counts, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int cell = K <= 12 ? 36 : K <= 24 ? 28 : 18, margin = 130, top = 150;
    int w = margin + K * cell + 90, h = top + K * cell + 60;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n",
            w, h, w, h);
    fputs("<title>", f);
    escaped(f, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    fprintf(f, "<text class=\"title\" x=\"%d\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">",
            w / 2);
    escaped(f, title);
    fputs("</text>\n", f);
    fprintf(f,
            "<text class=\"x-label\" x=\"%d\" y=\"44\" text-anchor=\"middle\">predicted "
            "label</text>\n",
            margin + K * cell / 2);
    fprintf(f,
            "<text class=\"y-label\" transform=\"translate(16 %d) rotate(-90)\" "
            "text-anchor=\"middle\">true label (each row sums to 1)</text>\n",
            top + K * cell / 2);
    for (int j = 0; j < K; j++) { /* predicted labels across, rotated */
        fprintf(f,
                "<text class=\"col-label\" transform=\"translate(%d %d) rotate(-60)\" "
                "text-anchor=\"start\">",
                margin + j * cell + cell / 2 + 4, top - 6);
        escaped(f, labels[j]);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < K; i++) {
        long row = 0;
        for (int j = 0; j < K; j++)
            row += counts[(size_t)i * K + j];
        fprintf(f, "<text class=\"row-label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", margin - 6,
                top + i * cell + cell / 2 + 4);
        escaped(f, labels[i]);
        fputs("</text>\n", f);
        for (int j = 0; j < K; j++) {
            long c = counts[(size_t)i * K + j];
            double share = row ? (double)c / (double)row : 0;
            /* white to dark blue */
            int r = (int)(255 - share * (255 - 8)), g = (int)(255 - share * (255 - 48));
            int b = (int)(255 - share * (255 - 107));
            fprintf(f,
                    "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                    "fill=\"#%02x%02x%02x\" stroke=\"#eeeeee\"><title>",
                    margin + j * cell, top + i * cell, cell, cell, r, g, b);
            escaped(f, labels[i]);
            fputs(" as ", f);
            escaped(f, labels[j]);
            fprintf(f, ": %ld of %ld (%.1f%%)</title></rect>\n", c, row, 100 * share);
            if (share >= 0.005)
                fprintf(f,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\" "
                        "font-size=\"%d\" pointer-events=\"none\">%.0f</text>\n",
                        margin + j * cell + cell / 2, top + i * cell + cell / 2 + 4,
                        share > 0.5 ? "#ffffff" : "#222222", cell >= 28 ? 10 : 8, 100 * share);
        }
    }
    fputs("</svg>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = rs_write_bytes_atomically(path, buf, len, err, errlen);
    free(buf);
    return rc;
}
