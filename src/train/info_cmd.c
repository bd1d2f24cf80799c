/*
 * info_cmd.c — `rnntrain info`: what a model file holds, after the same full
 * validation the daemon applies (so "ok" here means the daemon will load it).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flags.h"
#include "rnnserve/model.h"
#include "train.h"

static void print_list(const char *title, const rs_model *m, int n,
                       const char *(*get)(const rs_model *, int))
{
    printf("%-14s %d:", title, n);
    for (int i = 0; i < n; i++)
        printf(" %s", get(m, i));
    printf("\n");
}

int rs_info_main(int argc, char **argv)
{
    const char *model_path = NULL;
    int json = 0;
    flag flags[] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "model file", 0, NULL},
        {"json", NULL, FLAG_BOOL, &json, 0, 0, NULL, "print one JSON object", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: rnntrain info --model M [--json]\n\n");
            flags_print(flags, n_flags);
            return 0;
        }
    char err[512];
    if (flags_parse(flags, n_flags, argc, argv, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain info: %s\n", err);
        return 2;
    }
    if (!model_path) {
        fprintf(stderr, "rnntrain info: --model is required\n");
        return 2;
    }
    rs_model *m = NULL;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain info: %s\n", err);
        return 1;
    }
    const rs_config *cfg = rs_model_config(m);
    struct stat st;
    long long size = stat(model_path, &st) == 0 ? (long long)st.st_size : -1;
    const char *training = rs_model_metadata(m, "training");
    if (json) {
        /* GET /v1/models's description, plus what only a file has */
        cJSON *j = rs_model_describe(m);
        cJSON_AddNumberToObject(j, "file_bytes", (double)size);
        cJSON_AddStringToObject(j, "checks", "ok");
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%-14s %s\n", "model", rs_model_name(m));
        printf("%-14s %s (%lld bytes)\n", "file", rs_model_path(m), size);
        printf("%-14s %s\n", "task", rs_task_name(cfg->task));
        printf("%-14s %s%s, %d layer%s, hidden %d, embedding %d", "network",
               cfg->bidirectional ? "bidirectional " : "", rs_cell_name(cfg->cell), cfg->num_layers,
               cfg->num_layers > 1 ? "s" : "", cfg->hidden_size, cfg->embedding_dim);
        if (cfg->category_dim)
            printf(", category embedding %d", cfg->category_dim);
        printf("\n%-14s %zu\n", "parameters", rs_param_count(cfg));
        printf("%-14s %d %s:", "vocabulary", cfg->vocab_size,
               rs_model_is_word(m) ? "words" : "characters");
        int shown = cfg->vocab_size < 200 ? cfg->vocab_size : 200; /* a word model has thousands */
        for (int i = 0; i < shown; i++) {
            const char *t = rs_model_token(m, i);
            printf(" %s", strcmp(t, "\n") == 0 ? "\\n" : t);
        }
        if (shown < cfg->vocab_size)
            printf(" ... (%d more)", cfg->vocab_size - shown);
        printf("\n");
        if (cfg->task == RS_TASK_CLASSIFIER)
            print_list("labels", m, rs_model_label_count(m), rs_model_label);
        if (cfg->n_categories)
            print_list("categories", m, rs_model_category_count(m), rs_model_category);
        printf("%-14s %s\n", "normalize", rs_normalize_name(rs_model_normalize(m)));
        printf("%-14s %s\n", "training", training ? training : "(none)");
        printf("%-14s ok: every tensor present, F32, with the shape the metadata implies, every "
               "value finite\n",
               "checks");
    }
    rs_model_close(m);
    return 0;
}
