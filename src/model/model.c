/*
 * model.c — a model file: metadata → configuration, vocabulary, labels and
 * categories; tensors → parameters bound by their PyTorch names.
 *
 * Opening validates the whole contract of DESIGN.md so that nothing
 * downstream (the math, the daemon) ever needs to check a shape again.
 */
#define _POSIX_C_SOURCE 200809L
#include "rnnserve/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/safetensors.h"
#include "rnnserve/segment.h"
#include "rnnserve/status.h"
#include "rnnserve/words.h"

/* a non-ASCII vocabulary character and its id, sorted by code point */
typedef struct char_id {
    uint32_t cp;
    int id;
} char_id;

struct rs_model {
    rs_st_file *file;
    char *name;
    rs_config cfg;
    rs_params params;
    float *owned; /* aligned copy of the weights when the file's data is not 4-aligned */
    rs_normalize normalize;
    char **vocab; /* (V) */
    char **labels;
    int n_labels;
    char **categories;
    int n_categories;
    int ascii_ids[128]; /* id of each ASCII character, -1 if none */
    char_id *others;    /* sorted, for the rest */
    int n_others;
    int pad_id, bos_id, eos_id, unk_id;
    /* the word tokenizer (words.h): tokens are words; unigram (V) holds ln
     * count of each, by_string (V) the ids in strcmp order of their tokens,
     * seg the dictionary that cuts CJK runs (segment.h) */
    int word;
    double *unigram;
    int *by_string;
    rs_segmenter *seg;
    double temperature; /* a classifier's calibration (metadata "temperature"), 1 if none */
};

static void free_strings(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void rs_model_close(rs_model *m)
{
    if (!m)
        return;
    rs_st_close(m->file);
    free(m->name);
    free(m->owned);
    free_strings(m->vocab, m->cfg.vocab_size);
    free_strings(m->labels, m->n_labels);
    free_strings(m->categories, m->n_categories);
    free(m->others);
    free(m->unigram);
    free(m->by_string);
    rs_segmenter_destroy(m->seg);
    free(m);
}

/* A metadata integer in [lo, hi]. */
static int meta_int(const rs_st_file *f, const char *key, int lo, int hi, int *out, char *err,
                    size_t errlen)
{
    const char *v = rs_st_metadata(f, key);
    if (!v) {
        snprintf(err, errlen, "%s: metadata '%s' is missing", rs_st_path(f), key);
        return RS_EFORMAT;
    }
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi) {
        snprintf(err, errlen, "%s: metadata '%s' is \"%s\", expected an integer from %d to %d",
                 rs_st_path(f), key, v, lo, hi);
        return RS_EFORMAT;
    }
    *out = (int)x;
    return RS_OK;
}

/* A metadata JSON array of unique strings; *out owned by the caller. */
static int meta_strings(const rs_st_file *f, const char *key, char ***out, int *n, char *err,
                        size_t errlen)
{
    *out = NULL;
    *n = 0;
    const char *v = rs_st_metadata(f, key);
    if (!v) {
        snprintf(err, errlen, "%s: metadata '%s' is missing", rs_st_path(f), key);
        return RS_EFORMAT;
    }
    cJSON *arr = cJSON_ParseWithOpts(v, NULL, 1);
    int status = RS_EFORMAT;
    if (!arr || !cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        snprintf(err, errlen, "%s: metadata '%s' is not a non-empty JSON array of strings",
                 rs_st_path(f), key);
        goto fail;
    }
    int count = cJSON_GetArraySize(arr);
    char **list = calloc((size_t)count, sizeof *list);
    if (!list) {
        status = RS_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", rs_st_path(f));
        goto fail;
    }
    *out = list;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        if (!cJSON_IsString(item) || item->valuestring[0] == '\0') {
            snprintf(err, errlen, "%s: metadata '%s' entry %d is not a non-empty string",
                     rs_st_path(f), key, *n);
            goto fail;
        }
        for (int i = 0; i < *n; i++)
            if (strcmp(list[i], item->valuestring) == 0) {
                snprintf(err, errlen, "%s: metadata '%s' lists \"%s\" twice", rs_st_path(f), key,
                         item->valuestring);
                goto fail;
            }
        list[*n] = strdup(item->valuestring);
        if (!list[*n]) {
            status = RS_ENOMEM;
            snprintf(err, errlen, "%s: out of memory", rs_st_path(f));
            goto fail;
        }
        (*n)++;
    }
    status = RS_OK;
