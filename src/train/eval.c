/*
 * eval.c — `rnntrain eval`: a model's figures on a dataset.
 *
 * classifier: accuracy, macro_f1 (mean F1 over the labels that occur in the
 *   data or the predictions, as scikit-learn's default), top3_accuracy, nll
 *   (mean cross-entropy in nats), per-label precision/recall/F1/support and
 *   the confusion matrix (rows true label, columns predicted).
 * generator: nll_per_token, the mean of −ln p(next token) over every
 *   predicted position of <bos> c1 … cL <eos> (L + 1 per item), and
 *   perplexity = exp(nll_per_token).
 * Rows are evaluated as the file has them (no deduplication).  A text can
 * carry several labels (a surname of two nationalities), which caps the
 * accuracy over rows below 1, so the classifier also reports per_text:
 * over distinct texts, accuracy_any_label counts a text right when its
 * prediction is any of its labels, and "unambiguous" gives accuracy and
 * macro-F1 over the texts that have one label only.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "corpus.h"
#include "dataset.h"
#include "flags.h"
#include "model_rows.h"
#include "plot.h"
#include "rnnserve/model.h"
#include "rnnserve/status.h"
#include "rnnserve/translator.h"
#include "textlm.h"
#include "train.h"
#include "translate_cmd.h"

/* Mean F1 over the labels that occur in a (K, K) confusion matrix's gold
 * rows or predicted columns, as scikit-learn's default macro average. */
static double macro_f1(const long *confusion, int K)
{
    double f1_sum = 0.0;
    int f1_count = 0;
    for (int k = 0; k < K; k++) {
        long tp = confusion[(size_t)k * K + k], support = 0, predicted = 0;
        for (int j = 0; j < K; j++) {
            support += confusion[(size_t)k * K + j];
            predicted += confusion[(size_t)j * K + k];
        }
        if (support == 0 && predicted == 0)
            continue;
        double precision = predicted ? (double)tp / predicted : 0.0;
        double recall = support ? (double)tp / support : 0.0;
        f1_sum += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
        f1_count++;
    }
    return f1_count ? f1_sum / f1_count : 0.0;
}

/* A row, sorted by its text (then by row, for a stable order). */
typedef struct text_row {
    const char *text;
    int row;
} text_row;

static int by_text(const void *a, const void *b)
{
    const text_row *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : x->row - y->row;
}

/* per_text (see the top): rows grouped by text; predicted (n) is each row's
 * predicted label, the same for every row of a text. */
static cJSON *per_text_figures(const rs_dataset *d, const rs_model_rows *r, const int *predicted,
                               int K)
{
    text_row *order = malloc((size_t)r->n * sizeof *order);
    long *confusion = calloc((size_t)K * K, sizeof *confusion);
    char *has = calloc((size_t)K, 1);
    if (!order || !confusion || !has) {
        free(order);
        free(confusion);
        free(has);
        return NULL;
    }
    for (int i = 0; i < r->n; i++)
        order[i] = (text_row){d->items[i].text, i};
    qsort(order, (size_t)r->n, sizeof *order, by_text);
    long texts = 0, any_right = 0, unambiguous = 0, unambiguous_right = 0;
    for (int g = 0; g < r->n;) {
        int end = g + 1;
        while (end < r->n && strcmp(order[end].text, order[g].text) == 0)
            end++;
        memset(has, 0, (size_t)K);
        int distinct = 0, pred = predicted[order[g].row];
        for (int i = g; i < end; i++) {
            int label = r->label[order[i].row];
            distinct += !has[label];
            has[label] = 1;
        }
        texts++;
        any_right += has[pred];
        if (distinct == 1) {
            int gold = r->label[order[g].row];
            unambiguous++;
            unambiguous_right += gold == pred;
            confusion[(size_t)gold * K + pred]++;
        }
        g = end;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "n", (double)texts);
    cJSON_AddNumberToObject(out, "accuracy_any_label", texts ? (double)any_right / texts : 0.0);
    cJSON *u = cJSON_AddObjectToObject(out, "unambiguous");
    cJSON_AddNumberToObject(u, "n", (double)unambiguous);
    cJSON_AddNumberToObject(u, "accuracy",
                            unambiguous ? (double)unambiguous_right / unambiguous : 0.0);
    cJSON_AddNumberToObject(u, "macro_f1", macro_f1(confusion, K));
    free(order);
    free(confusion);
    free(has);
    return out;
}

