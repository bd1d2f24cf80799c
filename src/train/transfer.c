/*
 * transfer.c — a transfer set for knowledge distillation (see transfer.h).
 */
#include "transfer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/status.h"

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index of name in the sorted labels of d, or -1. */
static int label_index(const rs_dataset *d, const char *name)
{
    const char *key = name;
    char **hit = bsearch(&key, d->labels, (size_t)d->n_labels, sizeof *d->labels, by_string);
    return hit ? (int)(hit - d->labels) : -1;
}

int rs_transfer_append(rs_dataset *d, const char *path, rs_normalize normalize, int conditional,
                       const int *valid_idx, int n_valid, int **train_idx, int *n_train,
                       rs_transfer_stats *stats, char *err, size_t errlen)
{
    memset(stats, 0, sizeof *stats);
    rs_dataset t = {0};
    if (rs_dataset_load(path, normalize, RS_DATA_MAX_CHARS, &t, err, errlen) != 0)
        return RS_EINVAL;
    int status = 0;
    const char **valid = NULL;
    if (t.n == 0) {
        snprintf(err, errlen, "%s: no items", path);
        status = RS_EINVAL;
        goto done;
    }
    if (conditional && !t.tsv) {
        snprintf(err, errlen,
                 "%s: a conditional generator's transfer set is a .tsv (text<TAB>category)", path);
        status = RS_EINVAL;
        goto done;
    }
    /* each transfer item's label in d, before anything is appended */
    for (int i = 0; i < t.n; i++) {
        int label = -1;
        if (conditional && (label = label_index(d, t.labels[t.items[i].label])) < 0) {
            snprintf(err, errlen, "%s:%d: category \"%s\" is not in the training data", path,
                     t.items[i].line, t.labels[t.items[i].label]);
            status = RS_EINVAL;
            goto done;
        }
        t.items[i].label = label;
    }
    valid = malloc(((size_t)n_valid + 1) * sizeof *valid);
    rs_item *items = realloc(d->items, ((size_t)d->n + t.n) * sizeof *items);
    int *idx = realloc(*train_idx, ((size_t)*n_train + t.n) * sizeof *idx);
    if (items)
        d->items = items;
    if (idx)
        *train_idx = idx;
    if (!valid || !items || !idx) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n_valid; i++)
        valid[i] = d->items[valid_idx[i]].text;
    qsort(valid, (size_t)n_valid, sizeof *valid, by_string);
    stats->read = t.n;
    if (!(d->extra_path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    d->n_own = d->n;
    for (int i = 0; i < t.n; i++) {
        rs_item *it = &t.items[i];
        if (bsearch(&it->text, valid, (size_t)n_valid, sizeof *valid, by_string)) {
            stats->in_validation++;
            continue;
        }
        (*train_idx)[(*n_train)++] = d->n;
        d->items[d->n++] = *it; /* d owns the text now */
        it->text = NULL;
        stats->added++;
    }
done:
    free(valid);
    rs_dataset_free(&t);
    return status;
}
