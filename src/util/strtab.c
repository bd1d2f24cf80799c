/*
 * strtab.c — distinct strings with dense ids (strtab.h).
 */
#include "rnnserve/strtab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int grow(rs_strtab *t)
{
    int n_slots = t->n_slots ? t->n_slots * 2 : 1024;
    int *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!slots)
        return -1;
    size_t mask = (size_t)n_slots - 1;
    for (int i = 0; i < t->n; i++) {
        size_t h = (size_t)hash_bytes(t->str[i], strlen(t->str[i])) & mask;
        while (slots[h])
            h = (h + 1) & mask;
        slots[h] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 0;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t slot_of(const rs_strtab *t, const char *s, size_t len)
{
    size_t mask = (size_t)t->n_slots - 1, h = (size_t)hash_bytes(s, len) & mask;
    for (; t->slots[h]; h = (h + 1) & mask) {
        const char *x = t->str[t->slots[h] - 1];
        if (strncmp(x, s, len) == 0 && x[len] == '\0')
            break;
    }
    return h;
}

int rs_strtab_find(const rs_strtab *t, const char *s, size_t len)
{
    if (t->n_slots == 0 || memchr(s, '\0', len))
        return -1;
    return t->slots[slot_of(t, s, len)] - 1;
}

int rs_strtab_intern(rs_strtab *t, const char *s, size_t len)
{
    if ((t->n + 1) * 2 > t->n_slots && grow(t) != 0)
        return -1;
    size_t h = slot_of(t, s, len);
    if (t->slots[h])
        return t->slots[h] - 1;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 1024;
        char **str = realloc(t->str, (size_t)cap * sizeof *str);
        if (!str)
            return -1;
        t->str = str;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->str[t->n] = copy;
    t->slots[h] = t->n + 1;
    return t->n++;
}

void rs_strtab_free(rs_strtab *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->str[i]);
    free(t->str);
    free(t->slots);
    memset(t, 0, sizeof *t);
}
