/*
 * atomic_out.h — writing a file atomically (src/train/atomic_out.c): a
 * temporary file beside the target, fsynced, renamed over it, so that a
 * reader never sees half a file and a failed write leaves the old one (and
 * no temporary file).  What `rnntrain split`, `rnntrain translator
 * --valid-out` and the plots (plot.h) write with.
 */
#ifndef RNNTRAIN_ATOMIC_OUT_H
#define RNNTRAIN_ATOMIC_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes item k of n by emit(ctx, idx[k], fp) (negative: failed). */
typedef int (*rs_emit_line)(const void *ctx, int item, FILE *fp);

/* The n lines.  0, or -1 with a one-line message in err. */
int rs_write_lines_atomically(const char *path, const void *ctx, rs_emit_line emit, const int *idx,
                              int n, char *err, size_t errlen);

/* The bytes buf[0..len).  0, or -1 with a one-line message in err. */
int rs_write_bytes_atomically(const char *path, const char *buf, size_t len, char *err,
                              size_t errlen);

#endif
