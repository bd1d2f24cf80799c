/*
 * translator.c — translator model files: write, open and validate, and the
 * tokens of both sides (translator.h).
 */
#include "rnnserve/translator.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/beam.h"
#include "rnnserve/safetensors.h"
#include "rnnserve/sentence.h"
#include "rnnserve/status.h"
#include "rnnserve/strtab.h"
#include "rnnserve/words.h"

static const char *const specials[4] = {"<pad>", "<bos>", "<eos>", "<unk>"};

struct rs_translator {
    char *path;
    rs_s2s_config cfg;
    float *theta;
    rs_s2s_params params;
    rs_strtab vocab[2]; /* source, target: ids in file order */
    int elision[2];
    char **meta_keys, **meta_values;
    int n_meta;
    rs_beam_packed *packed; /* the decoder's matrices for the inference kernel */
    int32_t *lexical;       /* the shortlist's table, or NULL */
    rs_shortlist shortlist;
};

/* ---- writing ------------------------------------------------------------ */

static char *vocab_json(const char *const *tokens, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(tokens[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

int rs_translator_write(const char *path, const rs_translator_spec *spec,
                        const rs_s2s_params *params, char *err, size_t errlen)
{
    const rs_s2s_config *cfg = &spec->cfg;
    if (rs_s2s_config_check(cfg, err, errlen) != 0)
        return RS_EINVAL;
    int n = rs_s2s_tensor_count(cfg);
    const rs_shortlist *sl = spec->shortlist;
    rs_st_out *out = calloc((size_t)n + 1, sizeof *out);
    char *src = vocab_json(spec->src_vocab, cfg->src_vocab);
    char *tgt = vocab_json(spec->tgt_vocab, cfg->tgt_vocab);
    int status = RS_ENOMEM;
    if (!out || !src || !tgt) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    rs_s2s_params p = *params;
    rs_tensor_desc d[1];
    char names[256][48];
    for (int i = 0; i < n && i < 256; i++) {
        rs_s2s_tensor_describe(cfg, i, d);
        memcpy(names[i], d->name, sizeof names[i]);
        out[i] = (rs_st_out){.name = names[i],
                             .dtype = RS_DTYPE_F32,
                             .ndim = d->ndim,
                             .shape = {d->shape[0], d->shape[1]},
                             .data = *rs_s2s_params_slot(cfg, &p, i)};
    }
    if (sl)
        out[n] = (rs_st_out){.name = "shortlist.lexical",
                             .dtype = RS_DTYPE_I32,
                             .ndim = 2,
                             .shape = {(size_t)sl->src_vocab, (size_t)sl->per_word},
                             .data = sl->lexical};
    char layers[16], hidden[16], embed[16], common[16];
    snprintf(common, sizeof common, "%d", sl ? sl->common : 0);
    snprintf(layers, sizeof layers, "%d", cfg->num_layers);
    snprintf(hidden, sizeof hidden, "%d", cfg->hidden_size);
    snprintf(embed, sizeof embed, "%d", cfg->embedding_dim);
    const char *keys[] = {"format",      "task",          "cell",          "num_layers",
                          "hidden_size", "embedding_dim", "bidirectional", "src_vocab",
                          "tgt_vocab",   "src_normalize", "tgt_normalize", "src_elision",
                          "tgt_elision", "tokenizer",     "training",      "shortlist_common"};
    const char *values[] = {"rnnserve/1",
                            "translator",
                            rs_cell_name(cfg->cell),
                            layers,
                            hidden,
                            embed,
                            cfg->bidirectional ? "true" : "false",
                            src,
                            tgt,
                            "lower",
                            "lower",
                            spec->src_elision ? "true" : "false",
                            spec->tgt_elision ? "true" : "false",
                            "word",
                            spec->training_json ? spec->training_json : "{}",
                            common};
    int n_keys = (int)(sizeof keys / sizeof keys[0]) - (sl ? 0 : 1);
    status = rs_st_write(path, out, n + (sl ? 1 : 0), keys, values, n_keys, err, errlen);
done:
    free(out);
    free(src);
    free(tgt);
    return status;
}

int rs_translator_write_as(const rs_translator *t, const char *path, const rs_shortlist *sl,
                           char *err, size_t errlen)
{
    const char **vocab[2] = {malloc((size_t)t->cfg.src_vocab * sizeof(char *)),
                             malloc((size_t)t->cfg.tgt_vocab * sizeof(char *))};
    int status = RS_ENOMEM;
    if (!vocab[0] || !vocab[1]) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < t->vocab[side].n; i++)
            vocab[side][i] = t->vocab[side].str[i];
    rs_translator_spec spec = {.cfg = t->cfg,
                               .src_vocab = vocab[0],
                               .tgt_vocab = vocab[1],
                               .src_elision = t->elision[0],
                               .tgt_elision = t->elision[1],
                               .training_json = rs_translator_metadata(t, "training"),
                               .shortlist = sl};
    status = rs_translator_write(path, &spec, &t->params, err, errlen);
done:
    free(vocab[0]);
    free(vocab[1]);
    return status;
}

/* ---- reading ------------------------------------------------------------ */

static int fail(char *err, size_t errlen, int status, const char *label, const char *what)
{
    snprintf(err, errlen, "%s: %s", label, what);
    return status;
}

/* A JSON array of distinct strings whose first four are the specials. */
static int read_vocab(const rs_st_file *f, const char *key, rs_strtab *out, int *count,
                      const char *label, char *err, size_t errlen)
{
    const char *text = rs_st_metadata(f, key);
    cJSON *a = text ? cJSON_Parse(text) : NULL;
    int status = RS_EFORMAT;
    char msg[160];
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 5) {
        snprintf(msg, sizeof msg, "metadata '%s' is not a JSON array of at least 5 tokens", key);
        status = fail(err, errlen, RS_EFORMAT, label, msg);
        goto done;
    }
    int i = 0;
    for (cJSON *s = a->child; s; s = s->next, i++) {
        if (!cJSON_IsString(s) || !*s->valuestring) {
            snprintf(msg, sizeof msg, "metadata '%s' entry %d is not a non-empty string", key, i);
            status = fail(err, errlen, RS_EFORMAT, label, msg);
            goto done;
        }
        if (i < 4 && strcmp(s->valuestring, specials[i]) != 0) {
            snprintf(msg, sizeof msg, "metadata '%s' must start with <pad> <bos> <eos> <unk>", key);
            status = fail(err, errlen, RS_EFORMAT, label, msg);
            goto done;
        }
        size_t len = strlen(s->valuestring);
        if (rs_strtab_find(out, s->valuestring, len) >= 0) {
            snprintf(msg, sizeof msg, "metadata '%s' has the token %.40s twice", key,
                     s->valuestring);
            status = fail(err, errlen, RS_EFORMAT, label, msg);
            goto done;
        }
        if (rs_strtab_intern(out, s->valuestring, len) != i) {
            status = fail(err, errlen, RS_ENOMEM, label, "out of memory");
            goto done;
        }
    }
    *count = i;
    status = RS_OK;
done:
    cJSON_Delete(a);
    return status;
}

static int positive(const rs_st_file *f, const char *key, int max, int *out, const char *label,
                    char *err, size_t errlen)
{
    const char *v = rs_st_metadata(f, key);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || x < 1 || x > max) {
        char msg[96];
        snprintf(msg, sizeof msg, "metadata '%s' must be an integer from 1 to %d", key, max);
        return fail(err, errlen, RS_EFORMAT, label, msg);
    }
    *out = (int)x;
    return RS_OK;
}

