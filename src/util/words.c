/*
 * words.c — the word tokenizer (see words.h).  Character classes come from
 * utf8proc's Unicode categories; only the CJK blocks, which no category
 * tells apart, are ranges here.
 */
#include "rnnserve/words.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "rnnserve/text.h"

/* Han ideographs (with extensions and compatibility forms) and kana. */
static int is_cjk(uint32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x2FA1F);
}

/* CJK and full-width punctuation: written without spaces around it. */
static int is_cjk_punct(uint32_t c)
{
    return (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF65);
}

static int is_space(uint32_t c)
{
    if (c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ')
        return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

/* Letters, marks and digits, CJK excepted. */
static int is_word(uint32_t c)
{
    if (is_cjk(c))
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* An apostrophe or hyphen that joins a word: ' ’ - */
static int is_joiner(uint32_t c) { return c == '\'' || c == 0x2019 || c == '-'; }

int rs_words_split(const char *text, size_t len, rs_words_emit emit, void *ctx)
{
    size_t at = 0;
    while (at < len) {
        uint32_t c;
        int k = rs_utf8_decode(text + at, len - at, &c);
        if (k <= 0)
            return -1;
        if (c == '\n') {
            emit(text + at, 1, 0, ctx);
            at += 1;
            continue;
        }
        if (is_space(c)) {
            at += (size_t)k;
            continue;
        }
        size_t start = at, end = at + (size_t)k;
        int cjk = is_cjk(c);
        if (cjk || is_word(c) || is_joiner(c)) {
            /* extend the run while it stays of its kind; a joiner belongs
             * to it only between word characters (or before one, at the
             * start: "'tis"), else it is punctuation alone ("--") */
            uint32_t e;
            if (is_joiner(c) &&
                !(end < len && rs_utf8_decode(text + end, len - end, &e) > 0 && is_word(e))) {
                emit(text + start, (size_t)k, 0, ctx);
                at = end;
                continue;
            }
            int prev_word = !is_joiner(c);
            for (;;) {
                uint32_t d;
                int kd = end < len ? rs_utf8_decode(text + end, len - end, &d) : 0;
                if (kd <= 0)
                    break;
                if (cjk ? is_cjk(d) : is_word(d)) {
                    end += (size_t)kd;
                    prev_word = 1;
                    continue;
                }
                if (!cjk && prev_word && is_joiner(d) && end + (size_t)kd < len &&
                    rs_utf8_decode(text + end + kd, len - end - (size_t)kd, &e) > 0 && is_word(e)) {
                    end += (size_t)kd;
                    prev_word = 0;
                    continue;
                }
                break;
            }
            emit(text + start, end - start, cjk, ctx);
            at = end;
            continue;
        }
        emit(text + start, (size_t)k, 0, ctx); /* punctuation, symbols */
        at = end;
    }
    return 0;
}

static uint32_t first_cp(const char *s, size_t len)
{
    uint32_t c = 0;
    return rs_utf8_decode(s, len, &c) > 0 ? c : 0;
}

static uint32_t last_cp(const char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    return i > 0 ? first_cp(s + i - 1, len - i + 1) : 0;
}

/* No space before it: closing and trailing punctuation. */
static int attaches_left(uint32_t c)
{
    switch (c) {
    case ',':
    case '.':
    case ';':
    case ':':
    case '!':
    case '?':
    case ')':
    case ']':
    case '}':
    case '\'':
    case '%':
    case 0x2019:
    case 0x201D:
    case 0x2026:
    case 0xBB:
        return 1;
    default:
        break;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PF || is_cjk_punct(c);
}

/* No space after it: opening punctuation. */
static int attaches_right(uint32_t c)
{
    switch (c) {
    case '(':
    case '[':
    case '{':
    case 0x2018:
    case 0x201C:
    case 0xBF:
    case 0xA1:
    case 0xAB:
        return 1;
    default:
        break;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_PS || k == UTF8PROC_CATEGORY_PI || is_cjk_punct(c);
}

/* 1 when s is a single code point (a punctuation token, not a word like 'tis). */
static int single(const char *s, size_t len)
{
    uint32_t c;
    return rs_utf8_decode(s, len, &c) == (int)len;
}

int rs_words_space_between(const char *a, size_t alen, const char *b, size_t blen)
{
    uint32_t x = last_cp(a, alen), y = first_cp(b, blen);
    if (x == '\n' || y == '\n')
        return 0;
    if ((single(b, blen) && attaches_left(y)) || (single(a, alen) && attaches_right(x)))
        return 0;
    if ((is_cjk(x) || is_cjk_punct(x)) && (is_cjk(y) || is_cjk_punct(y)))
        return 0;
    /* a word that ends with its apostrophe is an elided French article or
     * pronoun cut off its word (sentence.h): "j'" "ai" → "j'ai" */
    if (x == '\'' && alen > 1)
        return 0;
    return 1;
}

static int high_punct(uint32_t c) { return c == '?' || c == '!' || c == ':' || c == ';'; }

int rs_words_space_between_french(const char *a, size_t alen, const char *b, size_t blen)
{
    uint32_t x = last_cp(a, alen), y = first_cp(b, blen);
    if (single(b, blen) && high_punct(y))
        return x != '\n' && !(single(a, alen) && (high_punct(x) || attaches_right(x)));
    return rs_words_space_between(a, alen, b, blen);
}

char *rs_words_join(const char *const *tokens, int n, int french)
{
    int (*space)(const char *, size_t, const char *, size_t) =
        french ? rs_words_space_between_french : rs_words_space_between;
    size_t cap = 1;
    for (int i = 0; i < n; i++)
        cap += strlen(tokens[i]) + 1;
    char *out = malloc(cap), *at = out;
    if (!out)
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(tokens[i]);
        if (i > 0 && space(tokens[i - 1], strlen(tokens[i - 1]), tokens[i], len))
            *at++ = ' ';
        memcpy(at, tokens[i], len);
        at += len;
    }
    *at = '\0';
    return out;
}
