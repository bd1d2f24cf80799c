/*
 * test_safetensors.c — the safetensors container and the model file on top
 * of it: write/read round trips, the atomic writer's failure behaviour, and
 * every class of corrupt file the readers promise to refuse, each with its
 * own message.
 *
 * Everything happens in a fresh directory under $TMPDIR (or /tmp), removed
 * at the end.  The corrupt files are made from a valid model written by
 * rs_model_write: its JSON header is edited with cJSON and the 8-byte length
 * fixed, or the bytes are cut by hand for the cases JSON cannot express, or
 * one weight of its data is overwritten with a NaN or an infinity.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "rnnserve/model.h"
#include "rnnserve/nn.h"
#include "rnnserve/rng.h"
#include "rnnserve/safetensors.h"
#include "rnnserve/status.h"

static char tmp_dir[512];

/* ---- small file helpers ---- */

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmp_dir, name);
}

/* Whole file into a malloc'd buffer; NULL if unreadable. */
static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(fp);
    return buf;
}

static int write_file(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int ok = fwrite(bytes, 1, len, fp) == len;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Number of entries of dir (without . and ..); those whose name contains
 * "tmp" are counted in *n_tmp. */
static int count_entries(const char *dir, int *n_tmp)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    *n_tmp = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (strstr(e->d_name, "tmp"))
            (*n_tmp)++;
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---- a small model ---- */

static const char *const vocab_cls[] = {"<pad>", "<unk>", "a", "b", "c", "\xc3\xa9", "z"};
static const char *const labels_cls[] = {"English", "French", "Japanese"};
static const char *const vocab_gen[] = {"<pad>", "<bos>", "<eos>", "a", "b", "c", "\xc3\x9f"};
static const char *const cats_gen[] = {"Czech", "Greek"};

/* A model spec with its own parameter buffer. */
typedef struct owned_model {
    rs_model_spec spec;
    rs_real *flat;
    rs_params params;
} owned_model;

static int owned_model_make(owned_model *om, rs_task task, rs_cell cell, int layers, int bidi,
                            int hidden, uint64_t seed)
{
    memset(om, 0, sizeof *om);
    rs_config *cfg = &om->spec.cfg;
    cfg->task = task;
    cfg->cell = cell;
    cfg->num_layers = layers;
    cfg->hidden_size = hidden;
    cfg->embedding_dim = 3;
    cfg->bidirectional = bidi;
    if (task == RS_TASK_CLASSIFIER) {
        cfg->vocab_size = 7;
        cfg->n_outputs = 3;
        om->spec.vocab = vocab_cls;
        om->spec.labels = labels_cls;
        om->spec.normalize = RS_NORMALIZE_ASCII_FOLD;
        om->spec.training_json = "{\"epochs\":3,\"lr\":0.01}";
    } else {
        cfg->vocab_size = 7;
        cfg->n_outputs = 7;
        cfg->category_dim = 2;
        cfg->n_categories = 2;
        om->spec.vocab = vocab_gen;
        om->spec.categories = cats_gen;
        om->spec.normalize = RS_NORMALIZE_NONE;
    }
    om->flat = malloc(rs_param_count(cfg) * sizeof *om->flat);
    if (!om->flat)
        return -1;
    rs_params_bind(cfg, om->flat, &om->params);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    rs_params_init(cfg, &om->params, &rng);
    return 0;
}

/* ---- round trips ---- */

static void st_write_then_open_round_trips(void)
{
    float f32[6] = {1.5f, -2.25f, 0.0f, 3.0e-38f, -0.0f, 65504.0f};
    int32_t i32[4] = {-1, 0, 7, INT32_MAX};
    int64_t i64[4] = {INT64_MIN, -2, 3, INT64_MAX};
    double f64[3] = {3.141592653589793, -1e300, 5e-324};
    float scalar = 42.0f;
    rs_st_out outs[] = {
        {.name = "weights.f32", .dtype = RS_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = f32},
        {.name = "ids", .dtype = RS_DTYPE_I32, .ndim = 1, .shape = {4}, .data = i32},
        {.name = "big", .dtype = RS_DTYPE_I64, .ndim = 2, .shape = {2, 2}, .data = i64},
        {.name = "doubles", .dtype = RS_DTYPE_F64, .ndim = 1, .shape = {3}, .data = f64},
        {.name = "scalar", .dtype = RS_DTYPE_F32, .ndim = 0, .data = &scalar},
        {.name = "three.d", .dtype = RS_DTYPE_F32, .ndim = 3, .shape = {1, 2, 3}, .data = f32},
    };
    int n = (int)(sizeof outs / sizeof outs[0]);
    const char *keys[] = {"format", "quoted", "unicode", "empty"};
    const char *values[] = {"test/1", "a \"quoted\" \\ value\nwith a newline",
                            "na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac", ""};
    char path[1024], err[512] = "";
    path_in(path, sizeof path, "round.safetensors");

    ASSERT_EQ(0, rs_st_write(path, outs, n, keys, values, 4, err, sizeof err));
    int n_tmp = -1;
    ASSERT_EQ(1, count_entries(tmp_dir, &n_tmp));
    ASSERT_EQ(0, n_tmp);

    rs_st_file *f = NULL;
    int rc = rs_st_open(path, &f, err, sizeof err);
    ASSERT_EQ(0, rc);
    if (rc != 0) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    ASSERT_EQ(n, rs_st_count(f));
    ASSERT_STREQ(path, rs_st_path(f));
    size_t sizes[] = {4, 4, 8, 8};
    for (int i = 0; i < n; i++) {
        const rs_st_tensor *t = rs_st_find(f, outs[i].name);
        ASSERT_TRUE(t != NULL);
        if (!t)
            continue;
        ASSERT_STREQ(outs[i].name, t->name);
        ASSERT_EQ(outs[i].dtype, t->dtype);
        ASSERT_EQ(outs[i].ndim, t->ndim);
        size_t numel = 1;
        for (int d = 0; d < outs[i].ndim; d++) {
            ASSERT_EQ(outs[i].shape[d], t->shape[d]);
            numel *= outs[i].shape[d];
        }
        ASSERT_EQ(numel, t->numel);
        size_t nbytes = numel * sizes[outs[i].dtype];
        ASSERT_EQ(nbytes, t->nbytes);
        unsigned char copy[64];
        if (t->nbytes <= sizeof copy) {
            rs_st_copy(t, copy);
            ASSERT_TRUE(memcmp(copy, outs[i].data, nbytes) == 0);
            ASSERT_TRUE(memcmp(t->data, outs[i].data, nbytes) == 0);
        }
    }
    /* rs_st_at enumerates exactly the written names */
    for (int i = 0; i < rs_st_count(f); i++) {
        int known = 0;
        for (int k = 0; k < n; k++)
            known |= strcmp(rs_st_at(f, i)->name, outs[k].name) == 0;
        ASSERT_TRUE(known);
    }
    for (int i = 0; i < 4; i++)
        ASSERT_STREQ(values[i], rs_st_metadata(f, keys[i]));
    ASSERT_TRUE(rs_st_metadata(f, "absent") == NULL);
    ASSERT_TRUE(rs_st_find(f, "absent") == NULL);
    rs_st_close(f);

    /* the same bytes through rs_st_parse give the same view */
    size_t len = 0;
    unsigned char *bytes = read_file(path, &len);
    ASSERT_TRUE(bytes != NULL);
    if (bytes) {
        /* data starts 8-aligned, as the reference writer does */
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = hlen << 8 | bytes[i];
        ASSERT_EQ(0, hlen % 8);
        rs_st_file *g = NULL;
        ASSERT_EQ(0, rs_st_parse(bytes, len, "buffer", &g, err, sizeof err));
        if (g) {
            ASSERT_EQ(n, rs_st_count(g));
            ASSERT_STREQ(values[2], rs_st_metadata(g, "unicode"));
            rs_st_close(g);
        }
        free(bytes);
    }

    /* an overwrite replaces the file and still leaves nothing else behind */
    ASSERT_EQ(0, rs_st_write(path, outs, 1, NULL, NULL, 0, err, sizeof err));
    ASSERT_EQ(1, count_entries(tmp_dir, &n_tmp));
    ASSERT_EQ(0, n_tmp);
    ASSERT_EQ(0, rs_st_open(path, &f, err, sizeof err));
    if (f) {
        ASSERT_EQ(1, rs_st_count(f));
        ASSERT_TRUE(rs_st_metadata(f, "format") == NULL);
        rs_st_close(f);
    }
    unlink(path);
}

/* An empty tensor (a zero dimension) next to others: legal safetensors. */
static void st_zero_size_tensor_round_trips(void)
{
    float a[2] = {1, 2}, b[2] = {3, 4};
    rs_st_out outs[] = {
        {.name = "a", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {2}, .data = a},
        {.name = "empty", .dtype = RS_DTYPE_F32, .ndim = 2, .shape = {0, 3}, .data = a},
        {.name = "b", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {2}, .data = b},
    };
    char path[1024], err[512] = "";
    path_in(path, sizeof path, "empty.safetensors");
    ASSERT_EQ(0, rs_st_write(path, outs, 3, NULL, NULL, 0, err, sizeof err));
    rs_st_file *f = NULL;
    int rc = rs_st_open(path, &f, err, sizeof err);
    ASSERT_EQ(0, rc);
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    if (f) {
        const rs_st_tensor *t = rs_st_find(f, "empty");
        ASSERT_TRUE(t && t->numel == 0 && t->nbytes == 0 && t->ndim == 2 && t->shape[0] == 0);
        rs_st_close(f);
    }
    unlink(path);
}

static void check_model_equal(const owned_model *om, const rs_model *m)
{
    const rs_config *a = &om->spec.cfg, *b = rs_model_config(m);
    ASSERT_EQ(a->task, b->task);
    ASSERT_EQ(a->cell, b->cell);
    ASSERT_EQ(a->num_layers, b->num_layers);
    ASSERT_EQ(a->hidden_size, b->hidden_size);
    ASSERT_EQ(a->embedding_dim, b->embedding_dim);
    ASSERT_EQ(a->category_dim, b->category_dim);
    ASSERT_EQ(a->n_categories, b->n_categories);
    ASSERT_EQ(a->bidirectional, b->bidirectional);
    ASSERT_EQ(a->vocab_size, b->vocab_size);
    ASSERT_EQ(a->n_outputs, b->n_outputs);
    ASSERT_EQ(om->spec.normalize, rs_model_normalize(m));
    for (int i = 0; i < a->vocab_size; i++) {
        ASSERT_STREQ(om->spec.vocab[i], rs_model_token(m, i));
        const char *tok = om->spec.vocab[i];
        ASSERT_EQ(i, rs_model_token_id(m, tok, strlen(tok)));
    }
    ASSERT_TRUE(rs_model_token(m, a->vocab_size) == NULL);
    if (a->task == RS_TASK_CLASSIFIER) {
        ASSERT_EQ(a->n_outputs, rs_model_label_count(m));
        for (int i = 0; i < a->n_outputs; i++)
            ASSERT_STREQ(om->spec.labels[i], rs_model_label(m, i));
        ASSERT_EQ(0, rs_model_category_count(m));
    } else {
        ASSERT_EQ(a->n_categories, rs_model_category_count(m));
        for (int i = 0; i < a->n_categories; i++) {
            ASSERT_STREQ(om->spec.categories[i], rs_model_category(m, i));
            ASSERT_EQ(i, rs_model_category_id(m, om->spec.categories[i]));
        }
        ASSERT_EQ(1, rs_model_bos_id(m));
        ASSERT_EQ(2, rs_model_eos_id(m));
    }
    ASSERT_EQ(0, rs_model_pad_id(m));
    ASSERT_STREQ(RS_FORMAT_TAG, rs_model_metadata(m, "format"));
    ASSERT_STREQ(om->spec.training_json ? om->spec.training_json : "{}",
                 rs_model_metadata(m, "training"));
    /* every weight, bit for bit */
    rs_params src = om->params, got = *rs_model_params(m);
    for (int i = 0; i < rs_tensor_count(a); i++) {
        rs_tensor_desc d;
        rs_tensor_describe(a, i, &d);
        const rs_real *x = *rs_params_slot(a, &src, i), *y = *rs_params_slot(a, &got, i);
        test_checks_++;
        if (!y || memcmp(x, y, d.numel * sizeof *x) != 0)
            TEST_FAIL_("tensor '%s' differs after the round trip", d.name);
    }
}

static void model_write_then_open_round_trips(void)
{
    struct {
        rs_task task;
        rs_cell cell;
        int layers, bidi, hidden;
    } kinds[] = {
        {RS_TASK_CLASSIFIER, RS_CELL_GRU, 2, 1, 5},
        {RS_TASK_CLASSIFIER, RS_CELL_RNN, 1, 0, 4},
        {RS_TASK_GENERATOR, RS_CELL_LSTM, 2, 0, 6},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        owned_model om;
        ASSERT_EQ(0, owned_model_make(&om, kinds[k].task, kinds[k].cell, kinds[k].layers,
                                      kinds[k].bidi, kinds[k].hidden, 7 + k));
        char path[1024], err[512] = "";
        path_in(path, sizeof path, "names-model.safetensors");
        ASSERT_EQ(0, rs_model_write(path, &om.spec, &om.params, err, sizeof err));
        int n_tmp = -1;
        ASSERT_EQ(1, count_entries(tmp_dir, &n_tmp));
        ASSERT_EQ(0, n_tmp);
        rs_model *m = NULL;
        int rc = rs_model_open(path, &m, err, sizeof err);
        ASSERT_EQ(0, rc);
        if (rc != 0) {
            fprintf(stderr, "  rs_model_open of a file rs_model_write wrote: %s\n", err);
        } else {
            check_model_equal(&om, m);
            ASSERT_STREQ("names-model", rs_model_name(m));
            ASSERT_STREQ(path, rs_model_path(m));
            rs_model_close(m);
        }
        unlink(path);
        free(om.flat);
    }
}

/* ---- the writer's failures ---- */

static void writer_failure_leaves_target_untouched(void)
{
    owned_model om;
    ASSERT_EQ(0, owned_model_make(&om, RS_TASK_CLASSIFIER, RS_CELL_LSTM, 1, 0, 4, 99));
    char dir[600], target[1024], err[512];
    snprintf(dir, sizeof dir, "%.500s/w", tmp_dir);
    ASSERT_EQ(0, mkdir(dir, 0700));
    snprintf(target, sizeof target, "%s/target.safetensors", dir);
    static const char before[] = "previous contents, not a model";
    ASSERT_EQ(0, write_file(target, before, sizeof before - 1));
    int n_tmp = -1;

    /* 1. a path in a directory that does not exist: an error, nothing created */
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", dir);
    err[0] = '\0';
    ASSERT_TRUE(rs_model_write(missing, &om.spec, &om.params, err, sizeof err) < 0);
    ASSERT_CONTAINS(err, "no/such/dir");
    ASSERT_EQ(1, count_entries(dir, &n_tmp));
    ASSERT_EQ(0, n_tmp);

    /* 2. the same through rs_st_write */
    float x = 1;
    rs_st_out one = {.name = "x", .dtype = RS_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &x};
    err[0] = '\0';
    ASSERT_TRUE(rs_st_write(missing, &one, 1, NULL, NULL, 0, err, sizeof err) < 0);
    ASSERT_TRUE(err[0] != '\0');

    /* 3. a directory that is not writable (meaningless as root: skipped then) */
    ASSERT_EQ(0, chmod(dir, 0500));
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    FILE *pf = fopen(probe, "wb");
    if (pf) {
        fclose(pf);
        unlink(probe);
        fprintf(stderr, "  (running with write access to a 0500 directory, e.g. as root: "
                        "the read-only directory case is skipped)\n");
    } else {
        err[0] = '\0';
        ASSERT_TRUE(rs_model_write(target, &om.spec, &om.params, err, sizeof err) < 0);
        ASSERT_CONTAINS(err, dir);
    }
    chmod(dir, 0700);
    size_t len = 0;
    unsigned char *now = read_file(target, &len);
    ASSERT_TRUE(now && len == sizeof before - 1 && memcmp(now, before, len) == 0);
    free(now);
    ASSERT_EQ(1, count_entries(dir, &n_tmp));
    ASSERT_EQ(0, n_tmp);

    /* 4. a write that fails half way (file size limit, works as root too):
     *    the old target stays as it was and the temporary file is removed */
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) == 0) {
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        struct rlimit small = old;
        small.rlim_cur = 64;
        if (setrlimit(RLIMIT_FSIZE, &small) == 0) {
            err[0] = '\0';
            int rc = rs_model_write(target, &om.spec, &om.params, err, sizeof err);
            setrlimit(RLIMIT_FSIZE, &old);
            ASSERT_TRUE(rc < 0);
            ASSERT_TRUE(err[0] != '\0');
            now = read_file(target, &len);
            ASSERT_TRUE(now && len == sizeof before - 1 && memcmp(now, before, len) == 0);
            free(now);
            ASSERT_EQ(1, count_entries(dir, &n_tmp));
            ASSERT_EQ(0, n_tmp);
        }
        signal(SIGXFSZ, prev);
    }

    /* 5. the final rename fails (the target is a non-empty directory): the
     *    temporary file, already complete, must still be removed */
    char as_dir[700], inside[1024];
    snprintf(as_dir, sizeof as_dir, "%s/dir.safetensors", dir);
    snprintf(inside, sizeof inside, "%s/keep", as_dir);
    ASSERT_EQ(0, mkdir(as_dir, 0700));
    ASSERT_EQ(0, write_file(inside, "k", 1));
    err[0] = '\0';
    ASSERT_TRUE(rs_model_write(as_dir, &om.spec, &om.params, err, sizeof err) < 0);
    ASSERT_TRUE(err[0] != '\0');
    ASSERT_EQ(2, count_entries(dir, &n_tmp)); /* target.safetensors, dir.safetensors */
    ASSERT_EQ(0, n_tmp);
    ASSERT_EQ(1, count_entries(as_dir, &n_tmp));

    /* 6. an invalid configuration is refused before anything is written */
    owned_model bad = om;
    bad.spec.cfg.num_layers = 0;
    err[0] = '\0';
    ASSERT_EQ(RS_EINVAL, rs_model_write(target, &bad.spec, &om.params, err, sizeof err));
    ASSERT_CONTAINS(err, "num_layers");
    now = read_file(target, &len);
    ASSERT_TRUE(now && len == sizeof before - 1 && memcmp(now, before, len) == 0);
    free(now);

    /* and a successful write replaces the target, leaving nothing else */
    ASSERT_EQ(0, rs_model_write(target, &om.spec, &om.params, err, sizeof err));
    ASSERT_EQ(2, count_entries(dir, &n_tmp));
    ASSERT_EQ(0, n_tmp);
    rs_st_file *f = NULL;
    ASSERT_EQ(0, rs_st_open(target, &f, err, sizeof err));
    rs_st_close(f);
    remove_tree(dir);
    free(om.flat);
}

