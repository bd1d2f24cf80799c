/*
 * registry.c — model sets and their atomic replacement (see registry.h).
 */
#include "registry.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUFFIX ".safetensors"

struct rs_model_set {
    atomic_int refs;
    int n;
    rs_model **models; /* (n) sorted by file name */
    rs_lane **lanes;   /* (n) each model's engine state */
    int n_translators;
    rs_translator **translators; /* sorted by file name */
    char **translator_names;     /* file names without extension */
    char *info;                  /* /v1/models body */
    size_t info_len;
};

struct rs_registry {
    char *dir;
    rs_lane_limits limits;
    /* Guards only the pointer swap and the reference increment that must
     * happen before a reload can drop the registry's own reference. */
    pthread_mutex_t lock;
    rs_model_set *current;
};

int rs_model_set_count(const rs_model_set *set) { return set->n; }
const rs_model *rs_model_set_model(const rs_model_set *set, int i) { return set->models[i]; }
rs_lane *rs_model_set_lane(const rs_model_set *set, int i) { return set->lanes[i]; }

void rs_model_set_ref(rs_model_set *set) { atomic_fetch_add(&set->refs, 1); }

int rs_model_set_find(const rs_model_set *set, const char *name)
{
    for (int i = 0; i < set->n; i++)
        if (strcmp(rs_model_name(set->models[i]), name) == 0)
            return i;
    return -1;
}

int rs_model_set_first(const rs_model_set *set, rs_task task)
{
    for (int i = 0; i < set->n; i++)
        if (rs_model_config(set->models[i])->task == task)
            return i;
    return -1;
}

const char *rs_model_set_info(const rs_model_set *set, size_t *len)
{
    *len = set->info_len;
    return set->info;
}

int rs_model_set_translator_count(const rs_model_set *set) { return set->n_translators; }
const rs_translator *rs_model_set_translator(const rs_model_set *set, int i)
{
    return set->translators[i];
}
const char *rs_model_set_translator_name(const rs_model_set *set, int i)
{
    return set->translator_names[i];
}
int rs_model_set_find_translator(const rs_model_set *set, const char *name)
{
    for (int i = 0; i < set->n_translators; i++)
        if (strcmp(set->translator_names[i], name) == 0)
            return i;
    return -1;
}

static void set_destroy(rs_model_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n_translators; i++) {
        rs_translator_close(set->translators[i]);
        free(set->translator_names[i]);
    }
    free(set->translators);
    free(set->translator_names);
    for (int i = 0; i < set->n; i++) {
        rs_lane_destroy(set->lanes[i]);
        rs_model_close(set->models[i]);
    }
    free(set->models);
    free(set->lanes);
    free(set->info);
    free(set);
}

void rs_model_set_release(rs_model_set *set)
{
    if (set && atomic_fetch_sub(&set->refs, 1) == 1)
        set_destroy(set);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *name)
{
    size_t n = strlen(name), s = strlen(SUFFIX);
    return name[0] != '.' && n > s && strcmp(name + n - s, SUFFIX) == 0;
}

/* The sorted model file names of dir (malloc'd array of malloc'd names). */
static int list_models(const char *dir, char ***out, int *n_out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the model folder: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    int n = 0, cap = 0, status = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown)
                goto fail;
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto fail;
        n++;
    }
    if (n > 1) /* qsort(NULL, 0, …) is undefined: its pointer is declared nonnull */
        qsort(names, (size_t)n, sizeof *names, by_name);
    *out = names;
    *n_out = n;
    names = NULL;
    status = 0;
fail:
    if (status != 0) {
        snprintf(err, errlen, "%s: out of memory listing the model folder", dir);
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    closedir(d);
    return status;
}

