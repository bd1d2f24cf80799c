/*
 * split_cmd.c — `rnntrain split`: cut a dataset into train and test files
 * so that no text of the test file appears in the train file (grouped by
 * text) and every label keeps its share (stratified); seeded.  Repeated
 * rows stay as the file has them unless --dedupe.  Both files are written
 * atomically.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_out.h"
#include "dataset.h"
#include "flags.h"
#include "pairs.h"
#include "train.h"

/* A dataset row: text<TAB>label, or the text alone. */
static int emit_row(const void *ctx, int item, FILE *fp)
{
    const rs_dataset *d = ctx;
    const rs_item *it = &d->items[item];
    return d->tsv ? fprintf(fp, "%s\t%s\n", it->text, d->labels[it->label])
                  : fprintf(fp, "%s\n", it->text);
}

/* --pairs: sentence pairs grouped by source sentence (pairs.h). */
static int split_pairs(const char *data, const char *train_out, const char *test_out,
                       double fraction, uint64_t seed)
{
    rs_pairs p;
    char err[512];
    int *all = NULL, *a = NULL, *b = NULL, na = 0, nb = 0, status = 1;
    if (rs_pairs_load(data, &p, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain split: %s\n", err);
        return 1;
    }
    all = malloc((size_t)p.n * sizeof *all);
    if (!all) {
        fprintf(stderr, "rnntrain split: out of memory\n");
        goto done;
    }
    for (int i = 0; i < p.n; i++)
        all[i] = i;
    if (rs_pairs_split_grouped(&p, all, p.n, fraction, seed, &a, &na, &b, &nb) != 0) {
        fprintf(stderr, "rnntrain split: out of memory\n");
        goto done;
    }
    if (rs_pairs_write(&p, a, na, train_out, err, sizeof err) != 0 ||
        rs_pairs_write(&p, b, nb, test_out, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain split: %s\n", err);
        goto done;
    }
    fprintf(stderr, "rnntrain split: %d pairs read: %d to %s, %d to %s (grouped by source)\n", p.n,
            na, train_out, nb, test_out);
    status = 0;
done:
    free(all);
    free(a);
    free(b);
    rs_pairs_free(&p);
    return status;
}

int rs_split_main(int argc, char **argv)
{
    const char *data = NULL, *train_out = NULL, *test_out = NULL;
    double fraction = 0.1;
    uint64_t seed = 1;
    int normalize = 1, dedupe = 0, pairs = 0;
    static const char *const normalize_choices[] = {"none", "ascii-fold", NULL};
    flag flags[] = {
        {"data", NULL, FLAG_STRING, &data, 0, 0, NULL, "dataset to split (.tsv or .txt)", 0, NULL},
        {"train-out", NULL, FLAG_STRING, &train_out, 0, 0, NULL, "file for the training part", 0,
         NULL},
        {"test-out", NULL, FLAG_STRING, &test_out, 0, 0, NULL, "file for the held-out part", 0,
         NULL},
        {"test-fraction", NULL, FLAG_DOUBLE, &fraction, 0.01, 0.9, NULL,
         "share of distinct texts held out", 0, NULL},
        {"seed", NULL, FLAG_U64, &seed, 0, 0, NULL, "random seed", 0, NULL},
        {"dedupe", NULL, FLAG_BOOL, &dedupe, 0, 0, NULL, "write each (text, label) once", 0, NULL},
        {"normalize", NULL, FLAG_CHOICE, &normalize, 0, 0, normalize_choices,
         "normalisation applied before grouping", 0, NULL},
        {"pairs", NULL, FLAG_BOOL, &pairs, 0, 0, NULL,
         "sentence pairs (source<TAB>target, a translator's data): hold out pairs grouped by "
         "their source sentence's words, not stratified",
         0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status = flags_command("rnntrain split",
                                    "usage: rnntrain split --data FILE --train-out A --test-out B "
                                    "[--test-fraction F] [--seed S]\n\n",
                                    flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!data || !train_out || !test_out) {
        fprintf(stderr, "rnntrain split: --data, --train-out and --test-out are required\n");
        return 2;
    }
    if (pairs)
        return split_pairs(data, train_out, test_out, fraction, seed);
    rs_dataset d = {0};
    int *a = NULL, *b = NULL, na = 0, nb = 0, status = 1;
    if (rs_dataset_load(data, (rs_normalize)normalize, RS_DATA_MAX_CHARS, &d, err, sizeof err) !=
        0) {
        fprintf(stderr, "rnntrain split: %s\n", err);
        goto done;
    }
    int rows = d.n;
    if (dedupe)
        rs_dataset_dedupe(&d);
    if (rs_dataset_split(&d, fraction, seed, &a, &na, &b, &nb) != 0) {
        fprintf(stderr, "rnntrain split: out of memory\n");
        goto done;
    }
    if (rs_write_lines_atomically(train_out, &d, emit_row, a, na, err, sizeof err) != 0 ||
        rs_write_lines_atomically(test_out, &d, emit_row, b, nb, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain split: %s\n", err);
        goto done;
    }
    fprintf(stderr, "rnntrain split: %d rows read, %d kept: %d to %s, %d to %s\n", rows, d.n, na,
            train_out, nb, test_out);
    status = 0;
done:
    free(a);
    free(b);
    rs_dataset_free(&d);
    return status;
}
