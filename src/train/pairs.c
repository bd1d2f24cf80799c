/*
 * pairs.c — sentence pairs read into word tokens (pairs.h).
 */
#include "pairs.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_out.h"
#include "rnnserve/rng.h"
#include "rnnserve/sentence.h"
#include "rnnserve/strtab.h"
#include "rnnserve/words.h"

/* ---- token tables ------------------------------------------------------- */

static int table_intern(rs_token_table *t, const char *s, size_t n)
{
    int id = rs_strtab_intern(&t->strings, s, n);
    if (id < 0)
        return -1;
    if (id == t->n) { /* new: its count */
        if (t->n == t->cap) {
            int cap = t->cap ? t->cap * 2 : 1024;
            long *count = realloc(t->count, (size_t)cap * sizeof *count);
            if (!count)
                return -1;
            t->count = count;
            t->cap = cap;
        }
        t->count[t->n++] = 0;
        t->token = t->strings.str;
    }
    return id;
}

static void table_free(rs_token_table *t)
{
    rs_strtab_free(&t->strings);
    free(t->count);
    memset(t, 0, sizeof *t);
}

/* ---- the file ----------------------------------------------------------- */

/* A growing array of token indices. */
typedef struct ints {
    int *v;
    size_t n, cap;
} ints;

static int ints_push(ints *a, int x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        int *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

typedef struct side_ctx {
    rs_token_table *table;
    ints *tokens;
    int failed;
} side_ctx;

static void on_token(const char *token, size_t len, void *arg)
{
    side_ctx *s = arg;
    int id = s->failed ? -1 : table_intern(s->table, token, len);
    if (id < 0 || ints_push(s->tokens, id) != 0) {
        s->failed = 1;
        return;
    }
    s->table->count[id]++;
}

static int by_index(const void *x, const void *y) { return *(const int *)x - *(const int *)y; }

/* A pair's line as the file had it. */
static int emit_pair(const void *ctx, int item, FILE *fp)
{
    const rs_pairs *p = ctx;
    return fprintf(fp, "%s\n", p->text[item]);
}

int rs_pairs_write(const rs_pairs *p, const int *idx, int n, const char *path, char *err,
                   size_t errlen)
{
    int *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(sorted, idx, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_index);
    int status = rs_write_lines_atomically(path, p, emit_pair, sorted, n, err, errlen);
    free(sorted);
    return status;
}

/* One of rs_pairs' arrays as a growing one (its capacity its length). */
static ints ints_of(int *v, size_t n) { return (ints){.v = v, .n = n, .cap = n}; }

int rs_pairs_append(const char *path, rs_pairs *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        rs_pairs_free(out);
        return -1;
    }
    /* out's arrays taken over while they grow, handed back at the end */
    size_t n0 = (size_t)out->n;
    ints src = ints_of(out->src_tok, n0 ? (size_t)out->src_off[n0] : 0),
         tgt = ints_of(out->tgt_tok, n0 ? (size_t)out->tgt_off[n0] : 0),
         src_off = ints_of(out->src_off, n0 ? n0 + 1 : 0),
         tgt_off = ints_of(out->tgt_off, n0 ? n0 + 1 : 0), lines = ints_of(out->line, n0);
    char **text = out->text;
    size_t text_cap = n0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int line_no = 0, status = -1;
    if (n0 == 0 && (ints_push(&src_off, 0) || ints_push(&tgt_off, 0)))
        goto nomem;
    while ((got = getline(&line, &cap, f)) >= 0) {
        line_no++;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        if (memchr(line, '\0', n)) {
            snprintf(err, errlen, "%s:%d: a NUL byte", path, line_no);
            goto done;
        }
        char *tab = memchr(line, '\t', n);
        if (!tab) {
            snprintf(err, errlen, "%s:%d: no tab between the source and the target sentence", path,
                     line_no);
            goto done;
        }
        const char *t0 = tab + 1;
        const char *tab2 = memchr(t0, '\t', n - (size_t)(t0 - line));
        size_t tlen = tab2 ? (size_t)(tab2 - t0) : n - (size_t)(t0 - line);
        size_t src_before = src.n, tgt_before = tgt.n;
        side_ctx s = {.table = &out->src, .tokens = &src};
        side_ctx t = {.table = &out->tgt, .tokens = &tgt};
        if (rs_sentence_tokens(line, (size_t)(tab - line), 0, on_token, &s) != 0 ||
            rs_sentence_tokens(t0, tlen, 1, on_token, &t) != 0) {
            snprintf(err, errlen, "%s:%d: invalid UTF-8", path, line_no);
            goto done;
        }
        if (s.failed || t.failed)
            goto nomem;
        if (src.n == src_before || tgt.n == tgt_before) {
            snprintf(err, errlen, "%s:%d: the %s sentence is empty", path, line_no,
                     src.n == src_before ? "source" : "target");
            goto done;
        }
        if (lines.n == text_cap) {
            size_t cap2 = text_cap ? text_cap * 2 : 4096;
            char **t2 = realloc(text, cap2 * sizeof *t2);
            if (!t2)
                goto nomem;
            text = t2;
            text_cap = cap2;
        }
        if (!(text[lines.n] = strndup(line, n)))
            goto nomem;
        if (ints_push(&src_off, (int)src.n) || ints_push(&tgt_off, (int)tgt.n) ||
            ints_push(&lines, line_no)) {
            free(text[lines.n]);
            goto nomem;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto done;
    }
    if (lines.n == n0) {
        snprintf(err, errlen, "%s: no sentence pairs", path);
        goto done;
    }
    status = 0;
    goto done;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
done:
    out->n = (int)lines.n;
    out->src_off = src_off.v;
    out->tgt_off = tgt_off.v;
    out->src_tok = src.v;
    out->tgt_tok = tgt.v;
    out->line = lines.v;
    out->text = text;
    free(line);
    fclose(f);
    if (status != 0)
        rs_pairs_free(out);
    return status;
}

int rs_pairs_load(const char *path, rs_pairs *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return rs_pairs_append(path, out, err, errlen);
}

void rs_pairs_free(rs_pairs *p)
{
    if (p->text)
        for (int i = 0; i < p->n; i++)
            free(p->text[i]);
    free(p->text);
    free(p->src_off);
    free(p->tgt_off);
    free(p->src_tok);
    free(p->tgt_tok);
    free(p->line);
    table_free(&p->src);
    table_free(&p->tgt);
    memset(p, 0, sizeof *p);
}

/* ---- the split grouped by source sentence -------------------------------- */

static uint64_t source_hash(const rs_pairs *p, int i)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the word ids */
    for (int k = p->src_off[i]; k < p->src_off[i + 1]; k++)
        h = (h ^ (uint64_t)(uint32_t)p->src_tok[k]) * 1099511628211ULL;
    return h;
}