static rs_model_set *set_build(const rs_registry *r, char *err, size_t errlen)
{
    char **names = NULL;
    int n = 0;
    rs_model_set *set = NULL;
    cJSON *info = NULL;
    if (list_models(r->dir, &names, &n, err, errlen) != 0)
        return NULL;
    set = calloc(1, sizeof *set);
    if (!set ||
        (n && (!(set->models = calloc((size_t)n, sizeof *set->models)) ||
               !(set->lanes = calloc((size_t)n, sizeof *set->lanes)) ||
               !(set->translators = calloc((size_t)n, sizeof *set->translators)) ||
               !(set->translator_names = calloc((size_t)n, sizeof *set->translator_names))))) {
        snprintf(err, errlen, "%s: out of memory", r->dir);
        goto fail;
    }
    atomic_init(&set->refs, 1);
    info = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(info, "models");
    if (!list) {
        snprintf(err, errlen, "%s: out of memory", r->dir);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        size_t plen = strlen(r->dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        if (!path) {
            snprintf(err, errlen, "%s: out of memory", names[i]);
            goto fail;
        }
        snprintf(path, plen, "%s/%s", r->dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            /* a dangling link or a folder named *.safetensors is a broken
             * deployment like any unreadable model */
            snprintf(err, errlen, "%s: not a readable regular file", path);
            free(path);
            goto fail;
        }
        if (rs_translator_file_is(path)) { /* a translator: no engine lane, its own route */
            int k = set->n_translators;
            int rc = rs_translator_open(path, &set->translators[k], err, errlen);
            free(path);
            if (rc != 0)
                goto fail;
            set->n_translators++;
            set->translator_names[k] = rs_model_name_of(names[i]);
            cJSON *entry =
                set->translator_names[k]
                    ? rs_translator_describe(set->translators[k], set->translator_names[k])
                    : NULL;
            if (!entry) {
                snprintf(err, errlen, "%s: out of memory", names[i]);
                goto fail;
            }
            cJSON_AddItemToArray(list, entry);
            continue;
        }
        int rc = rs_model_open(path, &set->models[set->n], err, errlen);
        free(path);
        if (rc != 0)
            goto fail;
        const rs_model *m = set->models[set->n++];
        set->lanes[set->n - 1] = rs_lane_create(m, &r->limits);
        cJSON *entry = rs_model_describe(m);
        if (!set->lanes[set->n - 1] || !entry) {
            cJSON_Delete(entry);
            snprintf(err, errlen, "%s: out of memory for its scratch", rs_model_path(m));
            goto fail;
        }
        cJSON_AddItemToArray(list, entry);
    }
    set->info = cJSON_PrintUnformatted(info);
    if (!set->info) {
        snprintf(err, errlen, "%s: out of memory", r->dir);
        goto fail;
    }
    set->info_len = strlen(set->info);
    cJSON_Delete(info);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return set;
fail:
    cJSON_Delete(info);
    set_destroy(set);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return NULL;
}

rs_registry *rs_registry_create(const char *dir, const rs_lane_limits *limits)
{
    rs_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->dir = strdup(dir);
    r->limits = *limits;
    if (!r->dir || pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->dir);
        free(r);
        return NULL;
    }
    return r;
}

void rs_registry_destroy(rs_registry *r)
{
    if (!r)
        return;
    rs_model_set_release(r->current);
    pthread_mutex_destroy(&r->lock);
    free(r->dir);
    free(r);
}

int rs_registry_load(rs_registry *r, char *err, size_t errlen)
{
    rs_model_set *set = set_build(r, err, errlen);
    if (!set)
        return -1;
    /* An emptied folder is far more often a mount that went missing than
     * a wish to serve nothing: keep what is serving. */
    if (set->n + set->n_translators == 0 && r->current &&
        r->current->n + r->current->n_translators > 0) {
        snprintf(err, errlen, "%s: no *.safetensors files; keeping the %d models loaded", r->dir,
                 r->current->n);
        set_destroy(set);
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    rs_model_set *old = r->current;
    r->current = set;
    pthread_mutex_unlock(&r->lock);
    rs_model_set_release(old); /* freed now, or by the last request using it */
    return set->n + set->n_translators;
}

rs_model_set *rs_registry_acquire(rs_registry *r)
{
    pthread_mutex_lock(&r->lock);
    rs_model_set *set = r->current;
    if (set)
        atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return set;
}
