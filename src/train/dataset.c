/*
 * dataset.c — reading, validating, deduplicating and splitting datasets.
 */
#include "dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/status.h"

void rs_dataset_free(rs_dataset *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->items[i].text);
    free(d->items);
    for (int i = 0; i < d->n_labels; i++)
        free(d->labels[i]);
    free(d->labels);
    free(d->path);
    free(d->extra_path);
    memset(d, 0, sizeof *d);
}

const char *rs_dataset_item_path(const rs_dataset *d, int i)
{
    return d->extra_path && i >= d->n_own ? d->extra_path : d->path;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Checks one field: valid UTF-8, no control characters, 1..MAX characters. */
static const char *field_fault(const char *s, size_t len, const char *what, int max_chars,
                               char *buf, size_t buflen)
{
    if (len == 0) {
        snprintf(buf, buflen, "empty %s", what);
        return buf;
    }
    long chars = 0;
    for (size_t pos = 0; pos < len;) {
        uint32_t cp;
        int n = rs_utf8_decode(s + pos, len - pos, &cp);
        if (n < 0) {
            snprintf(buf, buflen, "invalid UTF-8 in the %s at byte %zu", what, pos + 1);
            return buf;
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
            snprintf(buf, buflen, "control character U+%04X in the %s", (unsigned)cp, what);
            return buf;
        }
        pos += (size_t)n;
        chars++;
    }
    if (chars > max_chars) {
        snprintf(buf, buflen, "%s is %ld characters long, at most %d are accepted (--max-chars)",
                 what, chars, max_chars);
        return buf;
    }
    return NULL;
}

static int label_index(char ***labels, int *n, const char *s, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen((*labels)[i]) == len && memcmp((*labels)[i], s, len) == 0)
            return i;
    char **grown = realloc(*labels, (size_t)(*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *labels = grown;
    grown[*n] = strndup(s, len);
    if (!grown[*n])
        return -1;
    return (*n)++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the labels and renumbers the items to match. */
static int sort_labels(rs_dataset *d)
{
    if (d->n_labels == 0)
        return 0;
    char **sorted = malloc((size_t)d->n_labels * sizeof *sorted);
    int *remap = malloc((size_t)d->n_labels * sizeof *remap);
    if (!sorted || !remap) {
        free(sorted);
        free(remap);
        return -1;
    }
    memcpy(sorted, d->labels, (size_t)d->n_labels * sizeof *sorted);
    qsort(sorted, (size_t)d->n_labels, sizeof *sorted, cmp_str);
    for (int i = 0; i < d->n_labels; i++)
        for (int j = 0; j < d->n_labels; j++)
            if (d->labels[i] == sorted[j])
                remap[i] = j;
    for (int i = 0; i < d->n; i++)
        d->items[i].label = remap[d->items[i].label];
    free(d->labels);
    d->labels = sorted;
    free(remap);
    return 0;
}

int rs_dataset_load(const char *path, rs_normalize normalize, int max_chars, rs_dataset *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RS_EIO;
    }
    out->path = strdup(path);
    out->tsv = ends_with(path, ".tsv");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, status = RS_OK, cap_items = 0;
    char why[160];
    while ((got = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (memchr(line, '\0', len)) {
            snprintf(err, errlen, "%s:%d: NUL byte in the line", path, lineno);
            status = RS_EFORMAT;
            break;
        }
        const char *text = line, *label = NULL;
        size_t text_len = len, label_len = 0;
        if (out->tsv) {
            const char *tab = memchr(line, '\t', len);
            if (!tab) {
                snprintf(err, errlen, "%s:%d: expected text<TAB>label, found no tab", path, lineno);
                status = RS_EFORMAT;
                break;
            }
            text_len = (size_t)(tab - line);
            label = tab + 1;
            label_len = len - text_len - 1;
            if (memchr(label, '\t', label_len)) {
                snprintf(err, errlen, "%s:%d: expected text<TAB>label, found more than one tab",
                         path, lineno);
                status = RS_EFORMAT;
                break;
            }
        }
        const char *fault = field_fault(text, text_len, "text", max_chars, why, sizeof why);
        if (!fault && label)
            fault = field_fault(label, label_len, "label", RS_DATA_NAME_CHARS, why, sizeof why);
        if (fault) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, fault);
            status = RS_EFORMAT;
            break;
        }
        if (out->n == cap_items) {
            int grown_cap = cap_items ? cap_items * 2 : 1024;
            rs_item *grown = realloc(out->items, (size_t)grown_cap * sizeof *grown);
            if (!grown) {
                status = RS_ENOMEM;
                break;
            }
            out->items = grown;
            cap_items = grown_cap;
        }
        rs_item *it = &out->items[out->n];
        it->text = malloc(text_len + 1);
        if (!it->text) {
            status = RS_ENOMEM;
            break;
        }
        long norm_len = rs_normalize_text(normalize, text, text_len, it->text, text_len);
        if (norm_len <= 0) {
            free(it->text);
            snprintf(err, errlen, "%s:%d: the text is empty after normalisation", path, lineno);
            status = RS_EFORMAT;
            break;
        }
        it->text[norm_len] = '\0';
        it->line = lineno;
        it->label = -1;
        out->n++;
        if (label) {
            it->label = label_index(&out->labels, &out->n_labels, label, label_len);
            if (it->label < 0) {
                status = RS_ENOMEM;
                break;
            }
        }
    }
    if (status == RS_OK && ferror(fp)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        status = RS_EIO;
    }
    free(line);
    fclose(fp);
    if (status == RS_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (status == RS_OK && out->n == 0) {
        snprintf(err, errlen, "%s: the dataset is empty", path);
        status = RS_EFORMAT;
    }
    if (status == RS_OK && sort_labels(out) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        status = RS_ENOMEM;
    }
    if (status != RS_OK)
        rs_dataset_free(out);
    return status;
}

/* ---- dedupe and split ---- */

static const rs_dataset *sort_ds; /* qsort has no context argument; single-threaded CLI only */
static int by_text_label(const void *a, const void *b)
{
    const rs_item *x = &sort_ds->items[*(const int *)a], *y = &sort_ds->items[*(const int *)b];
    int c = strcmp(x->text, y->text);
    if (c)
        return c;
    if (x->label != y->label)
        return x->label - y->label;
    return *(const int *)a - *(const int *)b;
}

static int *sorted_indices(const rs_dataset *d)
{
    int *idx = malloc((size_t)(d->n ? d->n : 1) * sizeof *idx);
    if (!idx)
        return NULL;
    for (int i = 0; i < d->n; i++)
        idx[i] = i;
    sort_ds = d;
    qsort(idx, (size_t)d->n, sizeof *idx, by_text_label);
    return idx;
}

void rs_dataset_dedupe(rs_dataset *d)
{
    int *idx = sorted_indices(d);
    if (!idx)
        return;
    char *drop = calloc((size_t)(d->n ? d->n : 1), 1);
    if (!drop) {
        free(idx);
        return;
    }
    for (int k = 1; k < d->n; k++) {
        const rs_item *prev = &d->items[idx[k - 1]], *cur = &d->items[idx[k]];
        if (strcmp(prev->text, cur->text) == 0 && prev->label == cur->label)
            drop[idx[k]] = 1; /* sorted by index within equal pairs: the first is kept */
    }
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        if (drop[i])
            free(d->items[i].text);
        else
            d->items[n++] = d->items[i];
    }
    d->n = n;
    free(drop);
    free(idx);
}

int rs_dataset_split(const rs_dataset *d, double fraction, uint64_t seed, int **a, int *na, int **b,
                     int *nb)
{
    *a = *b = NULL;
    *na = *nb = 0;
    int *idx = sorted_indices(d);
    int *group_of = malloc((size_t)(d->n ? d->n : 1) * sizeof *group_of);
    int *first = malloc((size_t)(d->n ? d->n : 1) * sizeof *first); /* group → first item */
    int n_groups = 0;
    if (!idx || !group_of || !first)
        goto fail;
    for (int k = 0; k < d->n; k++) {
        if (k == 0 || strcmp(d->items[idx[k]].text, d->items[idx[k - 1]].text) != 0)
            first[n_groups++] = idx[k];
        group_of[idx[k]] = n_groups - 1;
    }
    /* stratify: shuffle each label's groups, send the first `fraction` to b */
    char *to_b = calloc((size_t)(n_groups ? n_groups : 1), 1);
    int *members = malloc((size_t)(n_groups ? n_groups : 1) * sizeof *members);
    if (!to_b || !members) {
        free(to_b);
        free(members);
        goto fail;
    }
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    int n_strata = d->n_labels ? d->n_labels : 1;
    for (int s = 0; s < n_strata; s++) {
        int m = 0;
        for (int g = 0; g < n_groups; g++)
            if ((d->n_labels ? d->items[first[g]].label : 0) == s)
                members[m++] = g;
        rs_rng_shuffle(&rng, members, m);
        int take = (int)(fraction * m + 0.5);
        for (int k = 0; k < take; k++)
            to_b[members[k]] = 1;
    }
    *a = malloc((size_t)(d->n ? d->n : 1) * sizeof **a);
    *b = malloc((size_t)(d->n ? d->n : 1) * sizeof **b);
    if (!*a || !*b) {
        free(to_b);
        free(members);
        goto fail;
    }
    for (int i = 0; i < d->n; i++) {
        if (to_b[group_of[i]])
            (*b)[(*nb)++] = i;
        else
            (*a)[(*na)++] = i;
    }
    free(to_b);
    free(members);
    free(idx);
    free(group_of);
    free(first);
    return 0;
fail:
    free(idx);
    free(group_of);
    free(first);
    free(*a);
    free(*b);
    *a = *b = NULL;
    return RS_ENOMEM;
}

/* ---- characters ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int rs_charset_build(const rs_dataset *d, int min_count, rs_charset *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 256, n = 0;
    uint32_t *all = malloc(cap * sizeof *all);
    if (!all)
        return RS_ENOMEM;
    for (int i = 0; i < d->n; i++) {
        const char *s = d->items[i].text;
        size_t len = strlen(s);
        for (size_t pos = 0; pos < len;) {
            uint32_t cp;
            int k = rs_utf8_decode(s + pos, len - pos, &cp);
            if (k < 0)
                break; /* validated on load */
            pos += (size_t)k;
            if (n == cap) {
                uint32_t *g = realloc(all, 2 * cap * sizeof *g);
                if (!g) {
                    free(all);
                    return RS_ENOMEM;
                }
                all = g;
                cap *= 2;
            }
            all[n++] = cp;
        }
    }
    qsort(all, n, sizeof *all, cmp_u32);
    /* runs of equal code points: keep those of min_count or more */
    size_t u = 0;
    for (size_t k = 0; k < n;) {
        size_t run = 1;
        while (k + run < n && all[k + run] == all[k])
            run++;
        if ((long)run >= min_count) {
            all[u++] = all[k];
        } else {
            out->n_rare += (long)run;
            out->n_dropped++;
        }
        k += run;
    }
    out->cps = all;
    out->n = (int)u;
    out->has_unk = min_count > 1;
    return 0;
}

void rs_charset_free(rs_charset *c)
{
    free(c->cps);
    c->cps = NULL;
    c->n = 0;
}

int rs_charset_find(const rs_charset *c, uint32_t cp)
{
    int lo = 0, hi = c->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->cps[mid] < cp)
            lo = mid + 1;
        else if (c->cps[mid] > cp)
            hi = mid;
        else
            return mid;
    }
    return -1;
}

int rs_item_length(const rs_item *it)
{
    long n = rs_utf8_length(it->text, strlen(it->text));
    return n < 0 ? 0 : (int)n;
}
