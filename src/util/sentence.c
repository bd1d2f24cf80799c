/*
 * sentence.c — one sentence of a translator's side cut into word tokens
 * (sentence.h).
 */
#include "rnnserve/sentence.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "rnnserve/words.h"

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
