/*
 * test_pairs.c — sentence pairs for the translator (src/train/pairs.c):
 * lower-casing, the typographic apostrophe, French elision, and the
 * one-line refusals of a bad file (no tab, an empty side, invalid UTF-8,
 * no pair at all) naming file and line; a second file appended after the
 * first (rnntrain translator --valid-data) into the same token tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "pairs.h"

typedef struct joined {
    char text[256];
} joined;

static void append(const char *token, size_t len, void *ctx)
{
    joined *j = ctx;
    size_t at = strlen(j->text);
    snprintf(j->text + at, sizeof j->text - at, "%s%.*s", at ? "|" : "", (int)len, token);
}

static const char *cut(const char *s, int french, joined *j)
{
    j->text[0] = '\0';
    if (rs_sentence_tokens(s, strlen(s), french, append, j) != 0)
        return "(invalid)";
    return j->text;
}

static void test_sentences(void)
{
    joined j;
    ASSERT_STREQ("i|am|cold|.", cut("I am cold.", 0, &j));
    ASSERT_STREQ("i'm|not|sure|!", cut("I'm not sure!", 0, &j));
    ASSERT_STREQ("don't|go|.", cut("Don\xe2\x80\x99t go.", 0, &j)); /* ’ read as ' */
    ASSERT_STREQ("j'|ai|froid|.", cut("J'ai froid.", 1, &j));
    ASSERT_STREQ("qu'|il|est|là|?", cut("Qu\xe2\x80\x99il est l\xc3\xa0 ?", 1, &j));
    ASSERT_STREQ("c'|est|aujourd'hui|.", cut("C'est aujourd'hui.", 1, &j));
    ASSERT_STREQ("jusqu'|à|l'|été|.", cut("Jusqu'à l'été.", 1, &j));
    ASSERT_STREQ("à|l'|aide|!", cut("À l'aide !", 1, &j));
    /* English keeps its contractions whole; French elision only with the flag */
    ASSERT_STREQ("l'aide", cut("l'aide", 0, &j));
    ASSERT_STREQ("(invalid)", cut("caf\xc3", 1, &j));
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_pairs_%d.tsv", (int)getpid());
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_refusal(const char *text, const char *message)
{
    char err[512], want[256];
    rs_pairs p;
    const char *path = write_file(text);
    snprintf(want, sizeof want, "%s%s", path, message);
    ASSERT_EQ(-1, rs_pairs_load(path, &p, err, sizeof err));
    ASSERT_STREQ(want, err);
    unlink(path);
}

static void test_file(void)
{
    char err[512];
    rs_pairs p;
    const char *path = write_file("Go.\tVa !\n\nI'm cold.\tJ'ai froid.\tCC-BY Tatoeba\r\n"
                                  "Go.\tAllez !\n");
    ASSERT_EQ(0, rs_pairs_load(path, &p, err, sizeof err));
    ASSERT_EQ(3, p.n);
    ASSERT_EQ(4, p.line[2]); /* the blank line is skipped but counted */
    /* pair 1: i'm cold . → j' ai froid . */
    ASSERT_EQ(3, p.src_off[2] - p.src_off[1]);
    ASSERT_EQ(4, p.tgt_off[2] - p.tgt_off[1]);
    ASSERT_STREQ("j'", p.tgt.token[p.tgt_tok[p.tgt_off[1]]]);
    /* "go" twice, "." twice on the source side */
    int go = p.src_tok[p.src_off[0]];
    ASSERT_STREQ("go", p.src.token[go]);
    ASSERT_EQ(2, p.src.count[go]);
    ASSERT_EQ(p.src_tok[p.src_off[0]], p.src_tok[p.src_off[2]]);
    rs_pairs_free(&p);
    unlink(path);

    expect_refusal("Go.\tVa !\nno tab here\n",
                   ":2: no tab between the source and the target sentence");
    expect_refusal("Go.\tVa !\n\t Va !\n", ":2: the source sentence is empty");
    expect_refusal("Go.\t  \n", ":1: the target sentence is empty");
    expect_refusal("Go.\tVa !\nCaf\xc3\tcaf\xc3\xa9\n", ":2: invalid UTF-8");
    expect_refusal("\n\n", ": no sentence pairs");
}

static void test_append(void)
{
    char err[512], second[80];
    rs_pairs p;
    const char *path = write_file("Go.\tVa !\nI'm cold.\tJ'ai froid.\n");
    ASSERT_EQ(0, rs_pairs_load(path, &p, err, sizeof err));
    snprintf(second, sizeof second, "%s.2", path);
    FILE *f = fopen(second, "wb");
    fputs("\nGo!\tAllez !\nHot.\tChaud.\n", f);
    fclose(f);
    ASSERT_EQ(0, rs_pairs_append(second, &p, err, sizeof err));
    ASSERT_EQ(4, p.n);
    ASSERT_EQ(2, p.line[2]); /* lines of the second file */
    ASSERT_EQ(3, p.line[3]);
    ASSERT_STREQ("Hot.\tChaud.", p.text[3]);
    ASSERT_EQ(p.src_off[2], p.src_off[1] + 3); /* offsets run on */
    /* "go" of both files is one token; "!" on both target sides too */
    ASSERT_EQ(p.src_tok[p.src_off[0]], p.src_tok[p.src_off[2]]);
    ASSERT_EQ(2, p.src.count[p.src_tok[p.src_off[0]]]);
    ASSERT_STREQ("chaud", p.tgt.token[p.tgt_tok[p.tgt_off[3]]]);
    ASSERT_EQ(p.tgt_off[4], p.tgt_off[3] + 2);
    /* a bad second file: its own name and line, and p freed */
    f = fopen(second, "wb");
    fputs("Go!\tAllez !\nno tab\n", f);
    fclose(f);
    ASSERT_EQ(-1, rs_pairs_append(second, &p, err, sizeof err));
    char want[160];
    snprintf(want, sizeof want, "%s:2: no tab between the source and the target sentence", second);
    ASSERT_STREQ(want, err);
    ASSERT_EQ(0, p.n);
    ASSERT_TRUE(p.text == NULL && p.src_tok == NULL);
    unlink(second);
    unlink(path);
}

int main(void)
{
    RUN_TEST(test_sentences);
    RUN_TEST(test_file);
    RUN_TEST(test_append);
    TEST_MAIN_END();
}