/* ---- corrupt files ---- */

/*
 * The base: an LSTM classifier, 1 layer, H = 4, E = 3, V = 7, K = 3, so
 *   embedding.weight (7,3)  rnn.weight_ih_l0 (16,3)  rnn.weight_hh_l0 (16,4)
 *   rnn.bias_ih_l0 (16)  rnn.bias_hh_l0 (16)  head.weight (3,4)  head.bias (3)
 */
typedef struct base_file {
    unsigned char *bytes;
    size_t len;
    cJSON *header;     /* parsed JSON header */
    size_t data_start; /* 8 + header length */
} base_file;

/* Writes header (padded to 8) + the base's data buffer + extra zero bytes. */
static int write_with_header(const char *path, const base_file *base, const char *header,
                             size_t extra)
{
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    size_t data_len = base->len - base->data_start;
    size_t total = 8 + padded + data_len + extra;
    unsigned char *out = calloc(total, 1);
    if (!out)
        return -1;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(out + 8, header, hlen);
    memset(out + 8 + hlen, ' ', padded - hlen);
    memcpy(out + 8 + padded, base->bytes + base->data_start, data_len);
    int rc = write_file(path, out, total);
    free(out);
    return rc;
}

/* Writes the base with element `element` of tensor `name` set to bits. */
static int write_with_value(const char *path, const base_file *base, const char *name,
                            size_t element, uint32_t bits)
{
    cJSON *offs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(base->header, name), "data_offsets");
    if (!cJSON_IsArray(offs))
        return -1;
    size_t at = base->data_start + (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble + 4 * element;
    if (at + 4 > base->data_start + (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble)
        return -1;
    unsigned char *copy = malloc(base->len);
    if (!copy)
        return -1;
    memcpy(copy, base->bytes, base->len);
    for (int i = 0; i < 4; i++) /* little-endian, as the file is */
        copy[at + (size_t)i] = (unsigned char)(bits >> (8 * i));
    int rc = write_file(path, copy, base->len);
    free(copy);
    return rc;
}

static cJSON *meta_of(cJSON *root)
{
    return cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
}

static cJSON *entry_of(cJSON *root, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(root, name);
}

static void set_array2(cJSON *entry, const char *key, double a, double b)
{
    double v[2] = {a, b};
    cJSON_ReplaceItemInObjectCaseSensitive(entry, key, cJSON_CreateDoubleArray(v, 2));
}

/* Edits of the header; *extra = bytes to append to the data buffer. */
static void edit_dtype_f16(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_ReplaceItemInObjectCaseSensitive(entry_of(r, "head.weight"), "dtype",
                                           cJSON_CreateString("F16"));
}

static void edit_wrong_shape(cJSON *r, size_t *extra)
{
    (void)extra;
    /* (16,4) → (8,8): the same bytes, so only the model check can see it */
    set_array2(entry_of(r, "rnn.weight_hh_l0"), "shape", 8, 8);
}

static void edit_offsets_outside(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON *e = entry_of(r, "head.bias");
    cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    double end = cJSON_GetArrayItem(offs, 1)->valuedouble;
    set_array2(e, "data_offsets", end + 4000, end + 4012);
}

static void edit_bytes_vs_shape(cJSON *r, size_t *extra)
{
    (void)extra;
    set_array2(entry_of(r, "rnn.weight_hh_l0"), "shape", 16, 3);
}

static void edit_overlap(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON *src = cJSON_GetObjectItemCaseSensitive(entry_of(r, "rnn.bias_ih_l0"), "data_offsets");
    cJSON_ReplaceItemInObjectCaseSensitive(entry_of(r, "rnn.bias_hh_l0"), "data_offsets",
                                           cJSON_Duplicate(src, 1));
}

static void edit_missing_tensor(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_DeleteItemFromObjectCaseSensitive(r, "head.bias");
}

static size_t data_len_of_header(cJSON *r)
{
    size_t end = 0;
    cJSON *item;
    cJSON_ArrayForEach(item, r)
    {
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (offs && (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble > end)
            end = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
    }
    return end;
}

static void edit_extra_tensor(cJSON *r, size_t *extra)
{
    size_t end = data_len_of_header(r);
    cJSON *e = cJSON_AddObjectToObject(r, "extra.weight");
    cJSON_AddStringToObject(e, "dtype", "F32");
    double shape[1] = {2};
    cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, 1));
    double offs[2] = {(double)end, (double)end + 8};
    cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
    *extra = 8;
}

