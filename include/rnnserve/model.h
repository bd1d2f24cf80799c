/*
 * model.h — a model file as DESIGN.md defines it: a safetensors file whose
 * tensors carry a PyTorch state_dict's names and whose __metadata__ gives the
 * task, cell, sizes, vocabulary, labels or categories and normalisation.
 *
 * rs_model_open maps the file read-only, checks that the metadata is
 * complete and consistent and that every tensor the configuration implies is
 * present with the right shape and dtype F32 (no extra tensors) and holds
 * no NaN or infinity, and points the parameters into the mapping.  An
 * opened model is immutable: share it as `const rs_model *` between
 * threads; scratch state lives elsewhere (infer.h).  rs_model_write writes
 * a model atomically (temporary + rename).
 */
#ifndef RNNSERVE_MODEL_H
#define RNNSERVE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/infer.h"
#include "rnnserve/nn.h"
#include "rnnserve/text.h"

#define RS_FORMAT_TAG "rnnserve/1"
#define RS_TOKEN_PAD  "<pad>"
#define RS_TOKEN_BOS  "<bos>"
#define RS_TOKEN_EOS  "<eos>"
#define RS_TOKEN_UNK  "<unk>"

typedef struct rs_model rs_model;

/* Everything a writer needs besides the weights. */
typedef struct rs_model_spec {
    rs_config cfg;
    const char *const *vocab;      /* (V) token strings, index = id */
    const char *const *labels;     /* (K) classifier labels, else NULL */
    const char *const *categories; /* (C) conditional generator categories, else NULL */
    rs_normalize normalize;
    const char *training_json; /* JSON object text for the "training" key, or NULL for "{}" */
    /* the word tokenizer: ln count of each token (V); NULL for characters */
    const double *unigram;
    /* a classifier's calibration: probabilities are softmax(logits / T);
     * 0 = none written (T = 1) */
    double temperature;
} rs_model_spec;

/* Opens and validates path.  Returns 0 and *out, or < 0 with a message
 * naming the file and the fault.  Close with rs_model_close. */
int rs_model_open(const char *path, rs_model **out, char *err, size_t errlen);
/* The same validation on a model file already in memory (for fuzzing and
 * tests).  bytes is not copied: the parameters may point into it, so the
 * caller keeps it alive and unchanged until rs_model_close.  label stands
 * for the path in messages and rs_model_path/rs_model_name ("(buffer)" when
 * NULL); it is copied.  Returns 0 and *out (close with rs_model_close, which
 * does not free bytes), or < 0 with *out = NULL and a message. */
int rs_model_parse(const void *bytes, size_t len, const char *label, rs_model **out, char *err,
                   size_t errlen);
void rs_model_close(rs_model *m);

/* Writes the model (params laid out as rs_params_bind) atomically. */
int rs_model_write(const char *path, const rs_model_spec *spec, const rs_params *params, char *err,
                   size_t errlen);

const rs_config *rs_model_config(const rs_model *m);
const rs_params *rs_model_params(const rs_model *m);
const char *rs_model_path(const rs_model *m);
/* File name without directory and extension: "names-classifier". */
const char *rs_model_name(const rs_model *m);
/* The name a model file is listed under (the daemon, rnntrain info): path
 * without its folder and without ".safetensors".  Caller frees; NULL when
 * out of memory. */
char *rs_model_name_of(const char *path);
rs_normalize rs_model_normalize(const rs_model *m);
/* A classifier's calibration temperature T (metadata "temperature", fitted
 * on validation by rnntrain): its probabilities are softmax(logits / T).
 * 1 when the file has none. */
double rs_model_temperature(const rs_model *m);
/* Raw metadata value, NULL when absent. */
const char *rs_model_metadata(const rs_model *m, const char *key);

const char *rs_model_token(const rs_model *m, int id);
/* The text of ids[0..n): their tokens' strings end to end, NUL-terminated.
 * Caller frees; NULL when out of memory. */
char *rs_model_detokenize(const rs_model *m, const int32_t *ids, int n);
/* The same, written as if token `before` (>= 0) came just before: a word
 * model then puts the space that belongs between them first (a continuation
 * of a prompt, a streamed token). */
char *rs_model_detokenize_after(const rs_model *m, const int32_t *ids, int n, int32_t before);
/* 1 for a model with the word tokenizer (metadata tokenizer "word"). */
int rs_model_is_word(const rs_model *m);
/* Id of a token string of len bytes, or -1. */
int rs_model_token_id(const rs_model *m, const char *s, size_t len);
/* rs_model_encode for a word model, counting in *n_unknown (if not NULL)
 * the words read as <unk>. */
int rs_model_encode_words(const rs_model *m, const char *text, size_t len, int32_t *ids, int cap,
                          char *unknown, size_t unknown_len, int *n_unknown);
/* Special ids, -1 when the vocabulary lacks them. */
/* The file's mapped pages may be dropped from memory (rs_st_release_pages):
 * after the daemon has packed its own copy of the weights. */
void rs_model_release_pages(const rs_model *m);
int rs_model_pad_id(const rs_model *m);
int rs_model_bos_id(const rs_model *m);
int rs_model_eos_id(const rs_model *m);
/* All four, as generation and scoring take them.  A generator's file is
 * refused at load unless it has <bos> and <eos>, so for a loaded generator
 * .bos and .eos are always valid. */
rs_special_ids rs_model_special_ids(const rs_model *m);

/*
 * The model as a JSON object (a cJSON *, declared void * so that this header
 * does not need cJSON's): name, task, cell, sizes, parameters, labels or
 * categories, normalize, and "training" parsed from its metadata ({} when
 * absent or not an object).  What GET /v1/models lists and what
 * `rnntrain info --json` prints.  NULL when out of memory; the caller frees
 * it with cJSON_Delete.
 */
void *rs_model_describe(const rs_model *m);

int rs_model_label_count(const rs_model *m);
const char *rs_model_label(const rs_model *m, int i);
int rs_model_category_count(const rs_model *m);
const char *rs_model_category(const rs_model *m, int i);
/* Index of a category name, or -1. */
int rs_model_category_id(const rs_model *m, const char *name);

/*
 * Normalises text (UTF-8, len bytes) as the model's "normalize" says and maps
 * each character to its id, without <bos>/<eos>.  Writes at most cap ids.
 * Returns the number of ids, or < 0: RS_ETOOLONG when more than cap,
 * RS_EUTF8 for invalid UTF-8, RS_EUNKNOWN when a character is outside the
 * vocabulary (and the model has no <unk>), in which case the distinct
 * unknown characters are listed in unknown (UTF-8, NUL-terminated, quoted).
 */
int rs_model_encode(const rs_model *m, const char *text, size_t len, int32_t *ids, int cap,
                    char *unknown, size_t unknown_len);

#endif
