/*
 * strtab.h — a table of distinct strings, each with a dense id in order of
 * first insertion, found by an open-addressing hash (FNV-1a): the token
 * tables of the translator's data (src/train/pairs.c) and its model's
 * vocabularies (src/model/translator.c).
 */
#ifndef RNNSERVE_STRTAB_H
#define RNNSERVE_STRTAB_H

#include <stddef.h>

typedef struct rs_strtab {
    char **str; /* (n) NUL-terminated, owned */
    int n, cap;
    int *slots; /* id + 1, 0 = empty; a power of two, at most half full */
    int n_slots;
} rs_strtab;

/* The id of s[0..len), added when new; -1 when memory runs out. */
int rs_strtab_intern(rs_strtab *t, const char *s, size_t len);
/* The id of s[0..len), or -1. */
int rs_strtab_find(const rs_strtab *t, const char *s, size_t len);
void rs_strtab_free(rs_strtab *t);

#endif
