/*
 * safetensors.c — map, parse and validate a safetensors file; write one
 * atomically.  See safetensors.h for the checks.  The JSON header is parsed
 * with cJSON's length-bounded parser (it is not NUL-terminated in the file).
 */
#define _POSIX_C_SOURCE 200809L
/* madvise(MADV_DONTNEED) is not POSIX (posix_madvise's DONTNEED is a no-op in glibc) */
#define _DEFAULT_SOURCE
#include "rnnserve/safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rnnserve/status.h"

typedef struct meta_pair {
    char *key;
    char *value;
} meta_pair;

struct rs_st_file {
    char *path;
    void *map; /* mmap'd file, or NULL for rs_st_parse */
    size_t map_len;
    const unsigned char *bytes;
    size_t len;
    rs_st_tensor *tensors;
    int n_tensors;
    meta_pair *meta;
    int n_meta;
};

static const struct {
    const char *name;
    rs_dtype dtype;
    size_t size;
} dtypes[] = {
    {"F32", RS_DTYPE_F32, 4},
    {"I32", RS_DTYPE_I32, 4},
    {"I64", RS_DTYPE_I64, 8},
    {"F64", RS_DTYPE_F64, 8},
};

static size_t dtype_size(rs_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d)
            return dtypes[i].size;
    return 0;
}

static const char *dtype_name(rs_dtype d)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == d)
            return dtypes[i].name;
    return "?";
}

