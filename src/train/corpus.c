/*
 * corpus.c — reading one running text and its character vocabulary
 * (corpus.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/text.h"

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