static int boolean(const rs_st_file *f, const char *key, int *out, const char *label, char *err,
                   size_t errlen)
{
    const char *v = rs_st_metadata(f, key);
    if (!v || strcmp(v, "false") == 0) {
        *out = 0;
        return RS_OK;
    }
    if (strcmp(v, "true") == 0) {
        *out = 1;
        return RS_OK;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "metadata '%s' must be true or false", key);
    return fail(err, errlen, RS_EFORMAT, label, msg);
}

/* The optional shortlist: metadata shortlist_common (1..tgt_vocab) and the
 * I32 tensor shortlist.lexical (src_vocab, 1..1024) of target ids or −1,
 * never <pad> or <bos>; both or neither. */
static int read_shortlist(const rs_st_file *f, rs_translator *t, const char *label, char *err,
                          size_t errlen)
{
    const rs_st_tensor *x = rs_st_find(f, "shortlist.lexical");
    const char *common = rs_st_metadata(f, "shortlist_common");
    if (!x && !common)
        return RS_OK;
    if (!x)
        return fail(err, errlen, RS_EFORMAT, label,
                    "metadata 'shortlist_common' without the tensor shortlist.lexical");
    int status =
        positive(f, "shortlist_common", t->cfg.tgt_vocab, &t->shortlist.common, label, err, errlen);
    if (status != RS_OK)
        return status;
    if (x->dtype != RS_DTYPE_I32 || x->ndim != 2 || x->shape[0] != (size_t)t->cfg.src_vocab ||
        x->shape[1] < 1 || x->shape[1] > 1024) {
        char msg[160];
        snprintf(msg, sizeof msg, "tensor shortlist.lexical is not I32 of shape [%d, 1..1024]",
                 t->cfg.src_vocab);
        return fail(err, errlen, RS_EFORMAT, label, msg);
    }
    size_t numel = x->shape[0] * x->shape[1];
    if (!(t->lexical = malloc(numel * sizeof *t->lexical)))
        return fail(err, errlen, RS_ENOMEM, label, "out of memory");
    rs_st_copy(x, t->lexical);
    for (size_t i = 0; i < numel; i++) {
        int32_t id = t->lexical[i];
        if (id < -1 || id >= t->cfg.tgt_vocab || id == RS_S2S_PAD || id == RS_S2S_BOS) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "tensor shortlist.lexical holds %ld at %zu: not a target id, <pad>, <bos> "
                     "or -1",
                     (long)id, i);
            return fail(err, errlen, RS_EFORMAT, label, msg);
        }
    }
    t->shortlist.per_word = (int)x->shape[1];
    t->shortlist.src_vocab = t->cfg.src_vocab;
    t->shortlist.lexical = t->lexical;
    return RS_OK;
}

