/*
 * test_request_corpus.c — replays the request fuzzer's corpus and every
 * saved finding (tests/fuzz/fuzz_request.c, linked in) through the daemon's
 * request path in the normal suites, so a crash once found stays fixed.
 *
 * The fuzz target aborts on anything it finds wrong (a reply out of range,
 * JSON that does not parse, a stream without its final event), and under
 * the ASan build a memory error or leak fails too.  Passing also needs the
 * seeds to reach the engine: some jobs finished and some streams read to
 * their end, so a corpus that only ever gets 400s fails.
 * Arguments: directories to replay.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern unsigned long fuzz_request_jobs, fuzz_request_streams;

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

static void replay_file(const char *path)
{
    size_t len = 0;
    unsigned char *bytes = slurp(path, &len);
    ASSERT_TRUE(bytes != NULL);
    if (!bytes)
        return;
    LLVMFuzzerTestOneInput(bytes, len);
    test_checks_++;
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
        unsigned long jobs = fuzz_request_jobs, streams = fuzz_request_streams;
        int n = replay_dir(argv[i]);
        fprintf(stderr, "%s: %d requests, %lu engine jobs, %lu streams\n", argv[i], n,
                fuzz_request_jobs - jobs, fuzz_request_streams - streams);
    }
    ASSERT_TRUE(fuzz_request_jobs >= 10);
    ASSERT_TRUE(fuzz_request_streams >= 2);
    TEST_MAIN_END();
}
