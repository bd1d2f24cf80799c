/*
 * segment.c — jieba's dictionary segmentation without its HMM (see
 * segment.h): a hash table of the words and of every prefix of a word
 * (count 0, as jieba's prefix dictionary has them), the DAG of the words
 * starting at each position, and the most probable route by dynamic
 * programming from the end.
 */
#include "rnnserve/segment.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/text.h"

typedef struct entry {
    char *key; /* NULL: empty slot */
    size_t len;
    double count; /* 0 for a prefix that is not itself a word */
} entry;

struct rs_segmenter {
    entry *slots;
    size_t cap; /* a power of two */
    size_t used;
    double log_total; /* ln Σ counts, as jieba's logtotal */
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static entry *find_slot(const rs_segmenter *s, const char *key, size_t len)
{
    size_t i = (size_t)hash_bytes(key, len) & (s->cap - 1);
    while (s->slots[i].key && (s->slots[i].len != len || memcmp(s->slots[i].key, key, len) != 0))
        i = (i + 1) & (s->cap - 1);
    return &s->slots[i];
}

static const entry *lookup(const rs_segmenter *s, const char *key, size_t len)
{
    const entry *e = find_slot(s, key, len);
    return e->key ? e : NULL;
}

/* Inserts key (copied) unless present; the entry, or NULL without memory. */
static entry *insert(rs_segmenter *s, const char *key, size_t len)
{
    entry *e = find_slot(s, key, len);
    if (e->key)
        return e;
    e->key = malloc(len ? len : 1);
    if (!e->key)
        return NULL;
    memcpy(e->key, key, len);
    e->len = len;
    e->count = 0;
    s->used++;
    return e;
}

rs_segmenter *rs_segmenter_create(const char *const *words, const double *counts, int n)
{
    rs_segmenter *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    size_t keys = 0; /* words and prefixes: at most one a character */
    for (int i = 0; i < n; i++)
        keys += strlen(words[i]);
    s->cap = 16;
    while (s->cap < 2 * keys + 16)
        s->cap *= 2;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        size_t len = strlen(w);
        entry *e = insert(s, w, len);
        if (!e)
            goto fail;
        e->count = counts[i]; /* a repeated word: the last count, every count in the total */
        total += counts[i];
        /* every proper prefix, at character boundaries */
        for (size_t at = 0; at < len;) {
            uint32_t cp;
            int k = rs_utf8_decode(w + at, len - at, &cp);
            at += k > 0 ? (size_t)k : 1;
            if (at < len && !insert(s, w, at))
                goto fail;
        }
    }
    s->log_total = log(total);
    return s;
fail:
    rs_segmenter_destroy(s);
    return NULL;
}

void rs_segmenter_destroy(rs_segmenter *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].key);
    free(s->slots);
    free(s);
}

/* jieba's re_han_default: [\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-] */
static int in_block(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FD5) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '#' || c == '&' || c == '.' || c == '_' ||
           c == '%' || c == '-';
}

/* jieba's re_eng: [a-zA-Z0-9] */
static int is_eng(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Cuts one block of n characters, text + off[0] .. text + off[n] (off:
 * n + 1 byte offsets into text). */
static int cut_block(const rs_segmenter *s, const char *text, const size_t *off,
                     const uint32_t *cps, int n, rs_segment_emit emit, void *ctx)
{
    /* DAG: ends[k][0..n_ends[k]) flattened; at most n − k ends per k */
    int *n_ends = calloc((size_t)n, sizeof *n_ends);
    int *ends_at = calloc((size_t)n + 1, sizeof *ends_at);
    int *route_x = malloc(((size_t)n + 1) * sizeof *route_x);
    double *route_v = malloc(((size_t)n + 1) * sizeof *route_v);
    int *ends = NULL;
    int status = -1;
    if (!n_ends || !ends_at || !route_x || !route_v)
        goto done;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        int total = 0;
        for (int k = 0; k < n; k++) {
            if (pass == 1)
                ends_at[k] = total;
            int m = 0;
            for (int i = k; i < n; i++) {
                const entry *e = lookup(s, text + off[k], off[i + 1] - off[k]);
                if (!e)
                    break;
                if (e->count != 0) {
                    if (pass == 1)
                        ends[total + m] = i;
                    m++;
                }
            }
            if (m == 0) {
                if (pass == 1)
                    ends[total] = k;
                m = 1;
            }
            n_ends[k] = m;
            total += m;
        }
        if (pass == 0 && !(ends = malloc((size_t)total * sizeof *ends)))
            goto done;
    }
    /* route[idx] = max over ends x of (ln count(text[idx..x]) − ln total +
     * route[x + 1], x): the higher sum, then the later end */
    route_v[n] = 0;
    route_x[n] = 0;
    for (int idx = n - 1; idx >= 0; idx--) {
        double best_v = 0;
        int best_x = -1;
        for (int j = 0; j < n_ends[idx]; j++) {
            int x = ends[ends_at[idx] + j];
            const entry *e = lookup(s, text + off[idx], off[x + 1] - off[idx]);
            double c = e && e->count != 0 ? e->count : 1;
            double v = log(c) - s->log_total + route_v[x + 1];
            if (best_x < 0 || v > best_v || (v == best_v && x > best_x)) {
                best_v = v;
                best_x = x;
            }
        }
        route_v[idx] = best_v;
        route_x[idx] = best_x;
    }
    /* walk it; runs of single ASCII letters or digits come out as one */
    int buf_from = -1;
    for (int x = 0; x < n;) {
        int y = route_x[x] + 1;
        if (y - x == 1 && is_eng(cps[x])) {
            if (buf_from < 0)
                buf_from = x;
        } else {
            if (buf_from >= 0) {
                emit(text + off[buf_from], off[x] - off[buf_from], ctx);
                buf_from = -1;
            }
            emit(text + off[x], off[y] - off[x], ctx);
        }
        x = y;
    }
    if (buf_from >= 0)
        emit(text + off[buf_from], off[n] - off[buf_from], ctx);
    status = 0;
done:
    free(n_ends);
    free(ends_at);
    free(ends);
    free(route_x);
    free(route_v);
    return status;
}

int rs_segment(const rs_segmenter *s, const char *text, size_t len, rs_segment_emit emit, void *ctx)
{
    /* code points and their byte offsets (one more offset: the end) */
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    size_t *off = malloc((len + 1) * sizeof *off);
    if (!cps || !off) {
        free(cps);
        free(off);
        return -1;
    }
    int n = 0;
    for (size_t at = 0; at < len;) {
        int k = rs_utf8_decode(text + at, len - at, &cps[n]);
        if (k <= 0) {
            free(cps);
            free(off);
            return -1;
        }
        off[n++] = at;
        at += (size_t)k;
    }
    off[n] = len;
    int status = 0;
    for (int i = 0; i < n && status == 0;) {
        if (in_block(cps[i])) {
            int j = i;
            while (j < n && in_block(cps[j]))
                j++;
            status = cut_block(s, text, off + i, cps + i, j - i, emit, ctx);
            i = j;
        } else if (cps[i] == '\r' && i + 1 < n && cps[i + 1] == '\n') {
            emit(text + off[i], 2, ctx);
            i += 2;
        } else {
            emit(text + off[i], off[i + 1] - off[i], ctx);
            i++;
        }
    }
    free(cps);
    free(off);
    return status;
}