/* a JSON number that is an exact non-negative integer within limit */
static int json_size(const cJSON *item, size_t limit, size_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    /* (double)SIZE_MAX rounds up to 2^64, which (size_t) cannot hold: test before converting */
    if (!(v >= 0) || !(v < (double)limit + 1.0) || v != (double)(size_t)v || (size_t)v > limit)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const rs_st_tensor *x = *(const rs_st_tensor *const *)a, *y = *(const rs_st_tensor *const *)b;
    const unsigned char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

void rs_st_close(rs_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

/* Parses the header of f->bytes and fills tensors and metadata. */
static int parse(rs_st_file *f, char *err, size_t errlen)
{
    const char *label = f->path;
    cJSON *root = NULL;
    rs_st_tensor **sorted = NULL;
    int status = RS_EFORMAT;
    if (f->len < 8) {
        snprintf(err, errlen, "%s: truncated: %zu bytes, a safetensors file has at least 8", label,
                 f->len);
        goto fail;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | f->bytes[i];
    if (header_len < 2 || header_len > RS_ST_MAX_HEADER || header_len > f->len - 8) {
        snprintf(err, errlen, "%s: bad header length %llu for a file of %zu bytes", label,
                 (unsigned long long)header_len, f->len);
        goto fail;
    }
    const char *header = (const char *)f->bytes + 8;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(header, (size_t)header_len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - header) : 0;
        snprintf(err, errlen, "%s: header is not valid JSON (near byte %zu of the header)", label,
                 at);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: header is not a JSON object", label);
        goto fail;
    }
    /* after the object only padding (white space) may follow, as the reference parser insists */
    for (const char *q = end; q < header + header_len; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            snprintf(err, errlen, "%s: header has trailing bytes after the JSON object", label);
            goto fail;
        }
    const unsigned char *data = f->bytes + 8 + header_len;
    size_t data_len = f->len - 8 - (size_t)header_len;

    int n_items = cJSON_GetArraySize(root);
    if (n_items > RS_ST_MAX_TENSORS) {
        snprintf(err, errlen, "%s: %d header entries, at most %d are accepted", label, n_items,
                 RS_ST_MAX_TENSORS);
        goto fail;
    }
    f->tensors = calloc((size_t)n_items + 1, sizeof *f->tensors);
    if (!f->tensors) {
        status = RS_ENOMEM;
        snprintf(err, errlen, "%s: out of memory", label);
        goto fail;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const char *name = item->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (!cJSON_IsObject(item)) {
                snprintf(err, errlen, "%s: __metadata__ is not an object", label);
                goto fail;
            }
            int n = cJSON_GetArraySize(item);
            f->meta = calloc((size_t)n + 1, sizeof *f->meta);
            if (!f->meta) {
                status = RS_ENOMEM;
                snprintf(err, errlen, "%s: out of memory", label);
                goto fail;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item)
            {
                if (!cJSON_IsString(kv)) {
                    snprintf(err, errlen, "%s: metadata value of '%s' is not a string", label,
                             kv->string);
                    goto fail;
                }
                meta_pair *mp = &f->meta[f->n_meta++];
                mp->key = strdup(kv->string);
                mp->value = strdup(kv->valuestring);
                if (!mp->key || !mp->value) {
                    status = RS_ENOMEM;
                    snprintf(err, errlen, "%s: out of memory", label);
                    goto fail;
                }
            }
            continue;
        }
        if (!cJSON_IsObject(item)) {
            snprintf(err, errlen, "%s: entry of tensor '%s' is not an object", label, name);
            goto fail;
        }
        if (rs_st_find(f, name)) {
            snprintf(err, errlen, "%s: tensor '%s' appears twice", label, name);
            goto fail;
        }
        rs_st_tensor *t = &f->tensors[f->n_tensors];
        const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsString(dtype)) {
            snprintf(err, errlen, "%s: tensor '%s' has no dtype", label, name);
            goto fail;
        }
        size_t k;
        for (k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++)
            if (strcmp(dtype->valuestring, dtypes[k].name) == 0)
                break;
        if (k == sizeof dtypes / sizeof dtypes[0]) {
            snprintf(err, errlen, "%s: tensor '%s' has unsupported dtype %s", label, name,
                     dtype->valuestring);
            goto fail;
        }
        t->dtype = dtypes[k].dtype;
        if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > RS_ST_MAX_DIMS) {
            snprintf(err, errlen, "%s: tensor '%s' has no valid shape", label, name);
            goto fail;
        }
        t->ndim = cJSON_GetArraySize(shape);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            size_t dim;
            if (json_size(cJSON_GetArrayItem(shape, d), SIZE_MAX / 16, &dim) != 0) {
                snprintf(err, errlen, "%s: tensor '%s' has an invalid dimension", label, name);
                goto fail;
            }
            if (dim != 0 && numel > SIZE_MAX / 16 / dim) {
                snprintf(err, errlen, "%s: tensor '%s' is too large", label, name);
                goto fail;
            }
            t->shape[d] = dim;
            numel *= dim;
        }
        t->numel = numel;
        size_t begin, stop;
        if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
            json_size(cJSON_GetArrayItem(offsets, 0), SIZE_MAX, &begin) != 0 ||
            json_size(cJSON_GetArrayItem(offsets, 1), SIZE_MAX, &stop) != 0) {
            snprintf(err, errlen, "%s: tensor '%s' has no valid data_offsets", label, name);
            goto fail;
        }
        if (begin > stop || stop > data_len) {
            snprintf(err, errlen,
                     "%s: tensor '%s' has data_offsets [%zu, %zu] outside the data buffer of %zu "
                     "bytes",
                     label, name, begin, stop, data_len);
            goto fail;
        }
        t->nbytes = stop - begin;
        if (t->nbytes != numel * dtype_size(t->dtype)) {
            snprintf(err, errlen,
                     "%s: tensor '%s' has %zu bytes of data, its shape and dtype need %zu", label,
                     name, t->nbytes, numel * dtype_size(t->dtype));
            goto fail;
        }
        t->data = data + begin;
        t->name = strdup(name);
        if (!t->name) {
            status = RS_ENOMEM;
            snprintf(err, errlen, "%s: out of memory", label);
            goto fail;
        }
        f->n_tensors++;
    }

    /* no two tensors may share bytes: sort by start and compare neighbours */
    if (f->n_tensors > 1) {
        sorted = malloc((size_t)f->n_tensors * sizeof *sorted);
        if (!sorted) {
            status = RS_ENOMEM;
            snprintf(err, errlen, "%s: out of memory", label);
            goto fail;
        }
        int n_sorted = 0;
        for (int i = 0; i < f->n_tensors; i++)
            if (f->tensors[i].nbytes > 0) /* an empty tensor occupies no bytes */
                sorted[n_sorted++] = &f->tensors[i];
        qsort(sorted, (size_t)n_sorted, sizeof *sorted, by_offset);
        for (int i = 1; i < n_sorted; i++) {
            const unsigned char *prev_end =
                (const unsigned char *)sorted[i - 1]->data + sorted[i - 1]->nbytes;
            if ((const unsigned char *)sorted[i]->data < prev_end) {
                snprintf(err, errlen, "%s: tensors '%s' and '%s' overlap", label,
                         sorted[i - 1]->name, sorted[i]->name);
                goto fail;
            }
        }
    }
    status = RS_OK;
fail:
    free(sorted);
    cJSON_Delete(root);
    return status;
}

static rs_st_file *file_new(const char *label)
{
    rs_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = strdup(label ? label : "(buffer)");
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

int rs_st_parse(const void *bytes, size_t len, const char *label, rs_st_file **out, char *err,
                size_t errlen)
{
    *out = NULL;
    rs_st_file *f = file_new(label);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", label ? label : "(buffer)");
        return RS_ENOMEM;
    }
    f->bytes = bytes;
    f->len = len;
    int status = parse(f, err, errlen);
    if (status != RS_OK) {
        rs_st_close(f);
        return status;
    }
    *out = f;
    return RS_OK;
}

int rs_st_open(const char *path, rs_st_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RS_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return RS_EIO;
    }
    rs_st_file *f = file_new(path);
    if (!f) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return RS_ENOMEM;
    }
    f->len = (size_t)st.st_size;
    if (f->len > 0) {
        f->map = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            rs_st_close(f);
            return RS_EIO;
        }
        f->map_len = f->len;
    }
    close(fd);
    f->bytes = f->map;
    int status = parse(f, err, errlen);
    if (status != RS_OK) {
        rs_st_close(f);
        return status;
    }
    *out = f;
    return RS_OK;
}

void rs_st_release_pages(rs_st_file *f)
{
    if (f && f->map)
        madvise(f->map, f->map_len, MADV_DONTNEED);
}