static int load(rs_st_file *f, const char *label, rs_translator **out, char *err, size_t errlen)
{
    rs_translator *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(label))) {
        free(t);
        return fail(err, errlen, RS_ENOMEM, label, "out of memory");
    }
    int status;
    const char *task = rs_st_metadata(f, "task"), *format = rs_st_metadata(f, "format");
    const char *cell = rs_st_metadata(f, "cell");
    if (!format || strcmp(format, "rnnserve/1") != 0) {
        status = fail(err, errlen, RS_EFORMAT, label, "metadata 'format' is not rnnserve/1");
        goto bad;
    }
    if (!task || strcmp(task, "translator") != 0) {
        status = fail(err, errlen, RS_EFORMAT, label, "metadata 'task' is not translator");
        goto bad;
    }
    if (!cell || rs_cell_from_name(cell, &t->cfg.cell) != 0) {
        status = fail(err, errlen, RS_EFORMAT, label, "metadata 'cell' must be rnn, lstm or gru");
        goto bad;
    }
    const char *tok = rs_st_metadata(f, "tokenizer");
    if (tok && strcmp(tok, "word") != 0) {
        status = fail(err, errlen, RS_EFORMAT, label, "metadata 'tokenizer' must be word");
        goto bad;
    }
    if ((status =
             positive(f, "num_layers", RS_MAX_LAYERS, &t->cfg.num_layers, label, err, errlen)) ||
        (status = positive(f, "hidden_size", 4096, &t->cfg.hidden_size, label, err, errlen)) ||
        (status = positive(f, "embedding_dim", 4096, &t->cfg.embedding_dim, label, err, errlen)) ||
        (status = boolean(f, "bidirectional", &t->cfg.bidirectional, label, err, errlen)) ||
        (status = boolean(f, "src_elision", &t->elision[0], label, err, errlen)) ||
        (status = boolean(f, "tgt_elision", &t->elision[1], label, err, errlen)) ||
        (status =
             read_vocab(f, "src_vocab", &t->vocab[0], &t->cfg.src_vocab, label, err, errlen)) ||
        (status = read_vocab(f, "tgt_vocab", &t->vocab[1], &t->cfg.tgt_vocab, label, err, errlen)))
        goto bad;
    if (rs_s2s_config_check(&t->cfg, err, errlen) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", err);
        status = fail(err, errlen, RS_EFORMAT, label, msg);
        goto bad;
    }
    int n = rs_s2s_tensor_count(&t->cfg);
    if ((status = read_shortlist(f, t, label, err, errlen)) != RS_OK)
        goto bad;
    if (rs_st_count(f) != n + (t->lexical ? 1 : 0)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%d tensors where the configuration has %d", rs_st_count(f),
                 n + (t->lexical ? 1 : 0));
        status = fail(err, errlen, RS_EFORMAT, label, msg);
        goto bad;
    }
    t->theta = malloc(rs_s2s_param_count(&t->cfg) * sizeof *t->theta);
    if (!t->theta) {
        status = fail(err, errlen, RS_ENOMEM, label, "out of memory");
        goto bad;
    }
    rs_s2s_params_bind(&t->cfg, t->theta, &t->params);
    for (int i = 0; i < n; i++) {
        rs_tensor_desc d;
        rs_s2s_tensor_describe(&t->cfg, i, &d);
        const rs_st_tensor *x = rs_st_find(f, d.name);
        char msg[160];
        int shape_ok = x && x->dtype == RS_DTYPE_F32 && x->ndim == d.ndim &&
                       x->shape[0] == d.shape[0] && (d.ndim == 1 || x->shape[1] == d.shape[1]);
        if (!shape_ok) {
            if (d.ndim == 2)
                snprintf(msg, sizeof msg, "tensor %s is missing or not F32 of shape [%zu, %zu]",
                         d.name, d.shape[0], d.shape[1]);
            else
                snprintf(msg, sizeof msg, "tensor %s is missing or not F32 of shape [%zu]", d.name,
                         d.shape[0]);
            status = fail(err, errlen, RS_EFORMAT, label, msg);
            goto bad;
        }
        float *dst = t->theta + d.offset;
        rs_st_copy(x, dst);
        for (size_t k = 0; k < d.numel; k++)
            if (!isfinite(dst[k])) {
                snprintf(msg, sizeof msg, "tensor %s holds a NaN or an infinity at %zu", d.name, k);
                status = fail(err, errlen, RS_EFORMAT, label, msg);
                goto bad;
            }
    }
    /* the metadata, for rs_translator_metadata */
    static const char *const keep[] = {"training", "src_normalize", "tgt_normalize", NULL};
    t->meta_keys = calloc(3, sizeof *t->meta_keys);
    t->meta_values = calloc(3, sizeof *t->meta_values);
    if (!t->meta_keys || !t->meta_values) {
        status = fail(err, errlen, RS_ENOMEM, label, "out of memory");
        goto bad;
    }
    for (int i = 0; keep[i]; i++) {
        const char *v = rs_st_metadata(f, keep[i]);
        if (!v)
            continue;
        t->meta_keys[t->n_meta] = strdup(keep[i]);
        t->meta_values[t->n_meta] = strdup(v);
        if (!t->meta_keys[t->n_meta] || !t->meta_values[t->n_meta++]) {
            status = fail(err, errlen, RS_ENOMEM, label, "out of memory");
            goto bad;
        }
    }
    if (!(t->packed = rs_beam_pack(&t->cfg, &t->params))) {
        status = fail(err, errlen, RS_ENOMEM, label, "out of memory");
        goto bad;
    }
    *out = t;
    return RS_OK;