static void edit_no_format(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_DeleteItemFromObjectCaseSensitive(meta_of(r), "format");
}

static void edit_no_vocab(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_DeleteItemFromObjectCaseSensitive(meta_of(r), "vocab");
}

static void edit_bad_cell(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_ReplaceItemInObjectCaseSensitive(meta_of(r), "cell", cJSON_CreateString("transformer"));
}

static void edit_meta_number(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_ReplaceItemInObjectCaseSensitive(meta_of(r), "num_layers", cJSON_CreateNumber(1));
}

/* cJSON prints a non-finite number as null: these two leave a marker number
 * that the case's text substitution turns into 1e999 (which cJSON, and
 * strtod, read as infinity). */
static void edit_shape_marker(cJSON *r, size_t *extra)
{
    (void)extra;
    set_array2(entry_of(r, "rnn.weight_hh_l0"), "shape", 16, 987654321);
}

static void edit_offsets_marker(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON *e = entry_of(r, "head.bias");
    cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    set_array2(e, "data_offsets", 987654321, cJSON_GetArrayItem(offs, 1)->valuedouble);
}

static void edit_meta_int_inf(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_ReplaceItemInObjectCaseSensitive(meta_of(r), "hidden_size", cJSON_CreateString("1e999"));
}

static void edit_meta_int_nan(cJSON *r, size_t *extra)
{
    (void)extra;
    cJSON_ReplaceItemInObjectCaseSensitive(meta_of(r), "embedding_dim", cJSON_CreateString("nan"));
}

