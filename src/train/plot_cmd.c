/*
 * plot_cmd.c — `rnntrain plot --log RUN.csv --out CURVES.svg`: the curves
 * of a finished run from its --log CSV (epoch, steps, train_loss,
 * valid_loss, valid_accuracy, lr, …: the columns loop.c writes), drawn as
 * --plot draws them during training.  For runs made without --plot.
 */
#include "plot_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "loop.h"
#include "plot.h"

/* The index of name among the comma-separated header fields, or -1. */
static int column(char *header, const char *name)
{
    int i = 0;
    for (char *f = strtok(header, ",\n\r"); f; f = strtok(NULL, ",\n\r"), i++)
        if (strcmp(f, name) == 0)
            return i;
    return -1;
}

int rs_plot_main(int argc, char **argv)
{
    const char *log = NULL, *out = NULL, *title = NULL;
    flag flags[] = {
        {"log", NULL, FLAG_STRING, &log, 0, 0, NULL, "a run's --log CSV", 0, NULL},
        {"out", NULL, FLAG_STRING, &out, 0, 0, NULL, "the SVG to write", 0, NULL},
        {"title", NULL, FLAG_STRING, &title, 0, 0, NULL, "the picture's title", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status = flags_command(
        "rnntrain plot", "usage: rnntrain plot --log RUN.csv --out CURVES.svg [--title T]\n\n",
        flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!log || !out) {
        fprintf(stderr, "rnntrain plot: --log and --out are required\n");
        return 2;
    }
    FILE *f = fopen(log, "r");
    if (!f) {
        fprintf(stderr, "rnntrain plot: %s: cannot open\n", log);
        return 1;
    }
    char line[1024], header[1024];
    int status = 1, n = 0, line_no = 1;
    double *y = malloc(3 * (size_t)RS_LOOP_MAX_EPOCHS * sizeof *y);
    if (!y || !fgets(line, sizeof line, f)) {
        fprintf(stderr, "rnntrain plot: %s: %s\n", log, y ? "empty" : "out of memory");
        goto done;
    }
    int cols[3];
    static const char *const names[3] = {"train_loss", "valid_loss", "lr"};
    for (int k = 0; k < 3; k++) {
        memcpy(header, line, sizeof header);
        if ((cols[k] = column(header, names[k])) < 0) {
            fprintf(stderr, "rnntrain plot: %s:1: no column %s (not an rnntrain --log file)\n", log,
                    names[k]);
            goto done;
        }
    }
    while (fgets(line, sizeof line, f) && n < RS_LOOP_MAX_EPOCHS) {
        line_no++;
        double v[3] = {NAN, NAN, NAN};
        int i = 0;
        for (char *field = strtok(line, ",\n\r"); field; field = strtok(NULL, ",\n\r"), i++)
            for (int k = 0; k < 3; k++)
                if (i == cols[k]) {
                    char *end;
                    v[k] = strtod(field, &end);
                    if (end == field || *end) {
                        fprintf(stderr, "rnntrain plot: %s:%d: %s is not a number\n", log, line_no,
                                names[k]);
                        goto done;
                    }
                }
        for (int k = 0; k < 3; k++)
            y[(size_t)k * RS_LOOP_MAX_EPOCHS + n] = v[k];
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "rnntrain plot: %s: no epoch\n", log);
        goto done;
    }
    rs_series s[3] = {{"training loss", y, 0},
                      {"validation loss", y + RS_LOOP_MAX_EPOCHS, 0},
                      {"learning rate", y + 2 * (size_t)RS_LOOP_MAX_EPOCHS, 1}};
    if (rs_plot_curves(out, title ? title : log, "loss (nats)", "learning rate", s, 3, n, err,
                       sizeof err) != 0) {
        fprintf(stderr, "rnntrain plot: %s\n", err);
        goto done;
    }
    status = 0;
done:
    free(y);
    fclose(f);
    return status;
}
