/*
 * sample_cmd.c — `rnntrain sample`: draw texts from a generator, through the
 * same one-sequence inference path the daemon uses (infer.h).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "flags.h"
#include "rnnserve/infer.h"
#include "rnnserve/model.h"
#include "rnnserve/status.h"
#include "train.h"

/* A textlm: count continuations of prompt, max_tokens each, as POST
 * /generate makes them for the same seed (the one decoding of rs_decode). */
static int sample_textlm(const rs_model *m, const char *prompt, int max_tokens, int count,
                         double temperature, int top_k, double top_p, double penalty, uint64_t seed,
                         int json)
{
    const rs_config *cfg = rs_model_config(m);
    size_t plen = strlen(prompt);
    int cap = (int)plen + max_tokens;
    int32_t *ids = malloc((size_t)cap * sizeof *ids), *out = malloc((size_t)cap * sizeof *out);
    float *work = malloc((size_t)cfg->vocab_size * sizeof *work);
    rs_infer_model *im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    rs_infer *inf = im ? rs_infer_create(im, cap) : NULL;
    cJSON *all = cJSON_CreateObject();
    cJSON *samples = cJSON_AddArrayToObject(all, "samples");
    int status = 1;
    char unknown[256];
    if (!ids || !out || !work || !inf || !samples) {
        fprintf(stderr, "rnntrain sample: out of memory\n");
        goto done;
    }
    int n_prompt = rs_model_encode(m, prompt, plen, ids, cap, unknown, sizeof unknown);
    if (n_prompt < 1) {
        fprintf(stderr, "rnntrain sample: %s\n",
                n_prompt == RS_EUNKNOWN ? "the prompt has characters the model cannot read"
                : n_prompt == 0         ? "the prompt is empty"
                                        : "the prompt is not valid UTF-8");
        if (n_prompt == RS_EUNKNOWN)
            fprintf(stderr, "  %s\n", unknown);
        goto done;
    }
    rs_special_ids special = rs_model_special_ids(m);
    rs_sampler sampler = {(float)temperature, top_k, (float)top_p};
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    cJSON_AddStringToObject(all, "model", rs_model_name(m));
    for (int i = 0; i < count; i++) {
        rs_decode d;
        if (rs_decode_init_generate(&d, &special, ids, n_prompt, n_prompt + max_tokens, &sampler,
                                    &rng, out) != 0 ||
            rs_decode_set_text(&d) != 0)
            goto done;
        rs_decode_set_penalty(&d, (float)penalty, work);
        rs_infer_decode(inf, &d, -1);
        char *text =
            rs_model_detokenize_after(m, out + n_prompt, d.n_out - n_prompt, out[n_prompt - 1]);
        if (!text)
            goto done;
        if (json) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "text", text);
            cJSON_AddNumberToObject(s, "log_prob", d.log_prob);
            cJSON_AddNumberToObject(s, "tokens", d.n_out - n_prompt);
            cJSON_AddItemToArray(samples, s);
        } else {
            printf("%s%s\n", i ? "\n---\n" : "", text);
        }
        free(text);
    }
    if (json) {
        char *s = cJSON_PrintUnformatted(all);
        printf("%s\n", s);
        free(s);
    }
    status = 0;
done:
    cJSON_Delete(all);
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
    free(ids);
    free(out);
    free(work);
    return status;
}