static void edit_listed_twice(cJSON *r, size_t *extra)
{
    (void)extra;
    /* cJSON keeps duplicate keys, as a hand-written file could have them */
    cJSON_AddItemToObject(r, "head.bias", cJSON_Duplicate(entry_of(r, "head.bias"), 1));
}

/* EDIT: the header edited (then, if from is set, its text substituted);
 * DATA: one F32 value of a tensor's data overwritten with other bits. */
typedef enum { RAW_SHORT, RAW_LENGTH, RAW_NOT_JSON, RAW_NOT_OBJECT, EDIT, DATA } corrupt_kind;

typedef struct corrupt_case {
    const char *name;
    corrupt_kind kind;
    void (*edit)(cJSON *root, size_t *extra);
    int container; /* 1: rs_st_open must refuse it too, with the same message */
    const char *needle;
} corrupt_case;

/* What some cases need besides an edit of the parsed header, by case name. */
typedef struct case_detail {
    const char *name;
    const char *from, *to; /* EDIT: a substitution in the printed header */
    const char *tensor;    /* DATA: the tensor, */
    size_t element;        /* the element's index in it, */
    uint32_t bits;         /* and the bits written there */
} case_detail;

#define NAN_BITS     0x7fc00000u /* the quiet NaN that 0.0f / 0.0f gives */
#define NEG_NAN_BITS 0xff800001u /* a signalling NaN with the sign bit set */
#define POS_INF_BITS 0x7f800000u
#define NEG_INF_BITS 0xff800000u

