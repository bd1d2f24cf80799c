/*
 * test_http_shipped.c — the models shipped in models/ (the fourth argument),
 * when there are any: a daemon of their own loads every file and gets
 * ready; every generator generates and its finished samples score to the
 * same log-likelihood; every classifier answers names (or names the
 * characters it cannot read); every translator translates two sentences
 * with beam search.  A binary of its own: the only area that
 * depends on what models/ holds, so a retrained model that breaks it names
 * itself.  Arguments and HTTP_ONLY: harness.h.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "harness.h"

static void shipped_models_serve_when_present(void)
{
    int count = 0;
    DIR *dir = shipped_dir ? opendir(shipped_dir) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        count += e->d_name[0] != '.' && n > 12 && !strcmp(e->d_name + n - 12, ".safetensors");
    }
    if (dir)
        closedir(dir);
    if (count == 0) {
        fprintf(stderr, "     (no shipped models in %s: skipped)\n",
                shipped_dir ? shipped_dir : "-");
        return;
    }
    daemon_proc d;
    int exited = -1;
    if (daemon_start(&d, shipped_dir, NULL, NULL, &exited) != 0) {
        TEST_FAIL_("rnnserve on %s did not start (exit %d, log %s)", shipped_dir, exited, d.log);
        return;
    }
    ASSERT_TRUE(wait_for(readyz_is, &d, 200, 30));
    ASSERT_TRUE(model_count_is(&d, count));
    /* whatever they are: every generator generates, and its samples score
     * to the same log-likelihood; every classifier answers a name (or
     * names the characters it cannot read) */
    resp list;
    if (GET_OK(&d, "/v1/models", &list)) {
        const cJSON *m;
        cJSON_ArrayForEach(m, jget(list.json, "models"))
        {
            char body[512];
            resp r;
            if (!strcmp(jstr(m, "task"), "classifier")) {
                snprintf(body, sizeof body,
                         "{\"model\":\"%s\",\"names\":[\"Nakamura\",\"\xc5\x9alus\xc3\xa0rski\"]}",
                         jstr(m, "name"));
                request(&d, "POST", "/classify", body, &r);
                ASSERT_TRUE(r.status == 200 || r.status == 422);
                resp_free(&r);
                continue;
            }
            if (!strcmp(jstr(m, "task"), "translator")) {
                snprintf(body, sizeof body,
                         "{\"model\":\"%s\",\"texts\":[\"I am cold.\",\"Where is the "
                         "station?\"],\"beam_size\":4,\"attention\":true}",
                         jstr(m, "name"));
                if (POST_OK(&d, "/translate", body, &r)) {
                    const cJSON *res;
                    cJSON_ArrayForEach(res, jget(r.json, "results"))
                    {
                        const cJSON *t = cJSON_GetArrayItem(jget(res, "translations"), 0);
                        ASSERT_TRUE(jstr(t, "text") != NULL && jnum(t, "log_prob") <= 0);
                    }
                }
                resp_free(&r);
                continue;
            }
            snprintf(body, sizeof body, "{\"model\":\"%s\",\"n\":4,\"seed\":3}", jstr(m, "name"));
            if (!POST_OK(&d, "/generate", body, &r))
                continue;
            const cJSON *sample;
            int textlm = !strcmp(jstr(m, "task"), "textlm");
            cJSON_ArrayForEach(sample, jget(r.json, "samples"))
            {
                if (textlm && !strcmp(jstr(m, "tokenizer"), "char")) {
                    /* a continuation of the default prompt, a line break:
                     * /score of the two counts every character after it */
                    char *text = malloc(strlen(jstr(sample, "text")) + 2);
                    sprintf(text, "\n%s", jstr(sample, "text"));
                    cJSON *q = cJSON_CreateObject();
                    cJSON_AddStringToObject(q, "model", jstr(m, "name"));
                    cJSON_AddStringToObject(q, "text", text);
                    char *qs = cJSON_PrintUnformatted(q);
                    resp sc;
                    if (POST_OK(&d, "/score", qs, &sc))
                        ASSERT_NEAR(jnum(sample, "log_prob"), jnum(sc.json, "log_prob"),
                                    1e-6 * fabs(jnum(sc.json, "log_prob")));
                    resp_free(&sc);
                    free(qs);
                    free(text);
                    cJSON_Delete(q);
                    continue;
                }
                if (!cJSON_IsTrue(jget(sample, "finished")))
                    continue;
                cJSON *q = cJSON_CreateObject();
                cJSON_AddStringToObject(q, "model", jstr(m, "name"));
                cJSON_AddStringToObject(q, "text", jstr(sample, "text"));
                if (jstr(sample, "category"))
                    cJSON_AddStringToObject(q, "category", jstr(sample, "category"));
                char *qs = cJSON_PrintUnformatted(q);
                resp sc;
                if (POST_OK(&d, "/score", qs, &sc))
                    ASSERT_NEAR(jnum(sample, "log_prob"), jnum(sc.json, "log_prob"), 1e-9);
                resp_free(&sc);
                free(qs);
                cJSON_Delete(q);
            }
            resp_free(&r);
        }
    }
    resp_free(&list);
    ASSERT_EQ(0, daemon_stop(&d));
}

static const http_scenario scenarios[] = {
    HTTP_SCENARIO(shipped_models_serve_when_present, HTTP_OWN_DAEMON),
};

HTTP_MAIN(scenarios)