int rs_sample_main(int argc, char **argv)
{
    const char *model_path = NULL, *prefix = "", *category = NULL, *prompt = "\n", *acrostic = NULL;
    int count = 10, top_k = 0, max_length = 32, max_tokens = 200, json = 0;
    double temperature = 1.0, top_p = 1.0, penalty = 1.0;
    uint64_t seed = 0;
    flag flags[] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "generator model file", 0, NULL},
        {"prefix", NULL, FLAG_STRING, &prefix, 0, 0, NULL, "text every sample starts with", 0,
         NULL},
        {"category", NULL, FLAG_STRING, &category, 0, 0, NULL,
         "category (conditional models; default a random one per sample)", 0, NULL},
        {"count", "n", FLAG_INT, &count, 1, 10000, NULL, "number of samples", 0, NULL},
        {"temperature", NULL, FLAG_DOUBLE, &temperature, 0, 5, NULL, "0 = greedy", 0, NULL},
        {"top-k", NULL, FLAG_INT, &top_k, 0, 1000000, NULL, "keep the k likeliest, 0 = all", 0,
         NULL},
        {"top-p", NULL, FLAG_DOUBLE, &top_p, 1e-6, 1, NULL, "nucleus mass, 1 = all", 0, NULL},
        {"max-length", NULL, FLAG_INT, &max_length, 1, RS_DATA_MAX_CHARS, NULL,
         "characters at most, prefix included", 0, NULL},
        {"acrostic", NULL, FLAG_STRING, &acrostic, 0, 0, NULL,
         "poems: these characters start the lines in turn (藏头诗)", 0, NULL},
        {"prompt", NULL, FLAG_STRING, &prompt, 0, 0, NULL,
         "textlm: the text to continue (default a line break)", 0, NULL},
        {"max-tokens", NULL, FLAG_INT, &max_tokens, 1, 65536, NULL,
         "textlm: tokens to generate after the prompt", 0, NULL},
        {"repetition-penalty", NULL, FLAG_DOUBLE, &penalty, 0.01, 10, NULL,
         "llama.cpp's penalty on the last 64 tokens, 1 = off", 0, NULL},
        {"seed", NULL, FLAG_U64, &seed, 0, 0, NULL, "random seed (default: from the clock)", 0,
         NULL},
        {"json", NULL, FLAG_BOOL, &json, 0, 0, NULL, "print one JSON object", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status =
        flags_command("rnntrain sample",
                      "usage: rnntrain sample --model M [--prefix P] [--category C] [-n N] "
                      "[--temperature T] [--seed S]\n\n",
                      flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path) {
        fprintf(stderr, "rnntrain sample: --model is required\n");
        return 2;
    }
    if (!flags_find(flags, n_flags, "seed")->seen)
        seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 20);
    rs_model *m = NULL;
    rs_infer *inf = NULL;
    rs_infer_model *im = NULL;
    cJSON *out = NULL;
    int status = 1;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain sample: %s\n", err);
        goto done;
    }
    const rs_config *cfg = rs_model_config(m);
    if (cfg->task == RS_TASK_CLASSIFIER) {
        fprintf(stderr, "rnntrain sample: %s is a %s, not a generator\n", model_path, "classifier");
        goto done;
    }
    if (cfg->task == RS_TASK_TEXTLM) {
        status = sample_textlm(m, prompt, max_tokens, count, temperature, top_k, top_p, penalty,
                               seed, json);
        goto done;
    }
    int cat = -1;
    if (category) {
        if (cfg->n_categories == 0) {
            fprintf(stderr, "rnntrain sample: %s has no categories\n", model_path);
            goto done;
        }
        cat = rs_model_category_id(m, category);
        if (cat < 0) {
            fprintf(stderr,
                    "rnntrain sample: category \"%s\" is not one the model knows:", category);
            for (int i = 0; i < cfg->n_categories; i++)
                fprintf(stderr, "%s %s", i ? "," : "", rs_model_category(m, i));
            fputc('\n', stderr);
            goto done;
        }
    }
    int32_t ids[RS_DATA_MAX_CHARS + 1], out_ids[RS_DATA_MAX_CHARS + 1];
    char unknown[256];
    int n_prefix = 0;
    if (prefix[0]) {
        n_prefix =
            rs_model_encode(m, prefix, strlen(prefix), ids, max_length, unknown, sizeof unknown);
        if (n_prefix == RS_EUNKNOWN) {
            fprintf(stderr,
                    "rnntrain sample: the prefix has characters the model cannot read: %s\n",
                    unknown);
            goto done;
        }
        if (n_prefix == RS_ETOOLONG) {
            fprintf(stderr, "rnntrain sample: the prefix is longer than --max-length %d\n",
                    max_length);
            goto done;
        }
        if (n_prefix < 0) {
            fprintf(stderr, "rnntrain sample: the prefix is not valid UTF-8\n");
            goto done;
        }
    }
    /* the daemon's arithmetic (precomputed input projections), so that a
     * seed gives the same names here and from POST /generate */
    im = rs_infer_model_create(cfg, rs_model_params(m), 1);
    inf = im ? rs_infer_create(im, RS_DATA_MAX_CHARS + 1) : NULL;
    if (!inf) {
        fprintf(stderr, "rnntrain sample: out of memory\n");
        goto done;
    }
    /* an acrostic: its characters, and the line breaks the model writes */
    int32_t acrostic_ids[16], breaks[5];
    int n_acrostic = 0, n_breaks = 0;
    if (acrostic) {
        static const char *const marks[5] = {"，", "。", "！", "？", "；"};
        for (int i = 0; i < 5; i++) {
            int id = rs_model_token_id(m, marks[i], strlen(marks[i]));
            if (id >= 0)
                breaks[n_breaks++] = id;
        }
        n_acrostic = rs_model_encode(m, acrostic, strlen(acrostic), acrostic_ids, 16, unknown,
                                     sizeof unknown);
        if (n_breaks == 0 || n_acrostic < 1 || n_prefix > 0) {
            fprintf(stderr, "rnntrain sample: --acrostic needs 1 to 16 characters the model "
                            "reads, a model that writes ，。！？；, and no --prefix\n");
            goto done;
        }
    }
    rs_special_ids special = rs_model_special_ids(m);
    rs_sampler sampler = {(float)temperature, top_k, (float)top_p};
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    cJSON *samples = cJSON_AddArrayToObject(out, "samples");
    for (int i = 0; i < count; i++) {
        int this_cat = cat;
        if (cfg->n_categories > 0 && cat < 0)
            this_cat = (int)rs_rng_below(&rng, (uint32_t)cfg->n_categories);
        rs_decode d;
        if (rs_decode_init_generate(&d, &special, ids, n_prefix, max_length, &sampler, &rng,
                                    out_ids) != 0)
            goto done;
        if (n_acrostic > 0)
            rs_decode_set_acrostic(&d, acrostic_ids, n_acrostic, breaks, n_breaks);
        rs_infer_decode(inf, &d, this_cat);
        int n_out = d.n_out, finished = d.finished;
        double log_prob = d.log_prob;
        char *text = rs_model_detokenize(m, out_ids, n_out);
        if (!text) {
            fprintf(stderr, "rnntrain sample: out of memory\n");
            goto done;
        }
        if (json) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "text", text);
            cJSON_AddNumberToObject(s, "log_prob", log_prob);
            if (this_cat >= 0)
                cJSON_AddStringToObject(s, "category", rs_model_category(m, this_cat));
            cJSON_AddBoolToObject(s, "finished", finished);
            cJSON_AddItemToArray(samples, s);
        } else if (this_cat >= 0 && cat < 0) {
            printf("%s\t%s\n", text, rs_model_category(m, this_cat));
        } else {
            printf("%s\n", text);
        }
        free(text);
    }
    if (json) {
        char *s = cJSON_PrintUnformatted(out);
        printf("%s\n", s);
        free(s);
    }
    status = 0;
done:
    cJSON_Delete(out);
    rs_infer_destroy(inf);
    rs_infer_model_destroy(im);
    rs_model_close(m);
    return status;
}
