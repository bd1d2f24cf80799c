/*
 * safetensors.h — the safetensors container: read (mmap + validate) and write.
 *
 * Format (huggingface.co/docs/safetensors): 8-byte little-endian header
 * length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets":
 * [begin, end]}, …, "__metadata__": {string: string}}, then the data buffer.
 *
 * This module knows the container only, not what a model is (model.h).  The
 * reader validates everything before anyone sees a tensor: header length
 * within the file, JSON an object, dtypes known, shapes non-negative with no
 * overflow, byte length = numel × dtype size, offsets inside the data
 * buffer, no two tensors overlapping, metadata values strings.  Every fault
 * is a negative return and a message naming the file and the fault.
 */
#ifndef RNNSERVE_SAFETENSORS_H
#define RNNSERVE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define RS_ST_MAX_DIMS    8
#define RS_ST_MAX_HEADER  (100u * 1024u * 1024u)
#define RS_ST_MAX_TENSORS 4096

typedef enum { RS_DTYPE_F32 = 0, RS_DTYPE_I32 = 1, RS_DTYPE_I64 = 2, RS_DTYPE_F64 = 3 } rs_dtype;

typedef struct rs_st_tensor {
    char *name; /* owned by the file */
    rs_dtype dtype;
    int ndim; /* 0..RS_ST_MAX_DIMS */
    size_t shape[RS_ST_MAX_DIMS];
    size_t numel;
    const void *data; /* inside the mapping; may be unaligned */
    size_t nbytes;
} rs_st_tensor;

typedef struct rs_st_file rs_st_file; /* opaque: a mapped, validated file */

/* Maps and validates path.  On success *out owns the mapping; close with
 * rs_st_close.  On failure returns < 0, *out = NULL, err names the fault. */
int rs_st_open(const char *path, rs_st_file **out, char *err, size_t errlen);
/* The same on a caller's buffer (not copied; must outlive the file): for fuzzing. */
int rs_st_parse(const void *bytes, size_t len, const char *label, rs_st_file **out, char *err,
                size_t errlen);
void rs_st_close(rs_st_file *f);
/* Tells the kernel that the mapped pages are not needed now (they stay
 * valid and are read again from the file on the next access): for a
 * reader that has copied what it reads often. */
void rs_st_release_pages(rs_st_file *f);

int rs_st_count(const rs_st_file *f);
const rs_st_tensor *rs_st_at(const rs_st_file *f, int i);
/* NULL when absent. */
const rs_st_tensor *rs_st_find(const rs_st_file *f, const char *name);
/* Metadata value, NULL when absent.  Owned by the file. */
const char *rs_st_metadata(const rs_st_file *f, const char *key);
const char *rs_st_path(const rs_st_file *f);

/* Copy a tensor's values into dst (numel values of its dtype), whatever the alignment. */
void rs_st_copy(const rs_st_tensor *t, void *dst);

/* A tensor to write. */
typedef struct rs_st_out {
    const char *name;
    rs_dtype dtype;
    int ndim;
    size_t shape[RS_ST_MAX_DIMS];
    const void *data; /* numel values of dtype, host (little-endian) order */
} rs_st_out;

/* Writes tensors in the given order with the metadata pairs (keys[i] →
 * values[i]) to a temporary file beside path (<path>.tmp.<pid>), fsyncs,
 * renames it over path and fsyncs the folder; on any failure, a full disk
 * included, nothing at path changes, the temporary file is removed and err
 * says so.  Temporary files of the same path left by writers that died
 * (SIGKILL) are removed first.  Returns 0 or < 0. */
int rs_st_write(const char *path, const rs_st_out *tensors, int n_tensors, const char *const *keys,
                const char *const *values, int n_meta, char *err, size_t errlen);

#endif