static cJSON *eval_classifier(const rs_model *m, const rs_dataset *d, const rs_model_rows *r)
{
    const rs_config *cfg = rs_model_config(m);
    int K = cfg->n_outputs;
    rs_workspace *ws = rs_workspace_create(cfg, r->batch, r->width);
    rs_rows_batch bb;
    int bb_failed = rs_rows_batch_init(&bb, r);
    long *confusion = calloc((size_t)K * K, sizeof *confusion);
    int *predicted = malloc((size_t)r->n * sizeof *predicted);
    float *all_logits = malloc((size_t)r->n * K * sizeof *all_logits); /* (n, K): calibration */
    int *all_targets = malloc((size_t)r->n * sizeof *all_targets);
    if (!ws || bb_failed || !confusion || !predicted || !all_logits || !all_targets) {
        rs_workspace_destroy(ws);
        rs_rows_batch_free(&bb);
        free(confusion);
        free(predicted);
        free(all_logits);
        free(all_targets);
        return NULL;
    }
    double nll = 0.0;
    long correct = 0, top3 = 0;
    for (int start = 0; start < r->n; start += r->batch) {
        rs_rows_batch_fill(&bb, m, r, start);
        int B = bb.batch.B;
        const int32_t *targets = bb.targets;
        nll += rs_forward(ws, rs_model_params(m), &bb.batch, NULL) * B;
        const float *logits = rs_workspace_logits(ws);
        for (int b = 0; b < B; b++) {
            const float *z = logits + (size_t)b * K;
            int best = 0, rank = 0;
            for (int k = 1; k < K; k++)
                if (z[k] > z[best])
                    best = k;
            for (int k = 0; k < K; k++)
                if (z[k] > z[targets[b]])
                    rank++;
            predicted[bb.row[b]] = best;
            memcpy(all_logits + (size_t)bb.row[b] * K, z, (size_t)K * sizeof *z);
            all_targets[bb.row[b]] = targets[b];
            correct += best == targets[b];
            top3 += rank < 3;
            confusion[(size_t)targets[b] * K + best]++;
        }
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    cJSON_AddStringToObject(out, "task", "classifier");
    cJSON_AddNumberToObject(out, "n", r->n);
    cJSON_AddNumberToObject(out, "accuracy", (double)correct / r->n);
    cJSON_AddNumberToObject(out, "top3_accuracy", (double)top3 / r->n);
    /* the probabilities /classify gives: softmax(logits / T) */
    double T = rs_model_temperature(m);
    cJSON_AddNumberToObject(out, "nll",
                            T == 1.0 ? nll / r->n : rs_nll_at(all_logits, all_targets, r->n, K, T));
    cJSON_AddNumberToObject(out, "temperature", T);
    cJSON_AddNumberToObject(out, "ece", rs_ece(all_logits, all_targets, r->n, K, T));
    cJSON_AddNumberToObject(out, "nll_uncalibrated", nll / r->n);
    cJSON_AddNumberToObject(out, "ece_uncalibrated", rs_ece(all_logits, all_targets, r->n, K, 1));
    cJSON *per = cJSON_AddObjectToObject(out, "per_label");
    for (int k = 0; k < K; k++) {
        long tp = confusion[(size_t)k * K + k], support = 0, predicted = 0;
        for (int j = 0; j < K; j++) {
            support += confusion[(size_t)k * K + j];
            predicted += confusion[(size_t)j * K + k];
        }
        double precision = predicted ? (double)tp / predicted : 0.0;
        double recall = support ? (double)tp / support : 0.0;
        double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
        cJSON *e = cJSON_AddObjectToObject(per, rs_model_label(m, k));
        cJSON_AddNumberToObject(e, "precision", precision);
        cJSON_AddNumberToObject(e, "recall", recall);
        cJSON_AddNumberToObject(e, "f1", f1);
        cJSON_AddNumberToObject(e, "support", (double)support);
    }
    cJSON_AddNumberToObject(out, "macro_f1", macro_f1(confusion, K));
    cJSON *texts = per_text_figures(d, r, predicted, K);
    if (texts)
        cJSON_AddItemToObject(out, "per_text", texts);
    cJSON *conf = cJSON_AddObjectToObject(out, "confusion");
    cJSON *labels = cJSON_AddArrayToObject(conf, "labels");
    cJSON *matrix = cJSON_AddArrayToObject(conf, "matrix");
    for (int k = 0; k < K; k++) {
        cJSON_AddItemToArray(labels, cJSON_CreateString(rs_model_label(m, k)));
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < K; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)confusion[(size_t)k * K + j]));
        cJSON_AddItemToArray(matrix, row);
    }
    rs_workspace_destroy(ws);
    rs_rows_batch_free(&bb);
    free(confusion);
    free(predicted);
    free(all_logits);
    free(all_targets);
    if (!texts) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static cJSON *eval_generator(const rs_model *m, const rs_model_rows *r)
{
    rs_workspace *ws = rs_workspace_create(rs_model_config(m), r->batch, r->width);
    rs_rows_batch bb;
    if (rs_rows_batch_init(&bb, r) != 0 || !ws) {
        rs_workspace_destroy(ws);
        rs_rows_batch_free(&bb);
        return NULL;
    }
    double total = 0.0;
    long count = 0;
    for (int start = 0; start < r->n; start += r->batch) {
        rs_rows_batch_fill(&bb, m, r, start);
        total += rs_forward(ws, rs_model_params(m), &bb.batch, NULL) * (double)bb.steps;
        count += bb.steps;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", rs_model_name(m));
    cJSON_AddStringToObject(out, "task", "generator");
    cJSON_AddNumberToObject(out, "n", r->n);
    cJSON_AddNumberToObject(out, "tokens", (double)count);
    cJSON_AddNumberToObject(out, "nll_per_token", total / (double)count);
    cJSON_AddNumberToObject(out, "perplexity", exp(total / (double)count));
    rs_workspace_destroy(ws);
    rs_rows_batch_free(&bb);
    return out;
}

static void print_text(const cJSON *j)
{
    const char *task = cJSON_GetObjectItem(j, "task")->valuestring;
    printf("model %s, %d items\n", cJSON_GetObjectItem(j, "model")->valuestring,
           cJSON_GetObjectItem(j, "n")->valueint);
    if (strcmp(task, "generator") == 0) {
        printf("nll_per_token %.4f  perplexity %.3f  (%d tokens)\n",
               cJSON_GetObjectItem(j, "nll_per_token")->valuedouble,
               cJSON_GetObjectItem(j, "perplexity")->valuedouble,
               cJSON_GetObjectItem(j, "tokens")->valueint);
        return;
    }
    printf("accuracy %.4f  macro_f1 %.4f  top3_accuracy %.4f  nll %.4f\n",
           cJSON_GetObjectItem(j, "accuracy")->valuedouble,
           cJSON_GetObjectItem(j, "macro_f1")->valuedouble,
           cJSON_GetObjectItem(j, "top3_accuracy")->valuedouble,
           cJSON_GetObjectItem(j, "nll")->valuedouble);
    printf("calibration: temperature %.4f  ECE %.4f (uncalibrated %.4f, nll %.4f)\n",
           cJSON_GetObjectItem(j, "temperature")->valuedouble,
           cJSON_GetObjectItem(j, "ece")->valuedouble,
           cJSON_GetObjectItem(j, "ece_uncalibrated")->valuedouble,
           cJSON_GetObjectItem(j, "nll_uncalibrated")->valuedouble);
    const cJSON *texts = cJSON_GetObjectItem(j, "per_text");
    const cJSON *u = cJSON_GetObjectItem(texts, "unambiguous");
    printf("per text (%d distinct): accuracy_any_label %.4f;  the %d with one label: accuracy "
           "%.4f  macro_f1 %.4f\n\n",
           cJSON_GetObjectItem(texts, "n")->valueint,
           cJSON_GetObjectItem(texts, "accuracy_any_label")->valuedouble,
           cJSON_GetObjectItem(u, "n")->valueint, cJSON_GetObjectItem(u, "accuracy")->valuedouble,
           cJSON_GetObjectItem(u, "macro_f1")->valuedouble);
    printf("%-14s %9s %9s %9s %8s\n", "label", "precision", "recall", "f1", "support");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "per_label"))
    {
        printf("%-14s %9.3f %9.3f %9.3f %8d\n", e->string,
               cJSON_GetObjectItem(e, "precision")->valuedouble,
               cJSON_GetObjectItem(e, "recall")->valuedouble,
               cJSON_GetObjectItem(e, "f1")->valuedouble,
               cJSON_GetObjectItem(e, "support")->valueint);
    }
}