static const corrupt_case corrupt_cases[] = {
    {"short", RAW_SHORT, NULL, 1, "at least 8"},
    {"header_length", RAW_LENGTH, NULL, 1, "bad header length"},
    {"not_json", RAW_NOT_JSON, NULL, 1, "not valid JSON"},
    {"not_object", RAW_NOT_OBJECT, NULL, 1, "not a JSON object"},
    {"dtype_f16", EDIT, edit_dtype_f16, 1, "unsupported dtype F16"},
    {"wrong_shape", EDIT, edit_wrong_shape, 0,
     "tensor 'rnn.weight_hh_l0' has shape (8,8), expected (16,4)"},
    {"offsets_outside", EDIT, edit_offsets_outside, 1, "outside the data buffer"},
    {"bytes_vs_shape", EDIT, edit_bytes_vs_shape, 1, "its shape and dtype need"},
    {"overlap", EDIT, edit_overlap, 1, "overlap"},
    {"missing_tensor", EDIT, edit_missing_tensor, 0, "tensor 'head.bias' is missing"},
    {"extra_tensor", EDIT, edit_extra_tensor, 0, "unexpected tensor 'extra.weight'"},
    {"no_format", EDIT, edit_no_format, 0, "metadata 'format' is missing"},
    {"no_vocab", EDIT, edit_no_vocab, 0, "metadata 'vocab' is missing"},
    {"bad_cell", EDIT, edit_bad_cell, 0, "metadata 'cell' is transformer"},
    {"meta_not_string", EDIT, edit_meta_number, 1,
     "metadata value of 'num_layers' is not a string"},
    {"listed_twice", EDIT, edit_listed_twice, 1, "tensor 'head.bias' appears twice"},
    /* numbers of the header that must be finite: cJSON reads 1e999 as inf */
    {"shape_inf", EDIT, edit_shape_marker, 1, "tensor 'rnn.weight_hh_l0' has an invalid dimension"},
    {"offsets_neg_inf", EDIT, edit_offsets_marker, 1,
     "tensor 'head.bias' has no valid data_offsets"},
    {"meta_int_inf", EDIT, edit_meta_int_inf, 0,
     "metadata 'hidden_size' is \"1e999\", expected an integer"},
    {"meta_int_nan", EDIT, edit_meta_int_nan, 0,
     "metadata 'embedding_dim' is \"nan\", expected an integer"},
    /* weights that are not finite numbers (the container itself is fine) */
    {"nan_weight", DATA, NULL, 0, "tensor 'rnn.weight_hh_l0' holds NaN at element 37"},
    {"neg_nan_bias", DATA, NULL, 0, "tensor 'rnn.bias_ih_l0' holds NaN at element 15"},
    {"pos_inf_bias", DATA, NULL, 0, "tensor 'head.bias' holds +inf at element 2"},
    {"neg_inf_embed", DATA, NULL, 0, "tensor 'embedding.weight' holds -inf at element 0"},
};

