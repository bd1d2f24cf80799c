/*
 * flags.c — the parser of flags.h.
 */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const flag *flags_find(const flag *flags, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(flags[i].name, name) == 0)
            return &flags[i];
    return NULL;
}

/* Stores value into f; source ("--port" or "RNNSERVE_PORT") names it in
 * messages. */
static int set_value(flag *f, const char *source, const char *value, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    switch (f->kind) {
    case FLAG_INT:
    case FLAG_DOUBLE: {
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || errno == ERANGE || !isfinite(v)) {
            snprintf(err, errlen, "%s: \"%s\" is not a number", source, value);
            return -1;
        }
        if (f->kind == FLAG_INT && v != floor(v)) {
            snprintf(err, errlen, "%s: \"%s\" is not a whole number", source, value);
            return -1;
        }
        if (v < f->min || v > f->max) {
            snprintf(err, errlen, "%s must be between %.15g and %.15g, got %s", source, f->min,
                     f->max, value);
            return -1;
        }
        if (f->kind == FLAG_INT)
            *(int *)f->target = (int)v;
        else
            *(double *)f->target = v;
        return 0;
    }
    case FLAG_U64: {
        if (value[0] == '-') {
            snprintf(err, errlen, "%s: \"%s\" must be a non-negative integer", source, value);
            return -1;
        }
        unsigned long long v = strtoull(value, &end, 10);
        if (end == value || *end != '\0' || errno == ERANGE) {
            snprintf(err, errlen, "%s: \"%s\" is not a non-negative integer", source, value);
            return -1;
        }
        *(uint64_t *)f->target = (uint64_t)v;
        return 0;
    }
    case FLAG_STRING:
        if (value[0] == '\0') {
            snprintf(err, errlen, "%s: empty value", source);
            return -1;
        }
        *(const char **)f->target = value;
        return 0;
    case FLAG_CHOICE:
        for (int i = 0; f->choices[i]; i++)
            if (strcmp(f->choices[i], value) == 0) {
                *(int *)f->target = i;
                return 0;
            }
        {
            char list[200] = "";
            for (int i = 0; f->choices[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         f->choices[i]);
            snprintf(err, errlen, "%s: \"%s\" is not one of %s", source, value, list);
        }
        return -1;
    case FLAG_BOOL:
    default:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            *(int *)f->target = 1;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            *(int *)f->target = 0;
        else {
            snprintf(err, errlen, "%s: \"%s\" is not true or false", source, value);
            return -1;
        }
        return 0;
    }
}

int flags_parse(flag *flags, int n, int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *name;
        if (strncmp(arg, "--", 2) == 0)
            name = arg + 2;
        else if (arg[0] == '-' && arg[1] != '\0')
            name = arg + 1;
        else {
            snprintf(err, errlen, "unexpected argument \"%s\"", arg);
            return -1;
        }
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        flag *f = NULL;
        for (int k = 0; k < n && !f; k++)
            if ((strlen(flags[k].name) == name_len &&
                 strncmp(flags[k].name, name, name_len) == 0) ||
                (flags[k].alias && strlen(flags[k].alias) == name_len &&
                 strncmp(flags[k].alias, name, name_len) == 0))
                f = &flags[k];
        if (!f) {
            snprintf(err, errlen, "unknown flag \"%.*s\" (see --help)",
                     (int)(name_len + (size_t)(name - arg)), arg);
            return -1;
        }
        if (f->seen) {
            snprintf(err, errlen, "--%s given twice", f->name);
            return -1;
        }
        f->seen = 1;
        const char *value;
        if (eq)
            value = eq + 1;
        else if (f->kind == FLAG_BOOL && i + 1 < argc &&
                 (strcmp(argv[i + 1], "true") == 0 || strcmp(argv[i + 1], "false") == 0))
            value = argv[++i]; /* --flag false */
        else if (f->kind == FLAG_BOOL)
            value = "true"; /* --flag alone */
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf(err, errlen, "--%s needs a value", f->name);
            return -1;
        }
        char source[64];
        snprintf(source, sizeof source, "--%s", f->name);
        if (set_value(f, source, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int flags_parse_env(flag *flags, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        const char *value = flags[i].env ? getenv(flags[i].env) : NULL;
        if (value && set_value(&flags[i], flags[i].env, value, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void flags_print(const flag *flags, int n)
{
    for (int i = 0; i < n; i++) {
        const flag *f = &flags[i];
        char def[64] = "";
        switch (f->kind) {
        case FLAG_INT:
            snprintf(def, sizeof def, "%d", *(const int *)f->target);
            break;
        case FLAG_DOUBLE:
            snprintf(def, sizeof def, "%g", *(const double *)f->target);
            break;
        case FLAG_U64:
            snprintf(def, sizeof def, "%llu", (unsigned long long)*(const uint64_t *)f->target);
            break;
        case FLAG_STRING: {
            const char *s = *(const char *const *)f->target;
            snprintf(def, sizeof def, "%s", s ? s : "");
            break;
        }
        case FLAG_CHOICE:
            snprintf(def, sizeof def, "%s", f->choices[*(const int *)f->target]);
            break;
        case FLAG_BOOL:
            snprintf(def, sizeof def, "%s", *(const int *)f->target ? "true" : "false");
            break;
        }
        char name[48];
        snprintf(name, sizeof name, "%s%s%s", f->alias ? "-" : "", f->alias ? f->alias : "",
                 f->alias ? ", " : "");
        snprintf(name + strlen(name), sizeof name - strlen(name), "--%s", f->name);
        printf("  %-22s %s%s%s%s\n", name, f->help, def[0] ? " [" : "", def, def[0] ? "]" : "");
        if (f->env && (f->kind == FLAG_INT || f->kind == FLAG_DOUBLE))
            printf("  %-22s (%s; %.15g..%.15g)\n", "", f->env, f->min, f->max);
        else if (f->env)
            printf("  %-22s (%s)\n", "", f->env);
    }
}

int flags_command(const char *prog, const char *usage, flag *flags, int n, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            flags_print(flags, n);
            return 0;
        }
    char err[1024];
    if (flags_parse(flags, n, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    return -1;
}