/* A pair with its source's hash; the pairs travel with it, so that qsort
 * needs no global state to compare the words themselves. */
typedef struct keyed {
    uint64_t key;
    int pair;
    const rs_pairs *p;
} keyed;

static int same_source(const rs_pairs *p, int a, int b)
{
    int na = p->src_off[a + 1] - p->src_off[a], nb = p->src_off[b + 1] - p->src_off[b];
    return na == nb &&
           memcmp(p->src_tok + p->src_off[a], p->src_tok + p->src_off[b], (size_t)na * 4) == 0;
}

/* By hash, then the words (a collision is two groups), then file order. */
static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (!same_source(x->p, x->pair, y->pair)) {
        int na = x->p->src_off[x->pair + 1] - x->p->src_off[x->pair];
        int nb = x->p->src_off[y->pair + 1] - x->p->src_off[y->pair];
        if (na != nb)
            return na - nb;
        return memcmp(x->p->src_tok + x->p->src_off[x->pair],
                      x->p->src_tok + x->p->src_off[y->pair], (size_t)na * 4);
    }
    return x->pair - y->pair;
}

int rs_pairs_group_by_source(const rs_pairs *p, const int *idx, int n, int *order, int *group,
                             int *n_groups)
{
    keyed *k = malloc((size_t)(n ? n : 1) * sizeof *k);
    if (!k)
        return -1;
    for (int i = 0; i < n; i++)
        k[i] = (keyed){source_hash(p, idx[i]), idx[i], p};
    qsort(k, (size_t)n, sizeof *k, by_key);
    int g = 0;
    for (int i = 0; i < n; i++) {
        order[i] = k[i].pair;
        if (i == 0 || k[i].key != k[i - 1].key || !same_source(p, k[i].pair, k[i - 1].pair))
            group[g++] = i;
    }
    group[g] = n;
    *n_groups = g;
    free(k);
    return 0;
}

int rs_pairs_split_grouped(const rs_pairs *p, const int *keep, int n_keep, double fraction,
                           uint64_t seed, int **train, int *n_train, int **valid, int *n_valid)
{
    int *sorted = malloc((size_t)(n_keep ? n_keep : 1) * sizeof *sorted);
    int *group_start = malloc(((size_t)n_keep + 1) * sizeof *group_start);
    int *order = malloc((size_t)(n_keep ? n_keep : 1) * sizeof *order);
    *train = malloc((size_t)(n_keep ? n_keep : 1) * sizeof **train);
    *valid = malloc((size_t)(n_keep ? n_keep : 1) * sizeof **valid);
    int status = -1, groups = 0;
    if (!sorted || !group_start || !order || !*train || !*valid ||
        rs_pairs_group_by_source(p, keep, n_keep, sorted, group_start, &groups) != 0)
        goto done;
    for (int g = 0; g < groups; g++)
        order[g] = g;
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    rs_rng_shuffle(&rng, order, groups);
    long want = (long)ceil(fraction * n_keep);
    char *in_valid = calloc((size_t)(groups > 0 ? groups : 1), 1);
    if (!in_valid)
        goto done;
    long got = 0;
    for (int g = 0; g < groups && got < want; g++) {
        in_valid[order[g]] = 1;
        got += group_start[order[g] + 1] - group_start[order[g]];
    }
    *n_train = *n_valid = 0;
    for (int g = 0; g < groups; g++)
        for (int i = group_start[g]; i < group_start[g + 1]; i++) {
            if (in_valid[g])
                (*valid)[(*n_valid)++] = sorted[i];
            else
                (*train)[(*n_train)++] = sorted[i];
        }
    free(in_valid);
    status = 0;
done:
    free(sorted);
    free(group_start);
    free(order);
    return status;
}
