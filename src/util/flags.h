/*
 * flags.h — table-driven command-line flags, for rnntrain's subcommands and
 * rnnserve's settings.
 *
 * Each program declares a table of flags with their type and range; the
 * parser accepts `--name value` and `--name=value`, refuses unknown flags,
 * missing values and out-of-range numbers with one clear message, and
 * prints the table as help.  A flag may also name an environment variable
 * (rnnserve's RNNSERVE_*): flags_parse_env reads those first, so that a
 * flag given on the command line wins over its variable.
 */
#ifndef RNNSERVE_FLAGS_H
#define RNNSERVE_FLAGS_H

#include <stddef.h>

typedef enum { FLAG_INT, FLAG_DOUBLE, FLAG_STRING, FLAG_BOOL, FLAG_CHOICE, FLAG_U64 } flag_kind;

typedef struct flag {
    const char *name;  /* without dashes: "hidden" */
    const char *alias; /* a short form without dash ("n"), or NULL */
    flag_kind kind;
    void *target;               /* int*, double*, const char**, int* (bool, choice), uint64_t* */
    double min, max;            /* inclusive range for numbers */
    const char *const *choices; /* NULL-terminated, FLAG_CHOICE: target gets the index */
    const char *help;
    int seen;        /* set by the parser */
    const char *env; /* environment variable that also sets it, or NULL */
} flag;

/* Reads the environment variable of every flag that has one.  0, or -1 with
 * a message naming the variable in err. */
int flags_parse_env(flag *flags, int n, char *err, size_t errlen);
/* Parses argv[0..argc) against flags[0..n).  0, or -1 with a message in err. */
int flags_parse(flag *flags, int n, int argc, char **argv, char *err, size_t errlen);
/* Prints one line per flag with its default (and its variable and range,
 * when it has a variable). */
void flags_print(const flag *flags, int n);
/* The start every command shares: with --help or -h in argv, prints usage
 * and the flags on stdout and returns 0; else parses argv and returns −1
 * (go on), or 2 after printing "prog: message" on stderr.  A return ≥ 0 is
 * the command's exit status. */
int flags_command(const char *prog, const char *usage, flag *flags, int n, int argc, char **argv);
/* The flag named name, for checking `seen`. */
const flag *flags_find(const flag *flags, int n, const char *name);

#endif
