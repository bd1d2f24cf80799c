/*
 * modeljob.c — creating and freeing the model routes' jobs (see modeljob.h).
 */
#include "modeljob.h"

#include <stdlib.h>

static void cleanup(rs_job *job)
{
    rs_model_job *mj = job->user;
    cJSON_Delete(mj->req);
    free(mj->token_log_probs);
    rs_model_set_release(mj->set);
}

rs_job *rs_model_job_create(rs_job_kind kind, rs_model_set *set, int mi, cJSON *req, size_t extra,
                            void **buffers, rs_reply *r)
{
    /* the context first, then the handler's buffers, each 16-byte aligned */
    size_t head = (sizeof(rs_model_job) + 15) & ~(size_t)15;
    void *all = NULL;
    rs_job *job = rs_job_create(head + extra, &all);
    if (!job) {
        cJSON_Delete(req);
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    rs_model_job *mj = all;
    rs_model_set_ref(set);
    mj->set = set;
    mj->model = rs_model_set_model(set, mi);
    mj->req = req;
    job->kind = kind;
    job->lane = rs_model_set_lane(set, mi);
    job->user = mj;
    job->cleanup = cleanup;
    *buffers = extra ? (char *)all + head : NULL;
    return job;
}

rs_model_job *rs_model_job_of(rs_job *job) { return job->user; }

int rs_model_job_failed(rs_job *job, int complete, rs_reply *r)
{
    if (atomic_load(&job->cancelled)) {
        rs_reply_error(r, 503, RS_ERR_NOT_READY, NULL, "the server is shutting down");
        return 1;
    }
    if (!complete) {
        rs_reply_error(r, 500, RS_ERR_INTERNAL, NULL, "the model could not run this request");
        return 1;
    }
    return 0;
}
