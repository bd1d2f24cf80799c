/*
 * text.c — strict UTF-8 decoding (the Unicode Standard, table 3-7 "well-formed
 * byte sequences") and the two normalisations a model can declare.  ascii-fold
 * takes each code point's canonical decomposition from utf8proc and drops
 * the combining marks, in the blocks names are written in.  Not a general
 * normaliser: no NFC, no case folding, no reordering of combining marks.
 */
#include "rnnserve/text.h"

#include "rnnserve/status.h"

#include <assert.h>
#include <string.h>

#include <utf8proc.h>

const char *rs_normalize_name(rs_normalize mode)
{
    switch (mode) {
    case RS_NORMALIZE_NONE:
        return "none";
    case RS_NORMALIZE_ASCII_FOLD:
        return "ascii-fold";
    }
    /* An out-of-range mode is a programmer error; NULL fails loudly instead of
     * writing a made-up name into model metadata. */
    return NULL;
}

int rs_normalize_from_name(const char *name, rs_normalize *out)
{
    if (!name)
        return -1;
    if (strcmp(name, "none") == 0) {
        *out = RS_NORMALIZE_NONE;
        return 0;
    }
    if (strcmp(name, "ascii-fold") == 0) {
        *out = RS_NORMALIZE_ASCII_FOLD;
        return 0;
    }
    return -1;
}

int rs_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0)
        return -1;
    unsigned char b0 = p[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }

    /* The allowed range of the second byte depends on the first: that is
     * what rules out overlong forms (E0 80..9F, F0 80..8F), surrogates
     * (ED A0..BF) and values above U+10FFFF (F4 90..BF) without decoding
     * first and range-checking after.  C0, C1 and F5..FF never start a
     * sequence; 80..BF are continuation bytes. */
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t c;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
        c = b0 & 0x1Fu;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        c = b0 & 0x0Fu;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        c = b0 & 0x07u;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return -1;
    }
    if (len < (size_t)n)
        return -1;
    if (p[1] < lo || p[1] > hi)
        return -1;
    c = (c << 6) | (p[1] & 0x3Fu);
    for (int i = 2; i < n; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return -1;
        c = (c << 6) | (p[i] & 0x3Fu);
    }
    *cp = c;
    return n;
}

int rs_utf8_encode(uint32_t cp, char out[4])
{
    assert(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int rs_utf8_valid(const char *s, size_t len) { return rs_utf8_length(s, len) >= 0; }

long rs_utf8_length(const char *s, size_t len)
{
    long count = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = rs_utf8_decode(s + i, len - i, &cp);
        if (n < 0)
            return -1;
        i += (size_t)n;
        count++;
    }
    return count;
}

int rs_unicode_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* The offset of the code point that ends at end (> from) in valid UTF-8:
 * back over continuation bytes. */
static size_t last_code_point(const char *s, size_t from, size_t end)
{
    size_t at = end - 1;
    while (at > from && ((unsigned char)s[at] & 0xC0) == 0x80)
        at--;
    return at;
}

size_t rs_utf8_trim(const char *s, size_t len, size_t *start)
{
    size_t from = 0, end = len;
    uint32_t cp;
    int n;
    while (from < len && (n = rs_utf8_decode(s + from, len - from, &cp)) > 0 &&
           rs_unicode_is_space(cp))
        from += (size_t)n;
    while (end > from) {
        size_t at = last_code_point(s, from, end);
        if (rs_utf8_decode(s + at, end - at, &cp) != (int)(end - at) || !rs_unicode_is_space(cp))
            break;
        end = at;
    }
    *start = from;
    return end - from;
}

/* The blocks ascii-fold folds (the names' scripts): Latin-1 letters, Latin
 * Extended-A/B, Greek, Cyrillic, Latin Extended Additional.  Kept to these
 * so that a model's input means what it meant in training: elsewhere
 * (Hangul, compatibility forms, polytonic Greek) NFD would change more than
 * accents. */
static int in_fold_blocks(uint32_t cp)
{
    return (cp >= 0x00C0 && cp <= 0x024F) || (cp >= 0x0370 && cp <= 0x04FF) ||
           (cp >= 0x1E00 && cp <= 0x1EFF);
}

/* Whether cp survives ascii-fold, and if so what it becomes: a combining
 * mark U+0300–U+036F disappears; in the fold blocks a code point becomes
 * its canonical decomposition (utf8proc) without those marks, which there
 * is always one code point (checked against Python's unicodedata over
 * every code point of the blocks when this replaced a generated table). */
static int fold_code_point(uint32_t cp, uint32_t *to)
{
    if (cp >= 0x0300 && cp <= 0x036F)
        return 0;
    *to = cp;
    if (!in_fold_blocks(cp))
        return 1;
    utf8proc_int32_t parts[4];
    int boundclass = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)cp, parts, 4, UTF8PROC_DECOMPOSE, &boundclass);
    uint32_t base = cp;
    int bases = 0;
    for (utf8proc_ssize_t i = 0; i < n && n <= 4; i++)
        if (!(parts[i] >= 0x0300 && parts[i] <= 0x036F)) {
            base = (uint32_t)parts[i];
            bases++;
        }
    if (bases == 1)
        *to = base;
    return 1;
}

/* Validating before writing means invalid input is reported as RS_EUTF8 even
 * when the buffer is also too small, and leaves out untouched.  The output
 * never gets ahead of the input, so in == out works (hence memmove). */
long rs_normalize_text(rs_normalize mode, const char *in, size_t len, char *out, size_t cap)
{
    if (mode != RS_NORMALIZE_NONE && mode != RS_NORMALIZE_ASCII_FOLD)
        return RS_EINVAL;
    if (!rs_utf8_valid(in, len))
        return RS_EUTF8;
    if (mode == RS_NORMALIZE_NONE) {
        if (len > cap)
            return RS_ETOOLONG;
        if (len > 0)
            memmove(out, in, len);
        return (long)len;
    }

    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp, to;
        int n = rs_utf8_decode(in + i, len - i, &cp); /* > 0: validated above */
        const char *src = in + i;
        i += (size_t)n;
        if (!fold_code_point(cp, &to))
            continue;
        char buf[4];
        int m = n;
        if (to != cp) {
            m = rs_utf8_encode(to, buf);
            src = buf;
        }
        if ((size_t)m > cap - o)
            return RS_ETOOLONG;
        memmove(out + o, src, (size_t)m);
        o += (size_t)m;
    }
    return (long)o;
}
