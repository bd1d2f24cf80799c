/*
 * log.h — structured logging for rnnserve: one JSON object per line on
 * stderr, for the access log and for events (start, reload, drain).
 *
 * A line is built in a caller-owned stack buffer and written with a single
 * write(2), so lines from concurrent workers never interleave and logging
 * never allocates.  Values are JSON-escaped; a line that would not fit is
 * cut short but stays valid JSON.  This is not a general logging library:
 * no files, no rotation (stderr goes wherever the supervisor sends it).
 */
#ifndef RNNSERVE_SERVE_LOG_H
#define RNNSERVE_SERVE_LOG_H

#include <stddef.h>

typedef enum { RS_LOG_ERROR = 0, RS_LOG_WARN = 1, RS_LOG_INFO = 2, RS_LOG_DEBUG = 3 } rs_log_level;

const char *rs_log_level_name(rs_log_level level);

/* The process-wide threshold, set once at start-up (the one piece of
 * global state here: every module logs, and threading a logger through
 * each call would add nothing). */
void rs_log_set_level(rs_log_level level);
int rs_log_enabled(rs_log_level level);

/* One line under construction: {"time":…,"level":…,"event":…, fields…} */
typedef struct rs_log_line {
    char buf[2048];
    size_t len;
    int enabled; /* 0 when the level is filtered out: every call is a no-op */
} rs_log_line;

void rs_log_begin(rs_log_line *l, rs_log_level level, const char *event);
/* The same, written whatever the threshold: for the line that tells where
 * the daemon listens, which scripts read to learn a --port 0 port. */
void rs_log_begin_always(rs_log_line *l, rs_log_level level, const char *event);
void rs_log_str(rs_log_line *l, const char *key, const char *value); /* NULL → null */
void rs_log_int(rs_log_line *l, const char *key, long long value);
/* Writes the line with one write(2). */
void rs_log_end(rs_log_line *l);

/* Shorthand: {"time","level","event","msg": printf(fmt, …)} */
void rs_logf(rs_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