fail:
    cJSON_Delete(arr);
    if (status != RS_OK) {
        free_strings(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return status;
}

static int by_cp(const void *a, const void *b)
{
    uint32_t x = ((const char_id *)a)->cp, y = ((const char_id *)b)->cp;
    return x < y ? -1 : x > y;
}

/* A token and its id, sorted by token: qsort has no context argument, so
 * the string travels with the id (no global: models load on any thread). */
typedef struct token_id {
    const char *token;
    int id;
} token_id;

static int by_token(const void *a, const void *b)
{
    return strcmp(((const token_id *)a)->token, ((const token_id *)b)->token);
}

/* A word model's lookup (ids by token string) and its CJK dictionary:
 * every word with its count, round(e^unigram). */
static int index_words(rs_model *m, char *err, size_t errlen)
{
    int V = m->cfg.vocab_size;
    m->by_string = malloc((size_t)V * sizeof *m->by_string);
    double *counts = malloc((size_t)V * sizeof *counts);
    token_id *pairs = malloc((size_t)V * sizeof *pairs);
    if (!m->by_string || !counts || !pairs) {
        free(counts);
        free(pairs);
        snprintf(err, errlen, "%s: out of memory", rs_st_path(m->file));
        return RS_ENOMEM;
    }
    for (int i = 0; i < V; i++) {
        pairs[i] = (token_id){m->vocab[i], i};
        double c = floor(exp(m->unigram[i]) + 0.5);
        counts[i] = c >= 1 ? c : 1;
    }
    qsort(pairs, (size_t)V, sizeof *pairs, by_token);
    for (int i = 0; i < V; i++)
        m->by_string[i] = pairs[i].id;
    free(pairs);
    m->seg = rs_segmenter_create((const char *const *)m->vocab, counts, V);
    free(counts);
    if (!m->seg) {
        snprintf(err, errlen, "%s: out of memory", rs_st_path(m->file));
        return RS_ENOMEM;
    }
    return RS_OK;
}

/* Special tokens, single characters, nothing else: fills the lookup tables. */
static int index_vocab(rs_model *m, char *err, size_t errlen)
{
    const char *path = rs_st_path(m->file);
    int V = m->cfg.vocab_size;
    for (int i = 0; i < 128; i++)
        m->ascii_ids[i] = -1;
    m->pad_id = m->bos_id = m->eos_id = m->unk_id = -1;
    m->others = calloc((size_t)V, sizeof *m->others);
    if (!m->others) {
        snprintf(err, errlen, "%s: out of memory", path);
        return RS_ENOMEM;
    }
    for (int id = 0; id < V; id++) {
        const char *tok = m->vocab[id];
        size_t len = strlen(tok);
        if (strcmp(tok, RS_TOKEN_PAD) == 0)
            m->pad_id = id;
        else if (strcmp(tok, RS_TOKEN_BOS) == 0)
            m->bos_id = id;
        else if (strcmp(tok, RS_TOKEN_EOS) == 0)
            m->eos_id = id;
        else if (strcmp(tok, RS_TOKEN_UNK) == 0)
            m->unk_id = id;
        else if (!m->word) {
            uint32_t cp;
            int n = rs_utf8_decode(tok, len, &cp);
            if (n < 0 || (size_t)n != len) {
                snprintf(err, errlen,
                         "%s: vocabulary entry %d is neither one character nor a special token",
                         path, id);
                return RS_EFORMAT;
            }
            if (cp < 128)
                m->ascii_ids[cp] = id;
            else
                m->others[m->n_others++] = (char_id){cp, id};
        }
    }
    qsort(m->others, (size_t)m->n_others, sizeof *m->others, by_cp);
    if (m->word && index_words(m, err, errlen) != RS_OK)
        return RS_ENOMEM;
    if (m->cfg.task != RS_TASK_CLASSIFIER && (m->bos_id < 0 || m->eos_id < 0)) {
        snprintf(err, errlen, "%s: a generator's vocabulary must contain <bos> and <eos>", path);
        return RS_EFORMAT;
    }
    return RS_OK;
}

/* A word model's "unigram": a JSON array of one finite number per
 * vocabulary entry, ln count. */
static int read_unigram(rs_model *m, char *err, size_t errlen)
{
    const char *path = rs_st_path(m->file), *text = rs_st_metadata(m->file, "unigram");
    cJSON *arr = text ? cJSON_Parse(text) : NULL;
    int V = m->cfg.vocab_size, status = RS_EFORMAT;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != V) {
        snprintf(err, errlen, "%s: a word model needs metadata 'unigram', an array of %d numbers",
                 path, V);
        goto done;
    }
    if (!(m->unigram = malloc((size_t)V * sizeof *m->unigram))) {
        snprintf(err, errlen, "%s: out of memory", path);
        status = RS_ENOMEM;
        goto done;
    }
    for (int i = 0; i < V; i++) {
        const cJSON *v = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 100)) {
            snprintf(err, errlen, "%s: 'unigram' entry %d is not a log count between 0 and 100",
                     path, i);
            goto done;
        }
        m->unigram[i] = v->valuedouble;
    }
    status = RS_OK;