bad:
    rs_translator_close(t);
    *out = NULL;
    return status;
}

int rs_translator_open(const char *path, rs_translator **out, char *err, size_t errlen)
{
    rs_st_file *f = NULL;
    *out = NULL;
    int status = rs_st_open(path, &f, err, errlen);
    if (status != 0)
        return status;
    status = load(f, path, out, err, errlen);
    rs_st_close(f);
    return status;
}

int rs_translator_parse(const void *bytes, size_t len, const char *label, rs_translator **out,
                        char *err, size_t errlen)
{
    rs_st_file *f = NULL;
    *out = NULL;
    if (!label)
        label = "(buffer)";
    int status = rs_st_parse(bytes, len, label, &f, err, errlen);
    if (status != 0)
        return status;
    status = load(f, label, out, err, errlen);
    rs_st_close(f);
    return status;
}

int rs_translator_file_is(const char *path)
{
    rs_st_file *f = NULL;
    char err[256];
    if (rs_st_open(path, &f, err, sizeof err) != 0)
        return 0;
    const char *task = rs_st_metadata(f, "task");
    int is = task && strcmp(task, "translator") == 0;
    rs_st_close(f);
    return is;
}

void rs_translator_close(rs_translator *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_meta; i++) {
        free(t->meta_keys[i]);
        free(t->meta_values[i]);
    }
    free(t->meta_keys);
    free(t->meta_values);
    rs_strtab_free(&t->vocab[0]);
    rs_strtab_free(&t->vocab[1]);
    rs_beam_packed_free(t->packed);
    free(t->lexical);
    free(t->theta);
    free(t->path);
    free(t);
}

const rs_s2s_config *rs_translator_config(const rs_translator *t) { return &t->cfg; }
const rs_s2s_params *rs_translator_params(const rs_translator *t) { return &t->params; }
const rs_beam_packed *rs_translator_packed(const rs_translator *t) { return t->packed; }
const char *rs_translator_path(const rs_translator *t) { return t->path; }
const rs_shortlist *rs_translator_shortlist(const rs_translator *t)
{
    return t->lexical ? &t->shortlist : NULL;
}

