/*
 * corpus.c — reading one running text and its character vocabulary
 * (corpus.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/text.h"
#include "rnnserve/words.h"

static const char *const specials[RS_CORPUS_SPECIALS] = {"<pad>", "<bos>", "<eos>"};

/* The whole file in a malloc'd buffer; 0, or -1 with a message. */
static int slurp(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *grown = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    int failed = ferror(fp);
    fclose(fp);
    if (!buf || failed) {
        snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

int rs_corpus_load(const char *path, rs_corpus *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *bytes = NULL;
    size_t len = 0;
    if (slurp(path, &bytes, &len, err, errlen) != 0)
        return -1;
    if (len == 0) {
        snprintf(err, errlen, "%s: the file is empty", path);
        free(bytes);
        return -1;
    }
    out->cps = malloc(len * sizeof *out->cps); /* at most one code point per byte */
    if (!out->cps) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(bytes);
        return -1;
    }
    long line = 1;
    size_t line_start = 0;
    for (size_t at = 0; at < len;) {
        uint32_t cp;
        int n = rs_utf8_decode(bytes + at, len - at, &cp);
        if (n <= 0) {
            snprintf(err, errlen, "%s:%ld: byte %zu of the line (%zu of the file): invalid UTF-8",
                     path, line, at - line_start + 1, at + 1);
            free(bytes);
            rs_corpus_free(out);
            return -1;
        }
        if (cp == 0) {
            snprintf(err, errlen, "%s:%ld: NUL character", path, line);
            free(bytes);
            rs_corpus_free(out);
            return -1;
        }
        out->cps[out->n++] = cp;
        at += (size_t)n;
        if (cp == '\n') {
            line++;
            line_start = at;
        }
    }
    free(bytes);
    return 0;
}

void rs_corpus_free(rs_corpus *c)
{
    free(c->cps);
    c->cps = NULL;
    c->n = 0;
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int rs_vocab_build(const uint32_t *cps, long n, char ***tokens, int *count)
{
    *tokens = NULL;
    *count = 0;
    uint32_t *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, cps, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_u32);
    long distinct = 0;
    for (long i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1])
            sorted[distinct++] = sorted[i];
    char **t = calloc((size_t)(RS_CORPUS_SPECIALS + distinct), sizeof *t);
    int ok = t != NULL;
    for (int i = 0; ok && i < RS_CORPUS_SPECIALS; i++)
        ok = (t[i] = strdup(specials[i])) != NULL;
    for (long i = 0; ok && i < distinct; i++) {
        char buf[5] = {0};
        int k = rs_utf8_encode(sorted[i], buf);
        buf[k > 0 ? k : 0] = '\0';
        ok = (t[RS_CORPUS_SPECIALS + i] = strdup(buf)) != NULL;
    }
    free(sorted);
    if (!ok) {
        rs_vocab_free(t, t ? RS_CORPUS_SPECIALS + (int)distinct : 0);
        return -1;
    }
    *tokens = t;
    *count = RS_CORPUS_SPECIALS + (int)distinct;
    return 0;
}

void rs_vocab_free(char **tokens, int count)
{
    if (!tokens)
        return;
    for (int i = 0; i < count; i++)
        free(tokens[i]);
    free(tokens);
}

long rs_corpus_encode(const uint32_t *cps, long n, const uint32_t *table, int table_len,
                      int32_t *ids)
{
    long unknown = 0;
    for (long i = 0; i < n; i++) {
        const uint32_t *hit = bsearch(&cps[i], table, (size_t)table_len, sizeof *table, by_u32);
        if (hit) {
            ids[i] = RS_CORPUS_SPECIALS + (int32_t)(hit - table);
        } else {
            ids[i] = -1;
            unknown++;
        }
    }
    return unknown;
}

/* ---- the word tokenizer ------------------------------------------------- */

typedef struct span {
    const char *text; /* the token's bytes, in the text */
    long start;       /* byte offset in the text */
    int len;
    long char_at; /* character offset, for the split */
} span;

typedef struct span_list {
    span *v;
    long n, cap;
    const char *base;
    long char_at;          /* characters before the piece being emitted */
    const size_t *char_of; /* byte offset -> character offset (n bytes + 1) */
    int failed;
} span_list;

static void add_span(const char *tok, size_t len, int cjk, void *ctx)
{
    (void)cjk; /* a CJK run between spaces is a word: the text was segmented */
    span_list *l = ctx;
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 4096;
        span *g = realloc(l->v, (size_t)cap * sizeof *g);
        if (!g) {
            l->failed = 1;
            return;
        }
        l->v = g;
        l->cap = cap;
    }
    long start = (long)(tok - l->base);
    l->v[l->n++] = (span){tok, start, (int)len, (long)l->char_of[start]};
}

