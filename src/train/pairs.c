/*
 * pairs.c — sentence pairs read into word tokens (pairs.h).
 */
#include "pairs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "rnnserve/words.h"

/* ---- one sentence ------------------------------------------------------- */

/* French articles and pronouns that elide before a vowel. */
static const char *const elided[] = {"l", "d",  "j",     "m",      "n",      "s",      "t",
                                     "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu", NULL};

typedef struct cut_ctx {
    int french;
    rs_sentence_emit emit;
    void *ctx;
} cut_ctx;

static int is_elided(const char *w, size_t n)
{
    for (int i = 0; elided[i]; i++)
        if (strlen(elided[i]) == n && memcmp(elided[i], w, n) == 0)
            return 1;
    return 0;
}

static void on_word(const char *token, size_t len, int cjk, void *arg)
{
    (void)cjk;
    cut_ctx *c = arg;
    while (c->french) {
        const char *apos = memchr(token, '\'', len);
        if (!apos || apos == token || apos + 1 == token + len ||
            !is_elided(token, (size_t)(apos - token)))
            break;
        size_t head = (size_t)(apos - token) + 1; /* "qu'" */
        c->emit(token, head, c->ctx);
        token += head;
        len -= head;
    }
    c->emit(token, len, c->ctx);
}

int rs_sentence_tokens(const char *text, size_t len, int french_elision, rs_sentence_emit emit,
                       void *ctx)
{
    /* lower-cased, with ’ read as ': at most 4 bytes per code point, and a
     * lower-case form is never longer than 4 bytes either */
    char stack[1024];
    char *buf = len * 4 + 1 <= sizeof stack ? stack : malloc(len * 4 + 1);
    if (!buf)
        return -1;
    size_t at = 0, out = 0;
    int status = 0;
    while (at < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + at,
                                              (utf8proc_ssize_t)(len - at), &cp);
        if (n <= 0) {
            status = -1;
            break;
        }
        at += (size_t)n;
        cp = cp == 0x2019 ? '\'' : utf8proc_tolower(cp);
        out += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)buf + out);
    }
    if (status == 0) {
        cut_ctx c = {.french = french_elision, .emit = emit, .ctx = ctx};
        status = rs_words_split(buf, out, on_word, &c);
    }
    if (buf != stack)
        free(buf);
    return status;
}

/* ---- token tables ------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int table_grow(rs_token_table *t)
{
    int n_slots = t->n_slots ? t->n_slots * 2 : 1024;
    int *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!slots)
        return -1;
    for (int i = 0; i < t->n; i++) {
        size_t h = (size_t)hash_bytes(t->token[i], strlen(t->token[i])) & (size_t)(n_slots - 1);
        while (slots[h])
            h = (h + 1) & (size_t)(n_slots - 1);
        slots[h] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 0;
}

/* The index of token s[0..n) in t, added (count 0) when new; -1 when
 * memory runs out. */
static int table_intern(rs_token_table *t, const char *s, size_t n)
{
    if ((t->n + 1) * 2 > t->n_slots && table_grow(t) != 0)
        return -1;
    size_t mask = (size_t)(t->n_slots - 1), h = (size_t)hash_bytes(s, n) & mask;
    for (; t->slots[h]; h = (h + 1) & mask) {
        const char *tok = t->token[t->slots[h] - 1];
        if (strlen(tok) == n && memcmp(tok, s, n) == 0)
            return t->slots[h] - 1;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 1024;
        char **tok = realloc(t->token, (size_t)cap * sizeof *tok);
        if (!tok)
            return -1;
        t->token = tok;
        long *count = realloc(t->count, (size_t)cap * sizeof *count);
        if (!count)
            return -1;
        t->count = count;
        t->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->token[t->n] = copy;
    t->count[t->n] = 0;
    t->slots[h] = t->n + 1;
    return t->n++;
}

static void table_free(rs_token_table *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->token[i]);
    free(t->token);
    free(t->count);
    free(t->slots);
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

int rs_pairs_load(const char *path, rs_pairs *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    ints src = {0}, tgt = {0}, src_off = {0}, tgt_off = {0}, lines = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int line_no = 0, status = -1;
    if (ints_push(&src_off, 0) || ints_push(&tgt_off, 0))
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
        if (ints_push(&src_off, (int)src.n) || ints_push(&tgt_off, (int)tgt.n) ||
            ints_push(&lines, line_no))
            goto nomem;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto done;
    }
    if (lines.n == 0) {
        snprintf(err, errlen, "%s: no sentence pairs", path);
        goto done;
    }
    out->n = (int)lines.n;
    out->src_off = src_off.v;
    out->tgt_off = tgt_off.v;
    out->src_tok = src.v;
    out->tgt_tok = tgt.v;
    out->line = lines.v;
    src_off.v = tgt_off.v = src.v = tgt.v = lines.v = NULL;
    status = 0;
    goto done;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
done:
    if (status != 0) {
        table_free(&out->src);
        table_free(&out->tgt);
    }
    free(src.v);
    free(tgt.v);
    free(src_off.v);
    free(tgt_off.v);
    free(lines.v);
    free(line);
    fclose(f);
    return status;
}

void rs_pairs_free(rs_pairs *p)
{
    free(p->src_off);
    free(p->tgt_off);
    free(p->src_tok);
    free(p->tgt_tok);
    free(p->line);
    table_free(&p->src);
    table_free(&p->tgt);
    memset(p, 0, sizeof *p);
}