/* A textlm: the text of data read as one running text, −ln p of every
 * character after the first, state carried from zeros (DESIGN.md). */
static int eval_textlm(const rs_model *m, const char *data, int json)
{
    char err[1024];
    rs_corpus corpus;
    if (rs_corpus_load(data, &corpus, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: %s\n", err);
        return 1;
    }
    int32_t *ids = malloc((size_t)corpus.n * sizeof *ids);
    if (!ids) {
        rs_corpus_free(&corpus);
        fprintf(stderr, "rnntrain eval: out of memory\n");
        return 1;
    }
    int unk = rs_model_token_id(m, "<unk>", 5);
    long unknown = 0, n_ids = corpus.n;
    if (rs_model_is_word(m)) { /* words: the model's own tokenizer over the whole text */
        char *text = malloc((size_t)corpus.n * 4 + 1);
        size_t len = 0;
        for (long i = 0; text && i < corpus.n; i++)
            len += (size_t)rs_utf8_encode(corpus.cps[i], text + len);
        int n_unknown = 0;
        int n = text ? rs_model_encode_words(m, text, len, ids, (int)corpus.n, NULL, 0, &n_unknown)
                     : -1;
        free(text);
        if (n < 0) {
            fprintf(stderr, "rnntrain eval: %s: cannot read it as words (%d)\n", data, n);
            free(ids);
            rs_corpus_free(&corpus);
            return 1;
        }
        n_ids = n;
        unknown = n_unknown;
    }
    for (long i = 0; i < corpus.n && !rs_model_is_word(m); i++) {
        char buf[4];
        int k = rs_utf8_encode(corpus.cps[i], buf);
        ids[i] = rs_model_token_id(m, buf, (size_t)k);
        if (ids[i] < 0) {
            ids[i] = unk;
            unknown++;
        }
    }
    if (unknown > 0 && unk < 0) {
        fprintf(stderr,
                "rnntrain eval: %s: %ld characters the model cannot read and it has no "
                "<unk>\n",
                data, unknown);
        free(ids);
        rs_corpus_free(&corpus);
        return 1;
    }
    long count = 0;
    double nll = rs_textlm_nll(m, ids, n_ids, &count);
    free(ids);
    rs_corpus_free(&corpus);
    if (isnan(nll) || count == 0) {
        fprintf(stderr, "rnntrain eval: %s: %s\n", data,
                count == 0 ? "needs at least two characters" : "out of memory");
        return 1;
    }
    if (json)
        printf("{\"tokens\":%ld,\"unknown_tokens\":%ld,\"nll_per_token\":%.6f,"
               "\"perplexity\":%.6f}\n",
               count, unknown, nll, exp(nll));
    else
        printf("tokens %ld (%ld unknown)  nll/token %.4f  perplexity %.3f\n", count, unknown, nll,
               exp(nll));
    return 0;
}

/* --confusion: the classifier's confusion matrix of `result` as an SVG. */
static int draw_confusion(const rs_model *m, const cJSON *result, const char *data,
                          const char *path, char *err, size_t errlen)
{
    const cJSON *matrix = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(result, "confusion"), "matrix");
    int K = rs_model_label_count(m);
    long *counts = calloc((size_t)K * K, sizeof *counts);
    const char **labels = calloc((size_t)K, sizeof *labels);
    if (!counts || !labels || cJSON_GetArraySize(matrix) != K) {
        free(counts);
        free(labels);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < K; i++) {
        labels[i] = rs_model_label(m, i);
        const cJSON *row = cJSON_GetArrayItem(matrix, i);
        for (int j = 0; j < K; j++)
            counts[(size_t)i * K + j] = (long)cJSON_GetArrayItem(row, j)->valuedouble;
    }
    char title[256];
    const char *slash = strrchr(data, '/');
    snprintf(title, sizeof title, "%s on %s: confusion matrix", rs_model_name(m),
             slash ? slash + 1 : data);
    int rc = rs_plot_confusion(path, title, labels, K, counts, err, errlen);
    free(counts);
    free(labels);
    return rc;
}

