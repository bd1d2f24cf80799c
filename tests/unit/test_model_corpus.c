/*
 * test_model_corpus.c — replays the fuzz corpus and every saved fuzz finding
 * through the fuzz target (tests/fuzz/fuzz_model.c, linked in) in the normal
 * suites, so a crash once found stays fixed.  Each file is also opened by
 * path: rs_model_open and rs_model_parse must agree on every input.
 *
 * Passing means nothing crashed, the two readers agreed and some model was
 * accepted; under the ASan build (CI) a memory error also fails.
 * Arguments: directories to replay.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/model.h"
#include "test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whole file into a fresh heap buffer of exactly its size (so ASan sees overreads). */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
            buf = malloc(n > 0 ? (size_t)n : 1);
            if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                free(buf);
                buf = NULL;
            }
            *len = (size_t)n;
        }
    }
    fclose(fp);
    return buf;
}

static int accepted; /* files both readers accepted */

static void replay_file(const char *path)
{
    size_t len = 0;
    unsigned char *bytes = slurp(path, &len);
    ASSERT_TRUE(bytes != NULL);
    if (!bytes)
        return;
    LLVMFuzzerTestOneInput(bytes, len);

    char err_mem[256] = "", err_file[256] = "";
    rs_model *from_mem = NULL, *from_file = NULL;
    int rc_mem = rs_model_parse(bytes, len, path, &from_mem, err_mem, sizeof err_mem);
    int rc_file = rs_model_open(path, &from_file, err_file, sizeof err_file);
    if (rc_mem != rc_file || strcmp(err_mem, err_file) != 0)
        TEST_FAIL_("%s: rs_model_parse gave %d (%s), rs_model_open %d (%s)", path, rc_mem, err_mem,
                   rc_file, err_file);
    test_checks_++;
    accepted += rc_mem == 0 && rc_file == 0;
    rs_model_close(from_mem);
    rs_model_close(from_file);
    free(bytes);
}

/* Replays every regular file of dir in name order; returns how many. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_TRUE(d != NULL);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 0;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        size_t size = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(size);
        if (!names[n])
            break;
        snprintf(names[n], size, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        replay_file(names[i]);
        free(names[i]);
    }
    free(names);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int before = test_failures_, before_accepted = accepted;
        int n = replay_dir(argv[i]);
        fprintf(stderr, "%s %s: %d files, %d valid models\n",
                test_failures_ == before ? "ok  " : "FAIL", argv[i], n, accepted - before_accepted);
    }
    /* the seed corpus holds valid models: a reader that rejects everything fails here */
    ASSERT_TRUE(accepted > 0);
    TEST_MAIN_END();
}