static int by_span_text(const void *a, const void *b)
{
    const span *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, (size_t)n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

typedef struct word_count {
    long first; /* index of a span with this text */
    long count;
} word_count;

/* Most frequent first; equal counts in text order, which is the order of
 * `first` (words are collected from the text-sorted spans). */
static int by_count_then_text(const void *a, const void *b)
{
    const word_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

int rs_corpus_words(const rs_corpus *c, long n_train_chars, int min_count, char ***vocab_out,
                    int *V_out, double **unigram_out, int32_t **ids_out, long *n_ids,
                    long *n_train_ids)
{
    static const char *const specials[4] = {"<pad>", "<bos>", "<eos>", "<unk>"};
    int status = -1;
    char *text = malloc((size_t)c->n * 4 + 1);
    size_t *char_of = malloc(((size_t)c->n * 4 + 1) * sizeof *char_of);
    span_list l = {0};
    span *sorted = NULL;
    word_count *words = NULL;
    long *word_of = NULL; /* sorted span index -> word index */
    char **vocab = NULL;
    double *unigram = NULL;
    int32_t *ids = NULL;
    int V = 0;
    if (!text || !char_of)
        goto done;
    size_t at = 0;
    for (long i = 0; i < c->n; i++) {
        char buf[4];
        int k = rs_utf8_encode(c->cps[i], buf);
        for (int j = 0; j < k; j++)
            char_of[at + (size_t)j] = (size_t)i;
        memcpy(text + at, buf, (size_t)k);
        at += (size_t)k;
    }
    char_of[at] = (size_t)c->n;
    l.base = text;
    l.char_of = char_of;
    if (rs_words_split(text, at, add_span, &l) != 0 || l.failed || l.n == 0)
        goto done;
    /* distinct words of the training part and their counts: sort its spans */
    long n_train = 0;
    while (n_train < l.n && l.v[n_train].char_at < n_train_chars)
        n_train++;
    sorted = malloc((size_t)(n_train ? n_train : 1) * sizeof *sorted);
    words = malloc((size_t)(n_train ? n_train : 1) * sizeof *words);
    if (!sorted || !words)
        goto done;
    memcpy(sorted, l.v, (size_t)n_train * sizeof *sorted);
    qsort(sorted, (size_t)n_train, sizeof *sorted, by_span_text);
    long n_words = 0, dropped = 0;
    for (long i = 0; i < n_train;) {
        long j = i + 1;
        while (j < n_train && by_span_text(&sorted[i], &sorted[j]) == 0)
            j++;
        if (j - i >= min_count)
            words[n_words++] = (word_count){i, j - i};
        else
            dropped += j - i;
        i = j;
    }
    qsort(words, (size_t)n_words, sizeof *words, by_count_then_text);
    V = 4 + (int)n_words;
    vocab = calloc((size_t)V, sizeof *vocab);
    unigram = calloc((size_t)V, sizeof *unigram);
    ids = malloc((size_t)l.n * sizeof *ids);
    if (!vocab || !unigram || !ids)
        goto done;
    for (int i = 0; i < 4; i++)
        if (!(vocab[i] = strdup(specials[i])))
            goto done;
    unigram[3] = dropped > 0 ? log((double)dropped) : 0.0; /* <unk>: the words it stands for */
    for (long w = 0; w < n_words; w++) {
        const span *s = &sorted[words[w].first];
        if (!(vocab[4 + w] = strndup(text + s->start, (size_t)s->len)))
            goto done;
        unigram[4 + w] = log((double)words[w].count);
    }
    /* each token's id: binary search among the kept words, by text */
    word_of = malloc((size_t)(n_words ? n_words : 1) * sizeof *word_of);
    span *keys = malloc((size_t)(n_words ? n_words : 1) * sizeof *keys);
    if (!word_of || !keys) {
        free(keys);
        goto done;
    }
    for (long w = 0; w < n_words; w++)
        keys[w] = sorted[words[w].first], word_of[w] = w;
    /* keys in text order with their word index, for bsearch */
    for (long i = 1; i < n_words; i++) {
        span k = keys[i];
        long wi = word_of[i], j = i;
        while (j > 0 && by_span_text(&keys[j - 1], &k) > 0) {
            keys[j] = keys[j - 1];
            word_of[j] = word_of[j - 1];
            j--;
        }
        keys[j] = k;
        word_of[j] = wi;
    }
    for (long t = 0; t < l.n; t++) {
        const span *hit = bsearch(&l.v[t], keys, (size_t)n_words, sizeof *keys, by_span_text);
        ids[t] = hit ? 4 + (int32_t)word_of[hit - keys] : 3;
    }
    free(keys);
    *vocab_out = vocab;
    *V_out = V;
    *unigram_out = unigram;
    *ids_out = ids;
    *n_ids = l.n;
    *n_train_ids = n_train;
    vocab = NULL;
    unigram = NULL;
    ids = NULL;
    status = 0;
done:
    rs_vocab_free(vocab, V);
    free(unigram);
    free(ids);
    free(text);
    free(char_of);
    free(l.v);
    free(sorted);
    free(words);
    free(word_of);
    return status;
}
