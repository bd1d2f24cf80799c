/*
 * sentence.h — a translator's sentence as word tokens, the same when
 * training (src/train/pairs.c) and serving (src/model/translator.c).
 *
 * The text is lower-cased (utf8proc), the typographic apostrophe ’ read as
 * ', and cut by the word tokenizer (words.h): words, and punctuation
 * alone.  With french_elision a word that starts with an elided article or
 * pronoun is cut after its apostrophe as French writes it: "j'ai" → "j'"
 * "ai", "qu'il" → "qu'" "il", "jusqu'à" → "jusqu'" "à"; "aujourd'hui"
 * stays whole.
 */
#ifndef RNNSERVE_SENTENCE_H
#define RNNSERVE_SENTENCE_H

#include <stddef.h>

typedef void (*rs_sentence_emit)(const char *token, size_t len, void *ctx);

/* Each token of text[0..len) in order.  0, or -1 on invalid UTF-8 (or when
 * memory runs out). */
int rs_sentence_tokens(const char *text, size_t len, int french_elision, rs_sentence_emit emit,
                       void *ctx);

#endif
