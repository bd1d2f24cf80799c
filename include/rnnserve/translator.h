/*
 * translator.h — a translator model file (DESIGN.md, translator): the
 * Translator's state_dict as safetensors, with metadata task "translator",
 * cell, num_layers, hidden_size, embedding_dim, bidirectional, src_vocab and
 * tgt_vocab (JSON arrays of tokens, index = id; each with <pad> <bos> <eos>
 * <unk>), src_normalize and tgt_normalize ("lower": the word tokenizer
 * lower-cases), src_elision and tgt_elision ("true" when that side is French
 * and its elided articles are cut off, src/train/pairs.h), tokenizer
 * "word", training.  Optionally a shortlist (shortlist.h): the I32 tensor
 * `shortlist.lexical` (src_vocab, per_word) and the metadata
 * `shortlist_common`, both or neither.
 *
 * rs_translator_open validates all of it (every tensor present with the
 * shape the configuration implies, F32, finite, nothing extra) and copies
 * the weights into memory of its own; an opened translator is immutable and
 * shared read-only between threads.  rs_translator_write writes one
 * atomically.
 */
#ifndef RNNSERVE_TRANSLATOR_H
#define RNNSERVE_TRANSLATOR_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/seq2seq.h"
#include "rnnserve/shortlist.h"

typedef struct rs_translator rs_translator;

typedef struct rs_translator_spec {
    rs_s2s_config cfg;
    const char *const *src_vocab; /* (src_vocab) */
    const char *const *tgt_vocab; /* (tgt_vocab) */
    int src_elision, tgt_elision;
    const char *training_json;     /* a JSON object, or NULL for {} */
    const rs_shortlist *shortlist; /* or NULL */
} rs_translator_spec;

int rs_translator_write(const char *path, const rs_translator_spec *spec,
                        const rs_s2s_params *params, char *err, size_t errlen);

/* Writes t again to path (atomically, as rs_translator_write), with the
 * shortlist sl instead of its own (NULL: none): its weights, vocabularies
 * and metadata unchanged. */
int rs_translator_write_as(const rs_translator *t, const char *path, const rs_shortlist *sl,
                           char *err, size_t errlen);

/* 0 and *out, or < 0 with a message naming the file and the fault. */
int rs_translator_open(const char *path, rs_translator **out, char *err, size_t errlen);
/* The same on bytes in memory (copied from; label names them in messages). */
int rs_translator_parse(const void *bytes, size_t len, const char *label, rs_translator **out,
                        char *err, size_t errlen);
void rs_translator_close(rs_translator *t);
/* 1 when the file's metadata says task "translator" (whatever else is in it). */
int rs_translator_file_is(const char *path);

const rs_s2s_config *rs_translator_config(const rs_translator *t);
const rs_s2s_params *rs_translator_params(const rs_translator *t);
/* The decoder's matrices packed at load for beam search (beam.h). */
struct rs_beam_packed;
const struct rs_beam_packed *rs_translator_packed(const rs_translator *t);
const char *rs_translator_path(const rs_translator *t);
/* The file's shortlist, or NULL when it has none. */
const rs_shortlist *rs_translator_shortlist(const rs_translator *t);
const char *rs_translator_metadata(const rs_translator *t, const char *key);

/* The model as a JSON object (a cJSON *): name, task, cell, sizes, both
 * vocabularies' sizes, parameters, and "training" parsed from the metadata.
 * What GET /v1/models lists.  NULL when out of memory. */
void *rs_translator_describe(const rs_translator *t, const char *name);

/* Side 0 = source, 1 = target. */
const char *rs_translator_token(const rs_translator *t, int side, int id);
int rs_translator_token_id(const rs_translator *t, int side, const char *s, size_t len);
/* The id a word of a text reads as: its id, or <unk> when the vocabulary
 * lacks it or it is spelt like one of the specials (a word like any other). */
int rs_translator_word_id(const rs_translator *t, int side, const char *s, size_t len);
int rs_translator_elision(const rs_translator *t, int side);

/* Special ids, the same on both sides. */
enum { RS_S2S_PAD = 0, RS_S2S_BOS = 1, RS_S2S_EOS = 2, RS_S2S_UNK = 3 };

/* The source sentence as ids, <eos> appended: at most cap ids.  Returns
 * the count, RS_ETOOLONG when over cap, RS_EUTF8 on invalid UTF-8, or 0 for
 * a sentence without a token; *n_unknown counts the words read as <unk>. */
int rs_translator_encode(const rs_translator *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_unknown);
/* Target ids (no specials) as text: words joined as the language writes
 * them ("j'" before a word without a space).  Caller frees; NULL on OOM. */
char *rs_translator_detokenize(const rs_translator *t, const int32_t *ids, int n);

#endif