done:
    cJSON_Delete(arr);
    return status;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

char *rs_model_name_of(const char *path)
{
    const char *base = base_name(path);
    size_t len = strlen(base);
    static const char ext[] = ".safetensors";
    if (len > sizeof ext - 1 && strcmp(base + len - (sizeof ext - 1), ext) == 0)
        len -= sizeof ext - 1;
    return strndup(base, len);
}

static int read_config(rs_model *m, char *err, size_t errlen)
{
    const rs_st_file *f = m->file;
    const char *path = rs_st_path(f);
    rs_config *cfg = &m->cfg;
    int status;
    const char *format = rs_st_metadata(f, "format");
    if (!format) {
        snprintf(err, errlen, "%s: metadata 'format' is missing (not an rnnserve model?)", path);
        return RS_EFORMAT;
    }
    if (strcmp(format, RS_FORMAT_TAG) != 0) {
        snprintf(err, errlen, "%s: metadata 'format' is \"%s\", expected \"%s\"", path, format,
                 RS_FORMAT_TAG);
        return RS_EFORMAT;
    }
    const char *task = rs_st_metadata(f, "task");
    if (!task || (strcmp(task, "classifier") != 0 && strcmp(task, "generator") != 0 &&
                  strcmp(task, "textlm") != 0)) {
        snprintf(err, errlen,
                 "%s: metadata 'task' is %s%s%s, expected \"classifier\", \"generator\" or "
                 "\"textlm\"",
                 path, task ? "\"" : "", task ? task : "missing", task ? "\"" : "");
        return RS_EFORMAT;
    }
    cfg->task = strcmp(task, "classifier") == 0  ? RS_TASK_CLASSIFIER
                : strcmp(task, "generator") == 0 ? RS_TASK_GENERATOR
                                                 : RS_TASK_TEXTLM;
    const char *cell = rs_st_metadata(f, "cell");
    if (!cell || rs_cell_from_name(cell, &cfg->cell) != 0) {
        snprintf(err, errlen, "%s: metadata 'cell' is %s, expected \"rnn\", \"lstm\" or \"gru\"",
                 path, cell ? cell : "missing");
        return RS_EFORMAT;
    }
    if ((status = meta_int(f, "num_layers", 1, RS_MAX_LAYERS, &cfg->num_layers, err, errlen)) ||
        (status = meta_int(f, "hidden_size", 1, RS_MAX_HIDDEN, &cfg->hidden_size, err, errlen)) ||
        (status = meta_int(f, "embedding_dim", 1, RS_MAX_HIDDEN, &cfg->embedding_dim, err, errlen)))
        return status;
    cfg->category_dim = 0;
    if (rs_st_metadata(f, "category_dim") &&
        (status = meta_int(f, "category_dim", 0, RS_MAX_HIDDEN, &cfg->category_dim, err, errlen)))
        return status;
    const char *bidi = rs_st_metadata(f, "bidirectional");
    if (!bidi || (strcmp(bidi, "true") != 0 && strcmp(bidi, "false") != 0)) {
        snprintf(err, errlen, "%s: metadata 'bidirectional' is %s, expected \"true\" or \"false\"",
                 path, bidi ? bidi : "missing");
        return RS_EFORMAT;
    }
    cfg->bidirectional = strcmp(bidi, "true") == 0;
    const char *norm = rs_st_metadata(f, "normalize");
    m->normalize = RS_NORMALIZE_NONE;
    if (norm && rs_normalize_from_name(norm, &m->normalize) != 0) {
        snprintf(err, errlen,
                 "%s: metadata 'normalize' is \"%s\", expected \"none\" or "
                 "\"ascii-fold\"",
                 path, norm);
        return RS_EFORMAT;
    }
    if ((status = meta_strings(f, "vocab", &m->vocab, &cfg->vocab_size, err, errlen)))
        return status;
    const char *tokenizer = rs_st_metadata(f, "tokenizer");
    if (tokenizer && strcmp(tokenizer, "char") != 0 && strcmp(tokenizer, "word") != 0) {
        snprintf(err, errlen, "%s: metadata 'tokenizer' is \"%s\", expected \"char\" or \"word\"",
                 path, tokenizer);
        return RS_EFORMAT;
    }
    m->word = tokenizer && strcmp(tokenizer, "word") == 0;
    if (m->word && (status = read_unigram(m, err, errlen)))
        return status;
    m->temperature = 1.0;
    const char *temp = rs_st_metadata(f, "temperature");
    if (temp) {
        char *end = NULL;
        double t = strtod(temp, &end);
        if (cfg->task != RS_TASK_CLASSIFIER || end == temp || *end || !(t >= 0.01 && t <= 100)) {
            snprintf(err, errlen,
                     "%s: metadata 'temperature' is \"%.40s\"; a classifier's calibration "
                     "temperature is a number from 0.01 to 100",
                     path, temp);
            return RS_EFORMAT;
        }
        m->temperature = t;
    }
    if (cfg->task == RS_TASK_CLASSIFIER) {
        if ((status = meta_strings(f, "labels", &m->labels, &m->n_labels, err, errlen)))
            return status;
        cfg->n_outputs = m->n_labels;
    } else {
        cfg->n_outputs = cfg->vocab_size;
    }
    if (cfg->category_dim > 0) {
        if ((status = meta_strings(f, "categories", &m->categories, &m->n_categories, err, errlen)))
            return status;
    } else if (rs_st_metadata(f, "categories")) {
        snprintf(err, errlen, "%s: metadata lists categories but category_dim is 0", path);
        return RS_EFORMAT;
    }
    cfg->n_categories = m->n_categories;
    char why[160];
    if (rs_config_check(cfg, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: inconsistent metadata: %s", path, why);
        return RS_EFORMAT;
    }
    return index_vocab(m, err, errlen);
}

/*
 * Index of the first of n little-endian F32 values at p that is NaN or
 * ±infinity, or n.  A non-finite float has every exponent bit set; the test
 * is on the bits, not a floating-point comparison, so that no compiler flag
 * can fold it away (-ffinite-math-only lets GCC assume isnan() is false).  p
 * need not be aligned.  One pass over the data: each block is OR-reduced
 * (a loop GCC vectorises), and only a block found to hold a bad value is
 * read again to find it.
 */
static size_t first_non_finite(const unsigned char *p, size_t n)
{
    enum { BLOCK = 4096 };
    for (size_t start = 0; start < n; start += BLOCK) {
        size_t end = n - start > BLOCK ? start + BLOCK : n;
        uint32_t bad = 0;
        for (size_t i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, p + 4 * i, sizeof bits);
            /* exponent all ones ⇔ the add carries into bit 31 */
            bad |= ((bits & 0x7f800000u) + 0x00800000u) & 0x80000000u;
        }
        if (!bad)
            continue;
        for (size_t i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, p + 4 * i, sizeof bits);
            if ((bits & 0x7f800000u) == 0x7f800000u)
                return i;
        }
    }
    return n;
}

