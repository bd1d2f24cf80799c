/*
 * info_cmd.c — `rnntrain info`: what a model file holds, after the same full
 * validation the daemon applies (so "ok" here means the daemon will load it).
 * A translator file (task "translator") is opened as the daemon opens one,
 * through translator.h, and described by the same fields GET /v1/models
 * lists for it.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "flags.h"
#include "rnnserve/model.h"
#include "rnnserve/translator.h"
#include "train.h"

static void print_list(const char *title, const rs_model *m, int n,
                       const char *(*get)(const rs_model *, int))
{
    printf("%-14s %d:", title, n);
    for (int i = 0; i < n; i++)
        printf(" %s", get(m, i));
    printf("\n");
}

/* "<pad> <bos> <eos> <unk> the a ... (8854 more)": at most 200 tokens. */
static void print_vocab(const char *title, const rs_translator *t, int side, int n)
{
    printf("%-14s %d words:", title, n);
    int shown = n < 200 ? n : 200;
    for (int i = 0; i < shown; i++)
        printf(" %s", rs_translator_token(t, side, i));
    if (shown < n)
        printf(" ... (%d more)", n - shown);
    printf("\n");
}

static int info_translator(const char *path, int json, long long size)
{
    char err[512];
    rs_translator *t = NULL;
    if (rs_translator_open(path, &t, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain info: %s\n", err);
        return 1;
    }
    char *name = rs_model_name_of(path);
    cJSON *j = name ? rs_translator_describe(t, name) : NULL;
    if (!j) {
        fprintf(stderr, "rnntrain info: out of memory\n");
        free(name);
        rs_translator_close(t);
        return 1;
    }
    if (json) {
        cJSON_AddNumberToObject(j, "file_bytes", (double)size);
        cJSON_AddStringToObject(j, "checks", "ok");
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
    } else {
        const rs_s2s_config *c = rs_translator_config(t);
        const rs_shortlist *sl = rs_translator_shortlist(t);
        const char *training = rs_translator_metadata(t, "training");
        printf("%-14s %s\n", "model", name);
        printf("%-14s %s (%lld bytes)\n", "file", path, size);
        printf("%-14s translator\n", "task");
        printf("%-14s %s%s encoder, %s decoder with attention, %d layer%s, hidden %d, "
               "embedding %d\n",
               "network", c->bidirectional ? "bidirectional " : "", rs_cell_name(c->cell),
               rs_cell_name(c->cell), c->num_layers, c->num_layers > 1 ? "s" : "", c->hidden_size,
               c->embedding_dim);
        printf("%-14s %zu\n", "parameters", rs_s2s_param_count(c));
        print_vocab("source", t, 0, c->src_vocab);
        print_vocab("target", t, 1, c->tgt_vocab);
        if (sl)
            printf("%-14s %d common target words, %d per source word\n", "shortlist", sl->common,
                   sl->per_word);
        else
            printf("%-14s (none: every search over the whole target vocabulary)\n", "shortlist");
        printf("%-14s %s\n", "training", training ? training : "(none)");
        printf("%-14s ok: every tensor present, F32, with the shape the metadata implies, every "
               "value finite\n",
               "checks");
    }
    cJSON_Delete(j);
    free(name);
    rs_translator_close(t);
    return 0;
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
    int exit_status = flags_command("rnntrain info", "usage: rnntrain info --model M [--json]\n\n",
                                    flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path) {
        fprintf(stderr, "rnntrain info: --model is required\n");
        return 2;
    }
    struct stat st;
    long long size = stat(model_path, &st) == 0 ? (long long)st.st_size : -1;
    if (rs_translator_file_is(model_path))
        return info_translator(model_path, json, size);
    rs_model *m = NULL;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain info: %s\n", err);
        return 1;
    }
    const rs_config *cfg = rs_model_config(m);
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