static const case_detail case_details[] = {
    {.name = "shape_inf", .from = "987654321", .to = "1e999"},
    {.name = "offsets_neg_inf", .from = "987654321", .to = "-1e999"},
    {.name = "nan_weight", .tensor = "rnn.weight_hh_l0", .element = 37, .bits = NAN_BITS},
    {.name = "neg_nan_bias", .tensor = "rnn.bias_ih_l0", .element = 15, .bits = NEG_NAN_BITS},
    {.name = "pos_inf_bias", .tensor = "head.bias", .element = 2, .bits = POS_INF_BITS},
    {.name = "neg_inf_embed", .tensor = "embedding.weight", .element = 0, .bits = NEG_INF_BITS},
};

static const case_detail *detail_of(const corrupt_case *c)
{
    static const case_detail none = {.name = NULL};
    for (size_t i = 0; i < sizeof case_details / sizeof case_details[0]; i++)
        if (strcmp(case_details[i].name, c->name) == 0)
            return &case_details[i];
    return &none;
}
#define N_CORRUPT ((int)(sizeof corrupt_cases / sizeof corrupt_cases[0]))

static int make_corrupt(const corrupt_case *c, const base_file *base, const char *path)
{
    const case_detail *x = detail_of(c);
    switch (c->kind) {
    case RAW_SHORT:
        return write_file(path, base->bytes, 5);
    case RAW_LENGTH: {
        unsigned char *copy = malloc(base->len);
        if (!copy)
            return -1;
        memcpy(copy, base->bytes, base->len);
        for (int i = 0; i < 8; i++) /* the whole file, so 8 + N > size */
            copy[i] = (unsigned char)((uint64_t)base->len >> (8 * i));
        int rc = write_file(path, copy, base->len);
        free(copy);
        return rc;
    }
    case RAW_NOT_JSON:
        return write_with_header(path, base, "{\"head.bias\": {dtype: F32,", 0);
    case RAW_NOT_OBJECT:
        return write_with_header(path, base, "[\"head.bias\", 1, 2]", 0);
    case EDIT: {
        cJSON *root = cJSON_Duplicate(base->header, 1);
        if (!root)
            return -1;
        size_t extra = 0;
        c->edit(root, &extra);
        char *text = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (text && x->from) {
            char *at = strstr(text, x->from);
            size_t n_from = strlen(x->from), n_to = strlen(x->to);
            char *edited = at ? malloc(strlen(text) - n_from + n_to + 1) : NULL;
            if (edited)
                snprintf(edited, strlen(text) - n_from + n_to + 1, "%.*s%s%s", (int)(at - text),
                         text, x->to, at + n_from);
            free(text);
            text = edited;
        }
        int rc = text ? write_with_header(path, base, text, extra) : -1;
        free(text);
        return rc;
    }
    case DATA:
        return x->tensor ? write_with_value(path, base, x->tensor, x->element, x->bits) : -1;
    }
    return -1;
}

static int load_base(const char *path, base_file *base)
{
    memset(base, 0, sizeof *base);
    base->bytes = read_file(path, &base->len);
    if (!base->bytes || base->len < 8)
        return -1;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base->bytes[i];
    if (hlen > base->len - 8)
        return -1;
    base->data_start = 8 + (size_t)hlen;
    base->header = cJSON_ParseWithLength((const char *)base->bytes + 8, (size_t)hlen);
    return base->header && cJSON_IsObject(base->header) ? 0 : -1;
}

