/*
 * modeljob.h — what the model routes hand to the engine: a job (engine.h)
 * with the context every one of them carries, so that the reply can be
 * built after the engine is done, on whichever HTTP thread resumes it.
 *
 * The context keeps the model set referenced (the model and its lane stay
 * valid through a reload) and the parsed request (classify echoes its
 * names).  A handler creates the job with room for its own buffers, fills
 * the inputs and returns it unsubmitted; http.c submits it.
 */
#ifndef RNNSERVE_SERVE_MODELJOB_H
#define RNNSERVE_SERVE_MODELJOB_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "engine.h"
#include "registry.h"

typedef struct rs_model_job {
    rs_model_set *set; /* a reference of the job's own */
    const rs_model *model;
    cJSON *req;              /* the parsed request, owned */
    uint64_t seed;           /* generate: the seed answered */
    int top_k;               /* classify: labels per name */
    int many;                /* classify: "names" (a batch) rather than "name" */
    int unknown;             /* generate, score: words of the input read as <unk> (word models) */
    double *token_log_probs; /* score with "per_token": malloc'd, freed with the job */
} rs_model_job;

/*
 * A job of kind for model index mi of set, taking ownership of req (also
 * when it fails) and a reference to set.  *buffers receives `extra` zeroed
 * bytes for the handler's inputs and outputs.  NULL with a 500 reply on
 * allocation failure.
 */
rs_job *rs_model_job_create(rs_job_kind kind, rs_model_set *set, int mi, cJSON *req, size_t extra,
                            void **buffers, rs_reply *r);
/* The context of a job made by rs_model_job_create. */
rs_model_job *rs_model_job_of(rs_job *job);
/* 1 and a 503 in r when the job was cancelled (the daemon is stopping),
 * 1 and a 500 when the engine could not run it, else 0. */
int rs_model_job_failed(rs_job *job, int complete, rs_reply *r);

#endif