/* "NaN", "+inf" or "-inf" for the bits of a non-finite float. */
static const char *non_finite_name(const unsigned char *p)
{
    uint32_t bits;
    memcpy(&bits, p, sizeof bits);
    if (bits & 0x007fffffu)
        return "NaN";
    return bits & 0x80000000u ? "-inf" : "+inf";
}

/* Every tensor the configuration implies, F32 with its shape and finite
 * values; nothing else. */
static int bind_tensors(rs_model *m, char *err, size_t errlen)
{
    const char *path = rs_st_path(m->file);
    const rs_config *cfg = &m->cfg;
    int n = rs_tensor_count(cfg);
    int misaligned = 0;
    memset(&m->params, 0, sizeof m->params);
    for (int i = 0; i < n; i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        const rs_st_tensor *t = rs_st_find(m->file, d.name);
        if (!t) {
            snprintf(err, errlen, "%s: tensor '%s' is missing", path, d.name);
            return RS_EFORMAT;
        }
        if (t->dtype != RS_DTYPE_F32) {
            snprintf(err, errlen, "%s: tensor '%s' has dtype other than F32", path, d.name);
            return RS_EFORMAT;
        }
        int shape_ok = t->ndim == d.ndim && t->shape[0] == d.shape[0] &&
                       (d.ndim == 1 || t->shape[1] == d.shape[1]);
        if (!shape_ok) {
            char got[64], want[64];
            if (t->ndim == 2)
                snprintf(got, sizeof got, "(%zu,%zu)", t->shape[0], t->shape[1]);
            else if (t->ndim == 1)
                snprintf(got, sizeof got, "(%zu)", t->shape[0]);
            else
                snprintf(got, sizeof got, "of %d dimensions", t->ndim);
            if (d.ndim == 2)
                snprintf(want, sizeof want, "(%zu,%zu)", d.shape[0], d.shape[1]);
            else
                snprintf(want, sizeof want, "(%zu)", d.shape[0]);
            snprintf(err, errlen, "%s: tensor '%s' has shape %s, expected %s", path, d.name, got,
                     want);
            return RS_EFORMAT;
        }
        /* the math assumes finite weights (gate_math_args in meson.build) */
        size_t bad = first_non_finite(t->data, t->numel);
        if (bad < t->numel) {
            snprintf(err, errlen, "%s: tensor '%s' holds %s at element %zu", path, d.name,
                     non_finite_name((const unsigned char *)t->data + 4 * bad), bad);
            return RS_EFORMAT;
        }
        if ((uintptr_t)t->data % sizeof(float) != 0)
            misaligned = 1;
        *rs_params_slot(cfg, &m->params, i) = (float *)(uintptr_t)t->data;
    }
    if (rs_st_count(m->file) != n) {
        for (int i = 0; i < rs_st_count(m->file); i++) {
            const char *name = rs_st_at(m->file, i)->name;
            int known = 0;
            for (int k = 0; k < n && !known; k++) {
                rs_tensor_desc d;
                rs_tensor_describe(cfg, k, &d);
                known = strcmp(d.name, name) == 0;
            }
            if (!known) {
                snprintf(err, errlen, "%s: unexpected tensor '%s' for this configuration", path,
                         name);
                return RS_EFORMAT;
            }
        }
    }
    if (misaligned) {
        /* the format does not promise alignment: copy rather than read unaligned floats */
        m->owned = malloc(rs_param_count(cfg) * sizeof(float));
        if (!m->owned) {
            snprintf(err, errlen, "%s: out of memory", path);
            return RS_ENOMEM;
        }
        rs_params_bind(cfg, m->owned, &m->params);
        for (int i = 0; i < n; i++) {
            rs_tensor_desc d;
            rs_tensor_describe(cfg, i, &d);
            rs_st_copy(rs_st_find(m->file, d.name), m->owned + d.offset);
        }
    }
    return RS_OK;
}

