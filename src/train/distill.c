/*
 * distill.c — the soft targets of knowledge distillation (see distill.h).
 *
 * Each teacher reads the items through its own vocabulary (model_rows.h), so
 * a teacher's ids need not be the student's.  Its softmax over its own
 * outputs is then re-expressed over the student's: p_student[k] =
 * p_teacher[map[k]], renormalised over the outputs the student has (a
 * teacher's mass on, say, an <unk> the student lacks is dropped).  The rows
 * of all teachers are averaged in probability space, as an ensemble
 * averages, each item over the teachers that teach it.  A conditional
 * generator teaching a classifier gives its posterior over its categories
 * instead (add_bayes_teacher).
 */
#include "distill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_rows.h"
#include "rnnserve/model.h"
#include "rnnserve/sha256.h"
#include "rnnserve/status.h"

int rs_distill_split_list(char *list, const char **paths, const char **seen, int *n, char *err,
                          size_t errlen)
{
    *n = 0;
    for (char *s = list;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        if (*s == '\0') {
            snprintf(err, errlen, "--teachers: an empty file name in the list");
            return RS_EINVAL;
        }
        if (*n == RS_DISTILL_MAX_TEACHERS) {
            snprintf(err, errlen, "--teachers: more than %d files", RS_DISTILL_MAX_TEACHERS);
            return RS_EINVAL;
        }
        char *colon = strchr(s, ':');
        if (colon) {
            *colon = '\0';
            if (*s == '\0' || colon[1] == '\0') {
                snprintf(err, errlen, "--teachers: \"%s:%s\" is not MODEL:DATA", s, colon + 1);
                return RS_EINVAL;
            }
        }
        seen[*n] = colon ? colon + 1 : NULL;
        paths[(*n)++] = s;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

/* map[k] = the teacher's output for the student's output k, -1 when the
 * teacher lacks it; only <pad> and <bos>, never a generator's target, may be
 * missing. */
static int map_outputs(const rs_model *m, const rs_distill_student *st, int *map, char *err,
                       size_t errlen)
{
    int generator = st->cfg->task == RS_TASK_GENERATOR;
    for (int k = 0; k < st->cfg->n_outputs; k++) {
        const char *name = st->outputs[k];
        map[k] = -1;
        if (generator) {
            map[k] = rs_model_token_id(m, name, strlen(name));
            if (map[k] < 0 && strcmp(name, RS_TOKEN_PAD) != 0 && strcmp(name, RS_TOKEN_BOS) != 0) {
                snprintf(err, errlen, "%s: the teacher's vocabulary has no \"%s\"",
                         rs_model_path(m), name);
                return RS_EINVAL;
            }
        } else {
            for (int j = 0; j < rs_model_label_count(m) && map[k] < 0; j++)
                if (strcmp(rs_model_label(m, j), name) == 0)
                    map[k] = j;
            if (map[k] < 0) {
                snprintf(err, errlen, "%s: the teacher has no label \"%s\"", rs_model_path(m),
                         name);
                return RS_EINVAL;
            }
        }
    }
    return 0;
}

/* A conditional generator teaching a classifier (Bayes' rule, see distill.h). */
static int is_bayes(const rs_model *m, const rs_distill_student *st)
{
    const rs_config *t = rs_model_config(m);
    return st->cfg->task == RS_TASK_CLASSIFIER && t->task == RS_TASK_GENERATOR &&
           t->n_categories > 0;
}

static int check_teacher(const rs_model *m, const rs_distill_student *st, char *err, size_t errlen)
{
    const rs_config *t = rs_model_config(m), *s = st->cfg;
    if (is_bayes(m, st)) {
        /* its categories stand for the labels, matched by name in add_bayes_teacher */
    } else if (t->task != s->task) {
        snprintf(err, errlen, "%s: a %s cannot teach a %s", rs_model_path(m), rs_task_name(t->task),
                 rs_task_name(s->task));
        return RS_EINVAL;
    } else if ((t->n_categories > 0) != (s->n_categories > 0)) {
        snprintf(err, errlen, "%s: the teacher is %sconditional, the student %sconditional",
                 rs_model_path(m), t->n_categories > 0 ? "" : "not ",
                 s->n_categories > 0 ? "" : "not ");
        return RS_EINVAL;
    }
    if (rs_model_normalize(m) != st->normalize) {
        snprintf(err, errlen, "%s: the teacher normalises text as \"%s\", the student as \"%s\"",
                 rs_model_path(m), rs_normalize_name(rs_model_normalize(m)),
                 rs_normalize_name(st->normalize));
        return RS_EINVAL;
    }
    return 0;
}

/* Adds teacher m's distribution over the student's outputs to every row of
 * the items it teaches (seen[i] == 0, or seen NULL), and counts them in
 * taught. */
static int add_teacher(const rs_model *m, const rs_distill_student *st, const rs_dataset *d,
                       const char *seen, const int *first_row, rs_real *soft, int *taught,
                       char *err, size_t errlen)
{
    const rs_config *tcfg = rs_model_config(m);
    int K = st->cfg->n_outputs, Kt = tcfg->n_outputs;
    int generator = st->cfg->task == RS_TASK_GENERATOR;
    int use_labels = !generator || st->cfg->n_categories > 0;
    rs_model_rows r = {0};
    rs_rows_batch bb = {0};
    int *map = malloc((size_t)K * sizeof *map);
    double *p = malloc((size_t)K * sizeof *p);
    rs_workspace *ws = NULL; /* sized for the rows, once encoded */
    int status = 0;
    if (!map || !p) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    if ((status = map_outputs(m, st, map, err, errlen)) != 0)
        goto done;
    char msg[512];
    if ((status = rs_model_rows_encode(m, d, use_labels, &r, msg, sizeof msg)) != 0) {
        snprintf(err, errlen, "teacher %s: %s", rs_model_path(m), msg);
        goto done;
    }
    if (!(ws = rs_workspace_create(tcfg, r.batch, r.width)) || rs_rows_batch_init(&bb, &r) != 0) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    for (int start = 0; start < r.n; start += r.batch) {
        rs_rows_batch_fill(&bb, m, &r, start);
        rs_forward(ws, rs_model_params(m), &bb.batch, NULL);
        const rs_real *logits =
            rs_workspace_logits(ws); /* classifier (B, K), generator (T, B, K) */
        int B = bb.batch.B;
        for (int b = 0; b < B; b++) {
            int item = bb.row[b], rows = generator ? bb.batch.lengths[b] : 1;
            if (seen && seen[item])
                continue;
            taught[item]++;
            if (first_row[item + 1] - first_row[item] != rows) {
                /* one id per character in both vocabularies, so this means a fault */
                snprintf(err, errlen, "teacher %s: %s:%d: read as %d characters, not %d",
                         rs_model_path(m), rs_dataset_item_path(d, item), d->items[item].line,
                         rows - 1, first_row[item + 1] - first_row[item] - 1);
                status = RS_EINVAL;
                goto done;
            }
            for (int t = 0; t < rows; t++) {
                const rs_real *z = logits + (generator ? (size_t)t * B + b : (size_t)b) * Kt;
                double mx = z[0], sum = 0.0;
                for (int j = 1; j < Kt; j++)
                    mx = z[j] > mx ? z[j] : mx;
                for (int k = 0; k < K; k++) {
                    p[k] = map[k] >= 0 ? exp(z[map[k]] - mx) : 0.0;
                    sum += p[k];
                }
                rs_real *q = soft + ((size_t)first_row[item] + t) * K;
                for (int k = 0; k < K; k++)
                    q[k] += (rs_real)(p[k] / sum);
            }
        }
    }
done:
    rs_model_rows_free(&r);
    rs_rows_batch_free(&bb);
    rs_workspace_destroy(ws);
    free(map);
    free(p);
    return status;
}

/*
 * Adds the posterior of a conditional generator over the student's labels to
 * the row of every item it teaches: log p(label) + Σ_t log p(c_t | c_<t,
 * label), summed over <bos> c1 … cL → c1 … cL <eos> and normalised over the
 * labels, with p(label) the labels' frequencies in d.
 */
static int add_bayes_teacher(const rs_model *m, const rs_distill_student *st, const rs_dataset *d,
                             const char *seen, const int *first_row, rs_real *soft, int *taught,
                             char *err, size_t errlen)
{
    const rs_config *tcfg = rs_model_config(m);
    int K = st->cfg->n_outputs, V = tcfg->n_outputs;
    rs_model_rows r = {0};
    rs_rows_batch bb = {0};
    int *category = malloc((size_t)K * sizeof *category);
    double *score = calloc((size_t)d->n * K, sizeof *score); /* (n, K) log p(text, label) */
    rs_workspace *ws = NULL;                                 /* sized for the rows, once encoded */
    int status = 0;
    if (!category || !score) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    for (int k = 0; k < K; k++)
        if ((category[k] = rs_model_category_id(m, st->outputs[k])) < 0) {
            snprintf(err, errlen, "%s: the teacher has no category \"%s\"", rs_model_path(m),
                     st->outputs[k]);
            status = RS_EINVAL;
            goto done;
        }
    char msg[512];
    if ((status = rs_model_rows_encode(m, d, 0, &r, msg, sizeof msg)) != 0) {
        snprintf(err, errlen, "teacher %s: %s", rs_model_path(m), msg);
        goto done;
    }
    if (!(ws = rs_workspace_create(tcfg, r.batch, r.width)) || rs_rows_batch_init(&bb, &r) != 0) {
        snprintf(err, errlen, "out of memory");
        status = RS_ENOMEM;
        goto done;
    }
    for (int k = 0; k < K; k++) { /* the prior: log of each label's count (+1) */
        double count = 1;
        for (int i = 0; i < d->n; i++)
            count += d->items[i].label == k;
        for (int i = 0; i < d->n; i++)
            score[(size_t)i * K + k] = log(count);
    }
    for (int k = 0; k < K; k++)
        for (int start = 0; start < r.n; start += r.batch) {
            rs_rows_batch_fill(&bb, m, &r, start);
            int B = bb.batch.B, T = bb.batch.T;
            for (int b = 0; b < B; b++)
                bb.categories[b] = category[k];
            bb.batch.categories = bb.categories;
            rs_forward(ws, rs_model_params(m), &bb.batch, NULL);
            const rs_real *logits = rs_workspace_logits(ws); /* (T, B, V) */
            for (int b = 0; b < B; b++) {
                int item = bb.row[b];
                if (seen && seen[item])
                    continue;
                double lp = 0.0; /* log p(<bos> text <eos> | label) */
                for (int t = 0; t < bb.batch.lengths[b]; t++)
                    lp += rs_log_softmax_at(logits + ((size_t)t * B + b) * V, V,
                                            bb.targets[(size_t)b * T + t]);
                score[(size_t)item * K + k] += lp;
            }
        }
    for (int i = 0; i < d->n; i++) {
        if (seen && seen[i])
            continue;
        const double *sc = score + (size_t)i * K;
        double mx = sc[0], sum = 0.0;
        for (int k = 1; k < K; k++)
            mx = sc[k] > mx ? sc[k] : mx;
        for (int k = 0; k < K; k++)
            sum += exp(sc[k] - mx);
        rs_real *q = soft + (size_t)first_row[i] * K;
        for (int k = 0; k < K; k++)
            q[k] += (rs_real)(exp(sc[k] - mx) / sum);
        taught[i]++;
    }
done:
    rs_model_rows_free(&r);
    rs_rows_batch_free(&bb);
    rs_workspace_destroy(ws);
    free(category);
    free(score);
    return status;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* seen[i] = 1 when item i's text is in the dataset at path (read with the
 * student's normalisation). */
static int mark_seen(const char *path, const rs_dataset *d, rs_normalize normalize, char *seen,
                     char *err, size_t errlen)
{
    rs_dataset known = {0};
    if (rs_dataset_load(path, normalize, RS_DATA_MAX_CHARS, &known, err, errlen) != 0)
        return RS_EINVAL;
    const char **texts = malloc(((size_t)known.n + 1) * sizeof *texts);
    if (!texts) {
        rs_dataset_free(&known);
        snprintf(err, errlen, "out of memory");
        return RS_ENOMEM;
    }
    for (int i = 0; i < known.n; i++)
        texts[i] = known.items[i].text;
    qsort(texts, (size_t)known.n, sizeof *texts, by_string);
    for (int i = 0; i < d->n; i++)
        seen[i] =
            bsearch(&d->items[i].text, texts, (size_t)known.n, sizeof *texts, by_string) != NULL;
    free(texts);
    rs_dataset_free(&known);
    return 0;
}

int rs_distill_targets(const char *const *paths, const char *const *seen_data, int n_teachers,
                       const rs_distill_student *student, const rs_dataset *d, const int *first_row,
                       const int32_t *targets, size_t n_rows, rs_real *soft, rs_teacher_info *info,
                       char *err, size_t errlen)
{
    int K = student->cfg->n_outputs;
    memset(soft, 0, n_rows * (size_t)K * sizeof *soft);
    int *taught = calloc((size_t)d->n + 1, sizeof *taught);
    char *seen = malloc((size_t)d->n + 1);
    if (!taught || !seen) {
        free(taught);
        free(seen);
        snprintf(err, errlen, "out of memory");
        return RS_ENOMEM;
    }
    int status = 0;
    for (int j = 0; j < n_teachers && status == 0; j++) {
        rs_model *m = NULL;
        if (rs_model_open(paths[j], &m, err, errlen) != 0) {
            status = RS_EINVAL;
            break;
        }
        status = check_teacher(m, student, err, errlen);
        if (status == 0 && seen_data[j])
            status = mark_seen(seen_data[j], d, student->normalize, seen, err, errlen);
        if (status == 0 && is_bayes(m, student))
            status = add_bayes_teacher(m, student, d, seen_data[j] ? seen : NULL, first_row, soft,
                                       taught, err, errlen);
        else if (status == 0)
            status = add_teacher(m, student, d, seen_data[j] ? seen : NULL, first_row, soft, taught,
                                 err, errlen);
        rs_model_close(m);
        if (status != 0)
            break;
        const char *slash = strrchr(paths[j], '/');
        snprintf(info[j].file, sizeof info[j].file, "%s", slash ? slash + 1 : paths[j]);
        if (rs_sha256_file(paths[j], info[j].sha256, err, errlen) != 0)
            status = RS_EINVAL;
        info[j].seen[0] = '\0';
        if (seen_data[j]) {
            slash = strrchr(seen_data[j], '/');
            snprintf(info[j].seen, sizeof info[j].seen, "%s", slash ? slash + 1 : seen_data[j]);
        }
    }
    /* the mean over the teachers that teach the item; an item no teacher
     * teaches keeps its own (onehot) target */
    for (int i = 0; i < d->n && status == 0; i++)
        for (int r = first_row[i]; r < first_row[i + 1]; r++) {
            rs_real *q = soft + (size_t)r * K;
            for (int k = 0; k < K; k++)
                q[k] = taught[i] ? q[k] / (rs_real)taught[i] : (rs_real)(k == targets[r]);
        }
    free(taught);
    free(seen);
    return status;
}
