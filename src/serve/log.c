/*
 * log.c — JSON lines on stderr (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int threshold = RS_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *rs_log_level_name(rs_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "info";
}

void rs_log_set_level(rs_log_level level) { atomic_store(&threshold, (int)level); }

int rs_log_enabled(rs_log_level level) { return (int)level <= atomic_load(&threshold); }

/* Appends raw bytes; keeps room for the closing "}\n". */
static void put(rs_log_line *l, const char *s, size_t n)
{
    size_t room = sizeof l->buf - 3 - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends a JSON string literal.  Escapes quotes, backslashes and control
 * characters; bytes >= 0x80 pass through (callers log validated UTF-8 or
 * file names, and a consumer tolerates the odd invalid byte better than a
 * dropped line).  A string cut by the buffer end still gets its quote. */
static void put_json_string(rs_log_line *l, const char *s)
{
    put(l, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (sizeof l->buf - 3 - l->len < 8) /* room for an escape and the quote */
            break;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else if (c < 0x20) {
            char e[8];
            int n = snprintf(e, sizeof e, "\\u%04x", c);
            put(l, e, (size_t)n);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    l->len = l->len < sizeof l->buf - 3 ? l->len : sizeof l->buf - 3;
    put(l, "\"", 1);
}

static void put_key(rs_log_line *l, const char *key)
{
    put(l, ",", 1);
    put_json_string(l, key);
    put(l, ":", 1);
}

static void begin(rs_log_line *l, rs_log_level level, const char *event, int always)
{
    l->len = 0;
    l->enabled = always || rs_log_enabled(level);
    if (!l->enabled)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[96];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));
    put(l, "{\"time\":", 8);
    put_json_string(l, stamp);
    put_key(l, "level");
    put_json_string(l, rs_log_level_name(level));
    put_key(l, "event");
    put_json_string(l, event);
}

void rs_log_begin(rs_log_line *l, rs_log_level level, const char *event)
{
    begin(l, level, event, 0);
}

void rs_log_begin_always(rs_log_line *l, rs_log_level level, const char *event)
{
    begin(l, level, event, 1);
}

void rs_log_str(rs_log_line *l, const char *key, const char *value)
{
    if (!l->enabled)
        return;
    put_key(l, key);
    if (value)
        put_json_string(l, value);
    else
        put(l, "null", 4);
}

void rs_log_int(rs_log_line *l, const char *key, long long value)
{
    if (!l->enabled)
        return;
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", value);
    put_key(l, key);
    put(l, num, (size_t)n);
}

void rs_log_end(rs_log_line *l)
{
    if (!l->enabled)
        return;
    /* put() always leaves these three bytes free */
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    size_t off = 0;
    while (off < l->len) {
        ssize_t n = write(STDERR_FILENO, l->buf + off, l->len - off);
        if (n <= 0)
            break; /* stderr closed or full: nothing sensible left to do */
        off += (size_t)n;
    }
}

void rs_logf(rs_log_level level, const char *event, const char *fmt, ...)
{
    rs_log_line l;
    rs_log_begin(&l, level, event);
    if (!l.enabled)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rs_log_str(&l, "msg", msg);
    rs_log_end(&l);
}