/* The one validation path of rs_model_open and rs_model_parse: takes
 * ownership of an already-parsed container (closed on failure too). */
static int model_from_file(rs_st_file *file, rs_model **out, char *err, size_t errlen)
{
    const char *path = rs_st_path(file);
    rs_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "%s: out of memory", path);
        rs_st_close(file);
        return RS_ENOMEM;
    }
    m->file = file;
    int status;
    if ((status = read_config(m, err, errlen)) != RS_OK ||
        (status = bind_tensors(m, err, errlen)) != RS_OK)
        goto fail;
    m->name = rs_model_name_of(path);
    if (!m->name) {
        status = RS_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    *out = m;
    return RS_OK;
fail:
    rs_model_close(m);
    return status;
}

int rs_model_open(const char *path, rs_model **out, char *err, size_t errlen)
{
    *out = NULL;
    rs_st_file *file;
    int status = rs_st_open(path, &file, err, errlen);
    if (status != RS_OK)
        return status;
    return model_from_file(file, out, err, errlen);
}

int rs_model_parse(const void *bytes, size_t len, const char *label, rs_model **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    rs_st_file *file;
    int status = rs_st_parse(bytes, len, label, &file, err, errlen);
    if (status != RS_OK)
        return status;
    return model_from_file(file, out, err, errlen);
}

const rs_config *rs_model_config(const rs_model *m) { return &m->cfg; }
const rs_params *rs_model_params(const rs_model *m) { return &m->params; }
const char *rs_model_path(const rs_model *m) { return rs_st_path(m->file); }
const char *rs_model_name(const rs_model *m) { return m->name; }
double rs_model_temperature(const rs_model *m) { return m->temperature; }

rs_normalize rs_model_normalize(const rs_model *m) { return m->normalize; }
const char *rs_model_metadata(const rs_model *m, const char *key)
{
    return rs_st_metadata(m->file, key);
}
const char *rs_model_token(const rs_model *m, int id)
{
    return id >= 0 && id < m->cfg.vocab_size ? m->vocab[id] : NULL;
}
char *rs_model_detokenize(const rs_model *m, const int32_t *ids, int n)
{
    return rs_model_detokenize_after(m, ids, n, -1);
}

