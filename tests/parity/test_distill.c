/*
 * test_distill.c — distillation's soft targets against PyTorch.
 *
 * A conditional generator teaching a classifier (src/train/distill.c) must
 * give each name the posterior p(label | name) ∝ (count + 1)·p(name | label)
 * that tests/parity/make_bayes_golden.py computes with PyTorch from the same
 * golden generator and data (golden/bayes.expect.tsv).  The data's labels
 * are a subset of the generator's categories, so a mapping by position
 * instead of by name fails.  And a teacher that saw every text
 * (MODEL:DATA of the same file) teaches none: every row is its hard target.
 *
 * usage: test_distill GOLDEN_DIR
 */
#include <stdlib.h>

#include "../test.h"
#include "dataset.h"
#include "distill.h"

static char golden[512];

static const char *path_of(const char *name)
{
    static char buf[4][600];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", golden, name);
    return p;
}

/* Soft targets of a classifier student on bayes.tsv taught by the golden
 * conditional generator; seen = the teacher's DATA or NULL. */
static float *bayes_targets(rs_dataset *d, const char *seen_data)
{
    char err[512];
    ASSERT_EQ(0, rs_dataset_load(path_of("bayes.tsv"), RS_NORMALIZE_NONE, RS_DATA_MAX_CHARS, d, err,
                                 sizeof err));
    rs_config cfg = {.task = RS_TASK_CLASSIFIER, .n_outputs = d->n_labels};
    rs_distill_student student = {
        .cfg = &cfg, .outputs = (const char *const *)d->labels, .normalize = RS_NORMALIZE_NONE};
    int first_row[64];
    int32_t targets[64];
    ASSERT_TRUE(d->n < 64);
    for (int i = 0; i <= d->n; i++)
        first_row[i] = i;
    for (int i = 0; i < d->n; i++)
        targets[i] = d->items[i].label;
    float *soft = malloc((size_t)d->n * d->n_labels * sizeof *soft);
    const char *paths[1] = {path_of("lstm_generator_cond.model.safetensors")};
    const char *seen[1] = {seen_data};
    rs_teacher_info info[1];
    int status = rs_distill_targets(paths, seen, 1, &student, d, first_row, targets, (size_t)d->n,
                                    soft, info, err, sizeof err);
    if (status != 0)
        TEST_FAIL_("rs_distill_targets: %s", err);
    return soft;
}

static void bayes_teacher_matches_pytorch(void)
{
    rs_dataset d = {0};
    float *soft = bayes_targets(&d, NULL);
    ASSERT_EQ(2, d.n_labels);
    FILE *f = fopen(path_of("bayes.expect.tsv"), "r");
    ASSERT_TRUE(f != NULL);
    char text[64];
    double p0, p1;
    int rows = 0;
    while (f && fscanf(f, "%63s %lf %lf", text, &p0, &p1) == 3) {
        ASSERT_STREQ(text, d.items[rows].text);
        ASSERT_NEAR(p0, soft[rows * 2], 1e-6);
        ASSERT_NEAR(p1, soft[rows * 2 + 1], 1e-6);
        rows++;
    }
    ASSERT_EQ(d.n, rows);
    if (f)
        fclose(f);
    free(soft);
    rs_dataset_free(&d);
}

static void a_teacher_that_saw_every_text_teaches_none(void)
{
    rs_dataset d = {0};
    float *soft = bayes_targets(&d, path_of("bayes.tsv"));
    for (int i = 0; i < d.n; i++)
        for (int k = 0; k < d.n_labels; k++)
            ASSERT_NEAR(k == d.items[i].label ? 1.0 : 0.0, soft[i * d.n_labels + k], 0.0);
    free(soft);
    rs_dataset_free(&d);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_distill GOLDEN_DIR\n");
        return 2;
    }
    snprintf(golden, sizeof golden, "%s", argv[1]);
    RUN_TEST(bayes_teacher_matches_pytorch);
    RUN_TEST(a_teacher_that_saw_every_text_teaches_none);
    TEST_MAIN_END();
}