int rs_st_count(const rs_st_file *f) { return f->n_tensors; }
const rs_st_tensor *rs_st_at(const rs_st_file *f, int i) { return &f->tensors[i]; }
const char *rs_st_path(const rs_st_file *f) { return f->path; }

const rs_st_tensor *rs_st_find(const rs_st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *rs_st_metadata(const rs_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return f->meta[i].value;
    return NULL;
}

void rs_st_copy(const rs_st_tensor *t, void *dst)
{
    /* the file is little-endian, as is every machine this builds on (x86-64, arm64) */
    memcpy(dst, t->data, t->nbytes);
}

/* ---- writer ---- */

/* The folder of path ("." when it has none) into dir; 0, or -1 if too long. */
static int folder_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0)
        n = 1; /* "/x": the root */
    if (n + 2 > cap)
        return -1;
    if (slash)
        memcpy(dir, path, n);
    else
        dir[n++] = '.';
    dir[n] = '\0';
    return 0;
}

/* A writer killed before its rename (SIGKILL, power loss) leaves
 * "<path>.tmp.<pid>" behind; the next write of the same path removes those
 * whose process is gone, so that a crash costs no disk for good.  A name
 * whose pid is alive (another writer now, or a reused pid) is left alone. */
static void remove_stale_temps(const char *path)
{
    char dir[PATH_MAX];
    if (folder_of(path, dir, sizeof dir) != 0)
        return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
            continue;
        const char *digits = name + blen + 5;
        char *end = NULL;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (end == digits || *end != '\0' || errno != 0 || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char stale[PATH_MAX];
        int n = snprintf(stale, sizeof stale, "%s/%s", dir, name);
        if (n > 0 && (size_t)n < sizeof stale)
            unlink(stale);
    }
    closedir(d);
}

/* After a rename, the folder's entry is what must reach the disk for the
 * new file to survive a power loss (rename(2) alone orders nothing). */
static void sync_folder_of(const char *path)
{
    char dir[PATH_MAX];
    if (folder_of(path, dir, sizeof dir) != 0)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* some file systems refuse it; the file itself is synced */
        close(fd);
    }
}

static int write_all(FILE *fp, const void *p, size_t n)
{
    return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

int rs_st_write(const char *path, const rs_st_out *tensors, int n_tensors, const char *const *keys,
                const char *const *values, int n_meta, char *err, size_t errlen)
{
    int status = RS_EIO;
    cJSON *root = cJSON_CreateObject();
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    if (!root)
        goto nomem;
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        if (!meta)
            goto nomem;
        for (int i = 0; i < n_meta; i++)
            if (!cJSON_AddStringToObject(meta, keys[i], values[i]))
                goto nomem;
    }
    size_t offset = 0;
    for (int i = 0; i < n_tensors; i++) {
        const rs_st_out *t = &tensors[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++)
            numel *= t->shape[d];
        size_t nbytes = numel * dtype_size(t->dtype);
        cJSON *entry = cJSON_AddObjectToObject(root, t->name);
        if (!entry || !cJSON_AddStringToObject(entry, "dtype", dtype_name(t->dtype)))
            goto nomem;
        cJSON *shape = cJSON_AddArrayToObject(entry, "shape");
        cJSON *offs = cJSON_AddArrayToObject(entry, "data_offsets");
        if (!shape || !offs)
            goto nomem;
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + nbytes)));
        offset += nbytes;
    }
    header = cJSON_PrintUnformatted(root);
    if (!header)
        goto nomem;
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8; /* data starts 8-aligned, as the reference writer does */

    size_t plen = strlen(path);
    tmp = malloc(plen + 32);
    if (!tmp)
        goto nomem;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    remove_stale_temps(path);
    fp = fopen(tmp, "wb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)(((uint64_t)padded >> (8 * i)) & 0xff);
    int bad = write_all(fp, lenbuf, 8) || write_all(fp, header, hlen);
    for (size_t i = hlen; i < padded && !bad; i++)
        bad = fputc(' ', fp) == EOF;
    for (int i = 0; i < n_tensors && !bad; i++) {
        const rs_st_out *t = &tensors[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++)
            numel *= t->shape[d];
        bad = write_all(fp, t->data, numel * dtype_size(t->dtype));
    }
    if (bad || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        snprintf(err, errlen, "%s: write failed: %s; %s is unchanged", tmp, strerror(errno), path);
        goto fail;
    }
    if (fclose(fp) != 0) {
        fp = NULL;
        snprintf(err, errlen, "%s: write failed: %s; %s is unchanged", tmp, strerror(errno), path);
        goto fail;
    }
    fp = NULL;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename to %s: %s; %s is unchanged", tmp, path,
                 strerror(errno), path);
        goto fail;
    }
    sync_folder_of(path);
    status = RS_OK;
    goto done;
nomem:
    status = RS_ENOMEM;
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    if (fp)
        fclose(fp);
    if (tmp)
        unlink(tmp);
done:
    free(tmp);
    free(header);
    cJSON_Delete(root);
    return status;
}