char *rs_model_detokenize_after(const rs_model *m, const int32_t *ids, int n, int32_t before)
{
    size_t len = 0;
    for (int t = 0; t < n; t++)
        len += strlen(rs_model_token(m, ids[t])) + 1; /* a space before each, at most */
    char *text = malloc(len + 1), *at = text;
    if (!text)
        return NULL;
    const char *prev = before >= 0 ? rs_model_token(m, before) : NULL;
    for (int t = 0; t < n; t++) {
        const char *tok = rs_model_token(m, ids[t]);
        size_t tl = strlen(tok);
        /* words are written with spaces between them where the language
         * has them (words.h); characters are written as they are */
        if (m->word && prev && *prev && tl && rs_words_space_between(prev, strlen(prev), tok, tl))
            *at++ = ' ';
        memcpy(at, tok, tl);
        at += tl;
        prev = tok;
    }
    *at = '\0';
    return text;
}

int rs_model_is_word(const rs_model *m) { return m->word; }

void rs_model_release_pages(const rs_model *m) { rs_st_release_pages(m->file); }

int rs_model_pad_id(const rs_model *m) { return m->pad_id; }
int rs_model_bos_id(const rs_model *m) { return m->bos_id; }
int rs_model_eos_id(const rs_model *m) { return m->eos_id; }
static cJSON *string_array(const rs_model *m, int n, const char *(*get)(const rs_model *, int))
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(get(m, i)));
    return arr;
}

void *rs_model_describe(const rs_model *m)
{
    const rs_config *cfg = rs_model_config(m);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", rs_model_name(m));
    cJSON_AddStringToObject(o, "task", rs_task_name(cfg->task));
    cJSON_AddStringToObject(o, "cell", rs_cell_name(cfg->cell));
    cJSON_AddNumberToObject(o, "num_layers", cfg->num_layers);
    cJSON_AddNumberToObject(o, "hidden_size", cfg->hidden_size);
    cJSON_AddNumberToObject(o, "embedding_dim", cfg->embedding_dim);
    if (cfg->n_categories > 0)
        cJSON_AddNumberToObject(o, "category_dim", cfg->category_dim);
    cJSON_AddBoolToObject(o, "bidirectional", cfg->bidirectional);
    cJSON_AddNumberToObject(o, "vocab_size", cfg->vocab_size);
    cJSON_AddStringToObject(o, "tokenizer", m->word ? "word" : "char");
    cJSON_AddNumberToObject(o, "parameters", (double)rs_param_count(cfg));
    if (cfg->task == RS_TASK_CLASSIFIER)
        cJSON_AddItemToObject(o, "labels", string_array(m, cfg->n_outputs, rs_model_label));
    else if (cfg->n_categories > 0)
        cJSON_AddItemToObject(o, "categories",
                              string_array(m, cfg->n_categories, rs_model_category));
    cJSON_AddStringToObject(o, "normalize", rs_normalize_name(rs_model_normalize(m)));
    if (cfg->task == RS_TASK_CLASSIFIER)
        cJSON_AddNumberToObject(o, "temperature", m->temperature);
    /* "training" is a JSON object stored as a string (safetensors metadata
     * values are strings); clients get it parsed, or {} if it is not one. */
    const char *training = rs_model_metadata(m, "training");
    cJSON *t = training ? cJSON_Parse(training) : NULL;
    if (!cJSON_IsObject(t)) {
        cJSON_Delete(t);
        t = cJSON_CreateObject();
    }
    cJSON_AddItemToObject(o, "training", t);
    return o;
}

rs_special_ids rs_model_special_ids(const rs_model *m)
{
    return (rs_special_ids){m->pad_id, m->bos_id, m->eos_id, m->unk_id};
}
int rs_model_label_count(const rs_model *m) { return m->n_labels; }
const char *rs_model_label(const rs_model *m, int i)
{
    return i >= 0 && i < m->n_labels ? m->labels[i] : NULL;
}
int rs_model_category_count(const rs_model *m) { return m->n_categories; }
const char *rs_model_category(const rs_model *m, int i)
{
    return i >= 0 && i < m->n_categories ? m->categories[i] : NULL;
}

int rs_model_category_id(const rs_model *m, const char *name)
{
    for (int i = 0; i < m->n_categories; i++)
        if (strcmp(m->categories[i], name) == 0)
            return i;
    return -1;
}

static int char_lookup(const rs_model *m, uint32_t cp)
{
    if (cp < 128)
        return m->ascii_ids[cp];
    size_t lo = 0, hi = (size_t)m->n_others;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->others[mid].cp < cp)
            lo = mid + 1;
        else if (m->others[mid].cp > cp)
            hi = mid;
        else
            return m->others[mid].id;
    }
    return -1;
}