/* The value of --model in argv, or NULL. */
static const char *model_arg(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--model=", 8) == 0)
            return argv[i] + 8;
    }
    return NULL;
}

int rs_eval_main(int argc, char **argv)
{
    const char *given = model_arg(argc, argv);
    if (given && rs_translator_file_is(given)) /* its own flags: beam search, … */
        return rs_translator_eval(argc, argv);
    const char *model_path = NULL, *data = NULL, *confusion_svg = NULL;
    int json = 0;
    flag flags[] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "model file", 0, NULL},
        {"data", NULL, FLAG_STRING, &data, 0, 0, NULL, "dataset (.tsv or .txt)", 0, NULL},
        {"json", NULL, FLAG_BOOL, &json, 0, 0, NULL, "print one JSON object", 0, NULL},
        {"confusion", NULL, FLAG_STRING, &confusion_svg, 0, 0, NULL,
         "classifier: draw the confusion matrix, row-normalised, as an SVG", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status =
        flags_command("rnntrain eval",
                      "usage: rnntrain eval --model M --data FILE [--json]\n\n(a translator "
                      "model has decoding flags of its own: rnntrain eval --model T --help)\n\n",
                      flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path || !data) {
        fprintf(stderr, "rnntrain eval: --model and --data are required\n");
        return 2;
    }
    rs_model *m = NULL;
    rs_dataset d = {0};
    rs_model_rows r = {0};
    cJSON *result = NULL;
    int status = 1;
    if (rs_model_open(model_path, &m, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: %s\n", err);
        goto done;
    }
    const rs_config *cfg = rs_model_config(m);
    if (confusion_svg && cfg->task != RS_TASK_CLASSIFIER) {
        fprintf(stderr, "rnntrain eval: --confusion is for classifiers; %s is a %s\n", model_path,
                rs_task_name(cfg->task));
        goto done;
    }
    if (cfg->task == RS_TASK_TEXTLM) {
        status = eval_textlm(m, data, json);
        goto done;
    }
    if (rs_dataset_load(data, RS_NORMALIZE_NONE, RS_DATA_MAX_CHARS, &d, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: %s\n", err);
        goto done;
    }
    if (cfg->task == RS_TASK_CLASSIFIER && !d.tsv) {
        fprintf(stderr, "rnntrain eval: %s: a classifier is evaluated on a .tsv with labels\n",
                data);
        goto done;
    }
    if (cfg->n_categories > 0 && !d.tsv) {
        fprintf(stderr, "rnntrain eval: %s: a conditional generator needs a .tsv with categories\n",
                data);
        goto done;
    }
    int use_labels = cfg->task == RS_TASK_CLASSIFIER || cfg->n_categories > 0;
    if (rs_model_rows_encode(m, &d, use_labels, &r, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: %s\n", err);
        goto done;
    }
    result = cfg->task == RS_TASK_CLASSIFIER ? eval_classifier(m, &d, &r) : eval_generator(m, &r);
    if (!result) {
        fprintf(stderr, "rnntrain eval: out of memory\n");
        goto done;
    }
    if (confusion_svg && draw_confusion(m, result, data, confusion_svg, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: --confusion: %s\n", err);
        goto done;
    }
    if (json) {
        char *s = cJSON_PrintUnformatted(result);
        printf("%s\n", s);
        free(s);
    } else {
        print_text(result);
    }
    status = 0;
done:
    cJSON_Delete(result);
    rs_model_rows_free(&r);
    rs_dataset_free(&d);
    rs_model_close(m);
    return status;
}
