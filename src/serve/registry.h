/*
 * registry.h — the models being served: an immutable, reference-counted
 * "model set" built from every *.safetensors file of a folder, and the
 * registry that holds the current set and swaps in a new one on reload.
 *
 * A request acquires the current set, uses its models and lanes (engine.h),
 * and releases it (a job handed to the engine keeps its own reference); a reload builds a complete
 * new set first and only then swaps the pointer, so requests in flight finish on the old set, which
 * is freed when its last user releases it.  If any file of the folder fails to load, the reload is
 * refused as a whole and the old set keeps serving: a folder is deployed as a unit, and serving
 * half of it would answer with a model set nobody tested.
 */
#ifndef RNNSERVE_SERVE_REGISTRY_H
#define RNNSERVE_SERVE_REGISTRY_H

#include <stddef.h>

#include "engine.h"
#include "rnnserve/model.h"
#include "rnnserve/translator.h"

typedef struct rs_model_set rs_model_set;

int rs_model_set_count(const rs_model_set *set);
const rs_model *rs_model_set_model(const rs_model_set *set, int i);
/* Model i's engine lane (its prepared weights and batch scratch). */
rs_lane *rs_model_set_lane(const rs_model_set *set, int i);
/* Takes another reference (a job keeps the set its model belongs to). */
void rs_model_set_ref(rs_model_set *set);
/* Index of the model named name (file name without extension), or -1. */
int rs_model_set_find(const rs_model_set *set, const char *name);
/* Index of the first model of a task in file-name order, or -1. */
int rs_model_set_first(const rs_model_set *set, rs_task task);
/* The translators of the set (task "translator": POST /translate), apart
 * from the models the engine runs. */
int rs_model_set_translator_count(const rs_model_set *set);
const rs_translator *rs_model_set_translator(const rs_model_set *set, int i);
/* File name without extension: "eng-fra". */
const char *rs_model_set_translator_name(const rs_model_set *set, int i);
/* Index of the translator named name, or -1. */
int rs_model_set_find_translator(const rs_model_set *set, const char *name);
/* The /v1/models body, built once when the set was loaded. */
const char *rs_model_set_info(const rs_model_set *set, size_t *len);
/* Drops a reference taken by rs_registry_acquire or rs_model_set_ref; the
 * last one frees the set, its lanes and its models. */
void rs_model_set_release(rs_model_set *set);

typedef struct rs_registry rs_registry;

/* dir is copied.  NULL on allocation failure. */
rs_registry *rs_registry_create(const char *dir, const rs_lane_limits *limits);
/* Releases the current set; sets still acquired stay valid until released. */
void rs_registry_destroy(rs_registry *r);

/*
 * Loads every *.safetensors of the folder (names starting with '.' are
 * skipped: editors' and rsync's temporary files) into a new set and makes
 * it current.  Returns the number of models, or < 0 with a message naming
 * the file and the fault in err, the current set unchanged.  A folder
 * without models is accepted only while nothing is loaded.  Called from
 * one thread at a time (main.c's signal loop).
 */
int rs_registry_load(rs_registry *r, char *err, size_t errlen);

/* The current set with a reference taken, or NULL before the first load. */
rs_model_set *rs_registry_acquire(rs_registry *r);

#endif
