/*
 * text.h — UTF-8 decoding, validation and trimming, and the text
 * normalisation a model declares in its metadata ("normalize"): "none" or "ascii-fold"
 * (Unicode NFD, then drop combining marks, so "Ślusàrski" → "Slusarski").
 *
 * Pure functions on caller buffers; no allocation, no global state.
 */
#ifndef RNNSERVE_TEXT_H
#define RNNSERVE_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { RS_NORMALIZE_NONE = 0, RS_NORMALIZE_ASCII_FOLD = 1 } rs_normalize;

/* "none" / "ascii-fold". */
const char *rs_normalize_name(rs_normalize mode);
/* 0 and *out for a known name, -1 otherwise. */
int rs_normalize_from_name(const char *name, rs_normalize *out);

/*
 * Decodes the code point at s (len bytes available).  Returns the number of
 * bytes it takes (1..4), or -1 when the bytes are not valid UTF-8: truncated
 * sequence, bad continuation byte, overlong form, surrogate (U+D800–DFFF)
 * or a value above U+10FFFF.
 */
int rs_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Encodes cp (valid scalar value) into out; returns the number of bytes, 1..4. */
int rs_utf8_encode(uint32_t cp, char out[4]);
/* 1 if all len bytes are valid UTF-8, else 0. */
int rs_utf8_valid(const char *s, size_t len);
/* Number of code points of valid UTF-8 text, or -1 if invalid. */
long rs_utf8_length(const char *s, size_t len);

/* 1 when cp has Unicode's White_Space property: TAB to CR, space, U+0085,
 * no-break space U+00A0, U+1680, the spaces U+2000–200A, the line and
 * paragraph separators U+2028/2029, U+202F, U+205F and the ideographic
 * space U+3000.  (Zero-width characters such as U+200B and U+FEFF are not
 * White_Space.) */
int rs_unicode_is_space(uint32_t cp);
/* The part of valid UTF-8 text s (len bytes) without leading and trailing
 * White_Space: its length in bytes, starting at s + *start. */
size_t rs_utf8_trim(const char *s, size_t len, size_t *start);

/*
 * Writes the normalised form of in (len bytes) to out (cap bytes) and
 * returns its length in bytes (not NUL-terminated), or RS_EUTF8 if in is
 * not valid UTF-8, or RS_ETOOLONG if out is too small.  The output of
 * either mode is never longer than the input, so cap = len always suffices.
 * ascii-fold replaces each code point by its canonical decomposition (NFD)
 * with combining marks (U+0300–U+036F) removed; code points without a
 * decomposition (ß, Ł, Ø, CJK …) are kept unchanged.
 */
long rs_normalize_text(rs_normalize mode, const char *in, size_t len, char *out, size_t cap);

#endif