const char *rs_translator_metadata(const rs_translator *t, const char *key)
{
    for (int i = 0; i < t->n_meta; i++)
        if (strcmp(t->meta_keys[i], key) == 0)
            return t->meta_values[i];
    return NULL;
}

const char *rs_translator_token(const rs_translator *t, int side, int id)
{
    const rs_strtab *v = &t->vocab[side ? 1 : 0];
    return id >= 0 && id < v->n ? v->str[id] : NULL;
}

int rs_translator_token_id(const rs_translator *t, int side, const char *s, size_t len)
{
    return rs_strtab_find(&t->vocab[side ? 1 : 0], s, len);
}

int rs_translator_word_id(const rs_translator *t, int side, const char *s, size_t len)
{
    int id = rs_translator_token_id(t, side, s, len);
    return id > RS_S2S_UNK ? id : RS_S2S_UNK;
}

int rs_translator_elision(const rs_translator *t, int side) { return t->elision[side ? 1 : 0]; }

void *rs_translator_describe(const rs_translator *t, const char *name)
{
    const rs_s2s_config *c = &t->cfg;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddStringToObject(j, "task", "translator");
    cJSON_AddStringToObject(j, "cell", rs_cell_name(c->cell));
    cJSON_AddNumberToObject(j, "num_layers", c->num_layers);
    cJSON_AddNumberToObject(j, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(j, "embedding_dim", c->embedding_dim);
    cJSON_AddBoolToObject(j, "bidirectional", c->bidirectional);
    cJSON_AddStringToObject(j, "tokenizer", "word");
    cJSON_AddNumberToObject(j, "src_vocab_size", c->src_vocab);
    cJSON_AddNumberToObject(j, "tgt_vocab_size", c->tgt_vocab);
    cJSON_AddNumberToObject(j, "parameters", (double)rs_s2s_param_count(c));
    if (t->lexical) {
        cJSON *sl = cJSON_AddObjectToObject(j, "shortlist");
        if (sl) {
            cJSON_AddNumberToObject(sl, "common", t->shortlist.common);
            cJSON_AddNumberToObject(sl, "per_word", t->shortlist.per_word);
        }
    } else
        cJSON_AddNullToObject(j, "shortlist");
    const char *training = rs_translator_metadata(t, "training");
    cJSON *tj = training ? cJSON_Parse(training) : NULL;
    if (!cJSON_IsObject(tj)) {
        cJSON_Delete(tj);
        tj = cJSON_CreateObject();
    }
    cJSON_AddItemToObject(j, "training", tj);
    return j;
}

/* ---- tokens ------------------------------------------------------------- */

typedef struct encode_ctx {
    const rs_translator *t;
    int32_t *ids;
    int cap, n, unknown, over;
} encode_ctx;

static void on_source_token(const char *tok, size_t len, void *arg)
{
    encode_ctx *c = arg;
    int id = rs_translator_word_id(c->t, 0, tok, len);
    c->unknown += id == RS_S2S_UNK;
    if (c->n < c->cap)
        c->ids[c->n] = id;
    else
        c->over = 1;
    c->n++;
}

int rs_translator_encode(const rs_translator *t, const char *text, size_t len, int32_t *ids,
                         int cap, int *n_unknown)
{
    encode_ctx c = {.t = t, .ids = ids, .cap = cap - 1};
    if (rs_sentence_tokens(text, len, t->elision[0], on_source_token, &c) != 0)
        return RS_EUTF8;
    if (n_unknown)
        *n_unknown = c.unknown;
    if (c.n == 0)
        return 0;
    if (c.over || cap < 1)
        return RS_ETOOLONG;
    ids[c.n] = RS_S2S_EOS;
    return c.n + 1;
}

char *rs_translator_detokenize(const rs_translator *t, const int32_t *ids, int n)
{
    /* the words (specials and ids outside the vocabulary dropped), joined */
    const char **words = malloc(((size_t)n + 1) * sizeof *words);
    if (!words)
        return NULL;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const char *s = rs_translator_token(t, 1, ids[i]);
        if (s && ids[i] >= RS_S2S_UNK)
            words[k++] = s;
    }
    char *out = rs_words_join(words, k, t->elision[1]);
    free(words);
    return out;
}
