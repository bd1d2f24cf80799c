/*
 * words.h — the word tokenizer (DESIGN.md, tokens: `tokenizer` "word"):
 * cutting a text into words and punctuation, and putting words back
 * together as the language writes them.
 *
 * Cutting, code point by code point (Unicode categories from utf8proc):
 *   - a line break is a token of its own ("\n"), so that a text model can
 *     write lines; other white space separates tokens and is dropped;
 *   - a word is a run of letters, marks and digits; an apostrophe or a
 *     hyphen joins it when a letter or digit follows ("don't", "o'er",
 *     "'tis", "well-met"), else it is punctuation;
 *   - a run of CJK characters (Han, kana) written without spaces is handed
 *     over as one piece marked `cjk`: the caller takes it as a word (text
 *     that jieba segmented, with spaces, when training) or cuts it by its
 *     vocabulary (rs_segment, at serving time);
 *   - every other character (punctuation, symbols) is a token alone.
 *
 * Joining: tokens are separated by one space, except around a line break,
 * before closing punctuation (, . ; : ! ? ) ] } ' ” …, and CJK punctuation),
 * after opening punctuation (( [ { “ ‘ ¿ ¡), between two CJK tokens
 * (Chinese is written without spaces), and after a word that ends with an
 * apostrophe (French elision cut off by sentence.h: "j'" "ai" → "j'ai").
 */
#ifndef RNNSERVE_WORDS_H
#define RNNSERVE_WORDS_H

#include <stddef.h>

/* Called for each token in order; cjk: a run of CJK characters. */
typedef void (*rs_words_emit)(const char *token, size_t len, int cjk, void *ctx);

/* Cuts text[0..len) (valid UTF-8).  0, or -1 on invalid UTF-8. */
int rs_words_split(const char *text, size_t len, rs_words_emit emit, void *ctx);

/* 1 when a space goes between token a and token b (both non-empty). */
int rs_words_space_between(const char *a, size_t alen, const char *b, size_t blen);
/* The same in French typography: a space also before a lone ? ! : or ;
 * (unless it follows another of them: "quoi ?!"), as French writes
 * "Pigé ?" and as eng_fra.tsv's French does (25,300 of its 25,800 "?" and
 * "!" after a word have a space or a no-break space before them). */
int rs_words_space_between_french(const char *a, size_t alen, const char *b, size_t blen);

/* tokens[0..n) (non-empty, NUL-terminated) joined into one malloc'd
 * string by the rules above, French typography when `french`; NULL when
 * memory runs out. */
char *rs_words_join(const char *const *tokens, int n, int french);

#endif