static void corrupt_files_are_refused_each_with_its_own_message(void)
{
    owned_model om;
    ASSERT_EQ(0, owned_model_make(&om, RS_TASK_CLASSIFIER, RS_CELL_LSTM, 1, 0, 4, 5));
    char base_path[1024], err[512] = "";
    path_in(base_path, sizeof base_path, "base.safetensors");
    ASSERT_EQ(0, rs_model_write(base_path, &om.spec, &om.params, err, sizeof err));
    free(om.flat);

    /* the unedited base is valid, and so is a re-serialised copy of its
     * header: any refusal below comes from the edit alone */
    rs_model *m = NULL;
    int rc = rs_model_open(base_path, &m, err, sizeof err);
    ASSERT_EQ(0, rc);
    if (rc)
        fprintf(stderr, "  the valid base model is refused: %s\n", err);
    rs_model_close(m);
    base_file base;
    test_checks_++;
    if (load_base(base_path, &base) != 0) {
        TEST_FAIL_("cannot read back %s", base_path);
        free(base.bytes);
        cJSON_Delete(base.header);
        return;
    }
    char copy_path[1024];
    path_in(copy_path, sizeof copy_path, "copy.safetensors");
    char *text = cJSON_PrintUnformatted(base.header);
    ASSERT_EQ(0, text ? write_with_header(copy_path, &base, text, 0) : -1);
    free(text);
    m = NULL;
    rc = rs_model_open(copy_path, &m, err, sizeof err);
    ASSERT_EQ(0, rc);
    if (rc)
        fprintf(stderr, "  the re-serialised base is refused: %s\n", err);
    rs_model_close(m);
    unlink(copy_path);

    for (int i = 0; i < N_CORRUPT; i++) {
        const corrupt_case *c = &corrupt_cases[i];
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.safetensors", tmp_dir, c->name);
        test_checks_++;
        if (make_corrupt(c, &base, path) != 0) {
            TEST_FAIL_("%s: cannot build the corrupt file", c->name);
            continue;
        }
        int before = test_failures_;
        m = (rs_model *)&base; /* must be reset to NULL on failure */
        err[0] = '\0';
        rc = rs_model_open(path, &m, err, sizeof err);
        ASSERT_TRUE(rc < 0);
        ASSERT_TRUE(m == NULL);
        if (rc == 0)
            rs_model_close(m);
        ASSERT_CONTAINS(err, path); /* the message names the file */
        ASSERT_CONTAINS(err, c->needle);
        /* its own message: no other case's fault is named */
        for (int k = 0; k < N_CORRUPT; k++)
            if (k != i) {
                test_checks_++;
                if (strstr(err, corrupt_cases[k].needle))
                    TEST_FAIL_("%s: message also matches case %s: %s", c->name,
                               corrupt_cases[k].name, err);
            }
        if (c->container) {
            rs_st_file *f = (rs_st_file *)&base;
            char err2[512] = "";
            ASSERT_TRUE(rs_st_open(path, &f, err2, sizeof err2) < 0);
            ASSERT_TRUE(f == NULL);
            ASSERT_STREQ(err, err2);
            /* and the same from memory, which the fuzzer uses */
            size_t len = 0;
            unsigned char *bytes = read_file(path, &len);
            if (bytes) {
                f = (rs_st_file *)&base;
                ASSERT_TRUE(rs_st_parse(bytes, len, "mem", &f, err2, sizeof err2) < 0);
                ASSERT_TRUE(f == NULL);
                ASSERT_CONTAINS(err2, c->needle);
                free(bytes);
            }
        } else {
            /* a model-level fault: the container itself is fine */
            rs_st_file *f = NULL;
            char err2[512] = "";
            ASSERT_EQ(0, rs_st_open(path, &f, err2, sizeof err2));
            rs_st_close(f);
        }
        fprintf(stderr, "  %-4s %-16s %s\n", test_failures_ == before ? "ok" : "FAIL", c->name,
                err);
        unlink(path);
    }
    free(base.bytes);
    cJSON_Delete(base.header);
    unlink(base_path);
}

/* ---- weights that are not finite numbers ---- */

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The bytes of the model file at path with one more byte of header padding,
 * so that its data (and every tensor) starts at an odd offset. */
static unsigned char *misaligned_copy(const char *path, size_t *len)
{
    size_t n = 0;
    unsigned char *bytes = read_file(path, &n);
    if (!bytes || n < 8)
        goto fail;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | bytes[i];
    unsigned char *out = malloc(n + 1);
    if (!out || hlen > n - 8) {
        free(out);
        goto fail;
    }
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((hlen + 1) >> (8 * i));
    memcpy(out + 8, bytes + 8, (size_t)hlen);
    out[8 + hlen] = ' ';
    memcpy(out + 9 + hlen, bytes + 8 + hlen, n - 8 - (size_t)hlen);
    free(bytes);
    *len = n + 1;
    return out;
fail:
    free(bytes);
    return NULL;
}

/* rs_model_open and rs_model_parse both refuse the file at path, with a
 * message naming it (or the parse label), holding needle. */
static void expect_refused(const char *path, const unsigned char *bytes, size_t len,
                           const char *needle)
{
    char err[512] = "";
    rs_model *m = (rs_model *)&err; /* must be reset to NULL */
    if (path) {
        ASSERT_TRUE(rs_model_open(path, &m, err, sizeof err) < 0);
        ASSERT_TRUE(m == NULL);
        ASSERT_CONTAINS(err, path);
        ASSERT_CONTAINS(err, needle);
        fprintf(stderr, "  %s\n", err);
        /* the container is fine: only the model refuses it */
        rs_st_file *f = NULL;
        ASSERT_EQ(0, rs_st_open(path, &f, err, sizeof err));
        rs_st_close(f);
    }
    if (bytes) {
        m = (rs_model *)&err;
        err[0] = '\0';
        ASSERT_TRUE(rs_model_parse(bytes, len, "mem.safetensors", &m, err, sizeof err) < 0);
        ASSERT_TRUE(m == NULL);
        ASSERT_CONTAINS(err, "mem.safetensors: ");
        ASSERT_CONTAINS(err, needle);
    }
}

/*
 * Models written by rs_model_write with a NaN or an infinity among their
 * weights (the writer does not judge the numbers): rs_model_open and
 * rs_model_parse refuse them, naming the file, the tensor, the first bad
 * element and its value, whether the data is aligned (read in place) or
 * not (copied); the extremes of the finite range load, bit for bit.  With
 * H = 40, rnn.weight_hh_l0 is (160, 40): 6400 values, more than one block
 * of the reader's scan (4096), so both blocks and their edges are tried.
 */