/* A word model's id of the token s[0..len), or -1 (binary search). */
static int word_lookup(const rs_model *m, const char *s, size_t len)
{
    int lo = 0, hi = m->cfg.vocab_size;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const char *t = m->vocab[m->by_string[mid]];
        int c = strncmp(t, s, len);
        if (c == 0)
            c = t[len] != '\0'; /* t is longer: after s */
        if (c == 0)
            return m->by_string[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int rs_model_token_id(const rs_model *m, const char *s, size_t len)
{
    if (m->word)
        return word_lookup(m, s, len);
    uint32_t cp;
    int n = rs_utf8_decode(s, len, &cp);
    if (n > 0 && (size_t)n == len)
        return char_lookup(m, cp);
    for (int id = 0; id < m->cfg.vocab_size; id++)
        if (strlen(m->vocab[id]) == len && memcmp(m->vocab[id], s, len) == 0)
            return id;
    return -1;
}

/* Appends "c" (quoted) to the list of unknown characters unless already there. */
static void note_unknown(char *list, size_t cap, const char *ch, int n)
{
    if (!list || cap == 0)
        return;
    char quoted[8];
    snprintf(quoted, sizeof quoted, "\"%.*s\"", n, ch);
    if (strstr(list, quoted))
        return;
    size_t used = strlen(list);
    size_t need = strlen(quoted) + (used ? 2 : 0);
    if (used + need + 1 > cap)
        return;
    snprintf(list + used, cap - used, "%s%s", used ? ", " : "", quoted);
}

/* Encoding by words: the pieces of rs_words_split, CJK runs cut by the
 * model's dictionary (jieba's way, segment.h), each looked up; a word the
 * vocabulary lacks is <unk> when the model has it. */
typedef struct word_encoding {
    const rs_model *m;
    int32_t *ids;
    int cap, count, unknown, too_long;
    char *unknown_list;
    size_t unknown_cap;
} word_encoding;

static void add_word(const char *tok, size_t len, void *ctx)
{
    word_encoding *w = ctx;
    int id = word_lookup(w->m, tok, len);
    if (id < 0) {
        w->unknown++;
        id = w->m->unk_id;
        if (id < 0 && w->unknown_list && w->unknown_cap) { /* no <unk>: name the word */
            size_t used = strlen(w->unknown_list);
            if (used + len + 5 < w->unknown_cap)
                snprintf(w->unknown_list + used, w->unknown_cap - used, "%s\"%.*s\"",
                         used ? ", " : "", (int)len, tok);
        }
    }
    if (w->count >= w->cap)
        w->too_long = 1;
    else
        w->ids[w->count] = id;
    w->count++;
}

static void add_piece(const char *tok, size_t len, int cjk, void *ctx)
{
    word_encoding *w = ctx;
    if (cjk && word_lookup(w->m, tok, len) < 0)
        rs_segment(w->m->seg, tok, len, add_word, ctx);
    else
        add_word(tok, len, ctx);
}

int rs_model_encode_words(const rs_model *m, const char *text, size_t len, int32_t *ids, int cap,
                          char *unknown, size_t unknown_len, int *n_unknown)
{
    if (unknown && unknown_len)
        unknown[0] = '\0';
    word_encoding w = {m, ids, cap, 0, 0, 0, unknown, unknown_len};
    if (rs_words_split(text, len, add_piece, &w) != 0)
        return RS_EUTF8;
    if (n_unknown)
        *n_unknown = w.unknown;
    if (w.unknown && m->unk_id < 0)
        return RS_EUNKNOWN;
    if (w.too_long)
        return RS_ETOOLONG;
    return w.count;
}

int rs_model_encode(const rs_model *m, const char *text, size_t len, int32_t *ids, int cap,
                    char *unknown, size_t unknown_len)
{
    if (m->word)
        return rs_model_encode_words(m, text, len, ids, cap, unknown, unknown_len, NULL);
    if (unknown && unknown_len)
        unknown[0] = '\0';
    int count = 0, missing = 0;
    size_t pos = 0;
    while (pos < len) {
        uint32_t cp;
        int n = rs_utf8_decode(text + pos, len - pos, &cp);
        if (n < 0)
            return RS_EUTF8;
        /* fold one character at a time: its folded form is never longer */
        char folded[4];
        long flen = rs_normalize_text(m->normalize, text + pos, (size_t)n, folded, sizeof folded);
        if (flen < 0)
            return RS_EUTF8;
        size_t fpos = 0;
        while (fpos < (size_t)flen) {
            uint32_t fcp;
            int fn = rs_utf8_decode(folded + fpos, (size_t)flen - fpos, &fcp);
            if (fn < 0)
                return RS_EUTF8;
            int id = char_lookup(m, fcp);
            if (id < 0)
                id = m->unk_id;
            if (id < 0) {
                note_unknown(unknown, unknown_len, text + pos, n);
                missing = 1;
            } else if (!missing) {
                if (count >= cap)
                    return RS_ETOOLONG;
                ids[count] = id;
            }
            count++;
            fpos += (size_t)fn;
        }
        pos += (size_t)n;
    }
    if (missing)
        return RS_EUNKNOWN;
    return count;
}

/* ---- writer ---- */

static char *json_strings(const char *const *items, int n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(items[i]));
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
}

int rs_model_write(const char *path, const rs_model_spec *spec, const rs_params *params, char *err,
                   size_t errlen)
{
    char *unigram = NULL; /* a word model's "unigram" metadata */
    const rs_config *cfg = &spec->cfg;
    char why[160];
    if (rs_config_check(cfg, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return RS_EINVAL;
    }
    int n = rs_tensor_count(cfg);
    rs_st_out *outs = calloc((size_t)n, sizeof *outs);
    rs_tensor_desc *descs = calloc((size_t)n, sizeof *descs);
    char *vocab = json_strings(spec->vocab, cfg->vocab_size);
    char *labels = spec->labels ? json_strings(spec->labels, cfg->n_outputs) : NULL;
    char *cats = spec->categories ? json_strings(spec->categories, cfg->n_categories) : NULL;
    int status = RS_ENOMEM;
    if (!outs || !descs || !vocab || (spec->labels && !labels) || (spec->categories && !cats)) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    rs_params p = *params;
    for (int i = 0; i < n; i++) {
        rs_tensor_describe(cfg, i, &descs[i]);
        outs[i] = (rs_st_out){.name = descs[i].name,
                              .dtype = RS_DTYPE_F32,
                              .ndim = descs[i].ndim,
                              .data = *rs_params_slot(cfg, &p, i)};
        outs[i].shape[0] = descs[i].shape[0];
        outs[i].shape[1] = descs[i].shape[1];
    }
    char layers[16], hidden[16], emb[16], catdim[16];
    snprintf(layers, sizeof layers, "%d", cfg->num_layers);
    snprintf(hidden, sizeof hidden, "%d", cfg->hidden_size);
    snprintf(emb, sizeof emb, "%d", cfg->embedding_dim);
    snprintf(catdim, sizeof catdim, "%d", cfg->category_dim);
    const char *keys[16], *values[16];
    int k = 0;
    keys[k] = "format", values[k++] = RS_FORMAT_TAG;
    keys[k] = "task", values[k++] = rs_task_name(cfg->task);
    keys[k] = "cell", values[k++] = rs_cell_name(cfg->cell);
    keys[k] = "num_layers", values[k++] = layers;
    keys[k] = "hidden_size", values[k++] = hidden;
    keys[k] = "embedding_dim", values[k++] = emb;
    keys[k] = "category_dim", values[k++] = catdim;
    keys[k] = "bidirectional", values[k++] = cfg->bidirectional ? "true" : "false";
    keys[k] = "vocab", values[k++] = vocab;
    if (labels)
        keys[k] = "labels", values[k++] = labels;
    if (cats)
        keys[k] = "categories", values[k++] = cats;
    keys[k] = "normalize", values[k++] = rs_normalize_name(spec->normalize);
    keys[k] = "training", values[k++] = spec->training_json ? spec->training_json : "{}";
    char temp[32];
    if (spec->temperature > 0 && cfg->task == RS_TASK_CLASSIFIER) {
        snprintf(temp, sizeof temp, "%.9g", spec->temperature);
        keys[k] = "temperature", values[k++] = temp;
    }
    if (spec->unigram) { /* the word tokenizer: "word" and each token's ln count */
        cJSON *arr = cJSON_CreateDoubleArray(spec->unigram, cfg->vocab_size);
        unigram = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        if (!unigram) {
            snprintf(err, errlen, "%s: out of memory", path);
            status = RS_ENOMEM;
            goto done;
        }
        keys[k] = "tokenizer", values[k++] = "word";
        keys[k] = "unigram", values[k++] = unigram;
    }
    status = rs_st_write(path, outs, n, keys, values, k, err, errlen);
done:
    free(outs);
    free(descs);
    free(vocab);
    free(labels);
    free(cats);
    free(unigram);
    return status;
}
