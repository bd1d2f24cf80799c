/*
 * test_segment.c — rs_segment cuts as jieba does without its HMM.
 *
 * tests/segment/make_segment_golden.py had jieba (Debian's python3-jieba,
 * HMM=False) cut 310 sentences — classical poems, and mixed ones with
 * Latin letters, digits, spaces, line breaks and jieba's block symbols —
 * with the dictionary it wrote beside them (tests/segment/dict.txt).  This
 * test builds rs_segmenter from the same dictionary and requires the same
 * pieces for every sentence, then checks bad UTF-8 is refused.
 * Usage: test_segment DIR (tests/segment)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/segment.h"

#define SEP "\xe2\x94\x82" /* U+2502, between pieces in golden.tsv */

typedef struct pieces {
    char out[8192];
    size_t len;
} pieces;

/* Appends a piece, escaped as the golden file writes it, with SEP between. */
static void collect(const char *piece, size_t len, void *ctx)
{
    pieces *p = ctx;
    if (p->len)
        p->len += (size_t)snprintf(p->out + p->len, sizeof p->out - p->len, "%s", SEP);
    for (size_t i = 0; i < len && p->len + 3 < sizeof p->out; i++) {
        char c = piece[i];
        if (c == '\n' || c == '\r' || c == '\t') {
            p->out[p->len++] = '\\';
            p->out[p->len++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            p->out[p->len++] = c;
        }
    }
    p->out[p->len] = '\0';
}

/* Undoes the golden file's \n \r \t escapes in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && (r[1] == 'n' || r[1] == 'r' || r[1] == 't')) {
            *w++ = r[1] == 'n' ? '\n' : r[1] == 'r' ? '\r' : '\t';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/segment";
    char path[512], line[16384];
    snprintf(path, sizeof path, "%s/dict.txt", dir);
    FILE *fp = fopen(path, "r");
    ASSERT_TRUE(fp != NULL);
    if (!fp)
        TEST_MAIN_END();
    char **words = NULL;
    double *counts = NULL;
    int n = 0, cap = 0;
    while (fgets(line, sizeof line, fp)) {
        char *space = strrchr(line, ' ');
        if (!space)
            continue;
        *space = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            words = realloc(words, (size_t)cap * sizeof *words);
            counts = realloc(counts, (size_t)cap * sizeof *counts);
        }
        words[n] = strdup(line);
        counts[n++] = strtod(space + 1, NULL);
    }
    fclose(fp);
    rs_segmenter *s = rs_segmenter_create((const char *const *)words, counts, n);
    ASSERT_TRUE(s != NULL);

    snprintf(path, sizeof path, "%s/golden.tsv", dir);
    fp = fopen(path, "r");
    ASSERT_TRUE(fp != NULL);
    int sentences = 0, same = 0;
    while (s && fp && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        const char *want = tab + 1;
        unescape(line);
        pieces got = {{0}, 0};
        ASSERT_EQ(0, rs_segment(s, line, strlen(line), collect, &got));
        sentences++;
        if (strcmp(got.out, want) == 0)
            same++;
        else
            TEST_FAIL_("sentence %d: jieba cut %s, rs_segment %s", sentences, want, got.out);
        test_checks_++;
    }
    if (fp)
        fclose(fp);
    printf("%d of %d sentences cut as jieba cuts them (%d dictionary entries)\n", same, sentences,
           n);
    ASSERT_TRUE(sentences >= 300);
    /* invalid UTF-8 is refused, nothing emitted after it */
    pieces got = {{0}, 0};
    ASSERT_EQ(-1, rs_segment(s, "\xe4\xb8", 2, collect, &got));
    rs_segmenter_destroy(s);
    for (int i = 0; i < n; i++)
        free(words[i]);
    free(words);
    free(counts);
    TEST_MAIN_END();
}