static void non_finite_weights_are_refused(void)
{
    owned_model om;
    ASSERT_EQ(0, owned_model_make(&om, RS_TASK_GENERATOR, RS_CELL_LSTM, 1, 0, 40, 21));
    const rs_config *cfg = &om.spec.cfg;
    static const struct {
        const char *tensor;
        size_t element;
        uint32_t bits[2]; /* bits[1]: a second bad value later, 0 if none */
        const char *says;
    } cases[] = {
        {"rnn.weight_hh_l0", 4095, {NAN_BITS, POS_INF_BITS}, "holds NaN at element 4095"},
        {"rnn.weight_hh_l0", 4096, {NEG_INF_BITS, 0}, "holds -inf at element 4096"},
        {"rnn.weight_hh_l0", 6399, {POS_INF_BITS, 0}, "holds +inf at element 6399"},
        {"embedding.weight", 0, {NEG_NAN_BITS, NAN_BITS}, "holds NaN at element 0"},
        {"category_embedding.weight", 3, {0x7f800001u, 0}, "holds NaN at element 3"},
        {"head.bias", 6, {POS_INF_BITS, 0}, "holds +inf at element 6"},
    };
    char path[1024], err[512] = "";
    path_in(path, sizeof path, "non-finite.safetensors");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        rs_tensor_desc d = {0};
        int found = 0;
        for (int i = 0; i < rs_tensor_count(cfg) && !found; i++) {
            rs_tensor_describe(cfg, i, &d);
            found = strcmp(d.name, cases[k].tensor) == 0;
        }
        ASSERT_TRUE(found && cases[k].element < d.numel);
        if (!found || cases[k].element >= d.numel)
            continue;
        rs_real *at = om.flat + d.offset + cases[k].element;
        rs_real saved[2] = {at[0], at[0]};
        at[0] = from_bits(cases[k].bits[0]);
        rs_real *later = om.flat + d.offset + d.numel - 1;
        if (cases[k].bits[1]) { /* a later bad value: the first one is named */
            saved[1] = *later;
            *later = from_bits(cases[k].bits[1]);
        }
        ASSERT_EQ(0, rs_model_write(path, &om.spec, &om.params, err, sizeof err));
        char needle[128];
        snprintf(needle, sizeof needle, "tensor '%s' %s", cases[k].tensor, cases[k].says);
        size_t len = 0;
        unsigned char *bytes = read_file(path, &len);
        ASSERT_TRUE(bytes != NULL);
        expect_refused(path, bytes, len, needle);
        free(bytes);
        /* the same with every tensor at an odd offset, in a file and in memory */
        bytes = misaligned_copy(path, &len);
        ASSERT_TRUE(bytes != NULL);
        if (bytes) {
            ASSERT_EQ(0, write_file(path, bytes, len));
            expect_refused(path, bytes, len, needle);
            free(bytes);
        }
        at[0] = saved[0];
        if (cases[k].bits[1])
            *later = saved[1];
    }

    /* the valid model loads, and so do the extremes of the finite range:
     * ±FLT_MAX (the exponent one below all ones), the smallest normal and
     * subnormal, negative zero; bit for bit, aligned or not */
    static const uint32_t extremes[] = {0x7f7fffffu, 0xff7fffffu, 0x00800000u,
                                        0x00000001u, 0x80000001u, 0x80000000u};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++)
                om.flat[rs_param_count(cfg) - 1 - i] = from_bits(extremes[i]);
        ASSERT_EQ(0, rs_model_write(path, &om.spec, &om.params, err, sizeof err));
        rs_model *m = NULL;
        int rc = rs_model_open(path, &m, err, sizeof err);
        ASSERT_EQ(0, rc);
        if (rc != 0)
            fprintf(stderr, "  a valid model is refused: %s\n", err);
        if (m)
            check_model_equal(&om, m);
        rs_model_close(m);
        size_t len = 0;
        unsigned char *bytes = misaligned_copy(path, &len);
        ASSERT_TRUE(bytes != NULL);
        m = NULL;
        rc = bytes ? rs_model_parse(bytes, len, "mem.safetensors", &m, err, sizeof err) : -1;
        ASSERT_EQ(0, rc);
        if (rc != 0)
            fprintf(stderr, "  a valid misaligned model is refused: %s\n", err);
        if (m)
            check_model_equal(&om, m);
        rs_model_close(m);
        free(bytes);
    }
    unlink(path);
    free(om.flat);
}

/* A file that is not there, and a directory, are errors with a message. */
static void unopenable_paths_are_errors(void)
{
    char path[1024], err[512] = "";
    path_in(path, sizeof path, "does-not-exist.safetensors");
    rs_model *m = (rs_model *)path;
    ASSERT_EQ(RS_EIO, rs_model_open(path, &m, err, sizeof err));
    ASSERT_TRUE(m == NULL);
    ASSERT_CONTAINS(err, path);
    rs_st_file *f = (rs_st_file *)path;
    ASSERT_TRUE(rs_st_open(tmp_dir, &f, err, sizeof err) < 0);
    ASSERT_TRUE(f == NULL);
    ASSERT_CONTAINS(err, "not a regular file");
    /* an empty file is "shorter than 8 bytes" too, not a mapping error */
    path_in(path, sizeof path, "empty-file.safetensors");
    ASSERT_EQ(0, write_file(path, "", 0));
    ASSERT_TRUE(rs_st_open(path, &f, err, sizeof err) < 0);
    ASSERT_CONTAINS(err, "at least 8");
    unlink(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/rs_safetensors_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot create a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    RUN_TEST(st_write_then_open_round_trips);
    RUN_TEST(st_zero_size_tensor_round_trips);
    RUN_TEST(model_write_then_open_round_trips);
    RUN_TEST(writer_failure_leaves_target_untouched);
    RUN_TEST(corrupt_files_are_refused_each_with_its_own_message);
    RUN_TEST(non_finite_weights_are_refused);
    RUN_TEST(unopenable_paths_are_errors);
    remove_tree(tmp_dir);
    TEST_MAIN_END();
}
