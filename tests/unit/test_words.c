/*
 * test_words.c — the word tokenizer (src/util/words.c): what it cuts a
 * text into, which pieces are CJK runs, and that joining the tokens with
 * rs_words_space_between writes the text back as the language writes it
 * (and rs_words_join in French typography as French does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/words.h"

typedef struct cut {
    char tokens[64][64];
    int cjk[64];
    int n;
} cut;

static void collect(const char *tok, size_t len, int cjk, void *ctx)
{
    cut *c = ctx;
    if (c->n < 64) {
        snprintf(c->tokens[c->n], sizeof c->tokens[0], "%.*s", (int)len, tok);
        c->cjk[c->n++] = cjk;
    }
}

/* The tokens joined by '|' (line breaks as \n), and the tokens re-joined. */
static void check(const char *text, const char *want_tokens, const char *want_joined,
                  const char *want_cjk)
{
    cut c = {.n = 0};
    ASSERT_EQ(0, rs_words_split(text, strlen(text), collect, &c));
    char got[1024] = "", joined[1024] = "", flags[65] = "";
    for (int i = 0; i < c.n; i++) {
        if (i)
            strcat(got, "|");
        strcat(got, strcmp(c.tokens[i], "\n") == 0 ? "\\n" : c.tokens[i]);
        if (i && rs_words_space_between(c.tokens[i - 1], strlen(c.tokens[i - 1]), c.tokens[i],
                                        strlen(c.tokens[i])))
            strcat(joined, " ");
        strcat(joined, c.tokens[i]);
        flags[i] = c.cjk[i] ? '1' : '0';
    }
    ASSERT_STREQ(want_tokens, got);
    ASSERT_STREQ(want_joined, joined);
    if (want_cjk)
        ASSERT_STREQ(want_cjk, flags);
}

/* tokens joined in French typography (rs_words_join), and in English */
static void check_french(const char *const *tokens, int n, const char *want)
{
    char *joined = rs_words_join(tokens, n, 1);
    ASSERT_STREQ(want, joined);
    free(joined);
}
int main(void)
{
    /* French: a space before ? ! : ; but not between two of them, nor
     * after an opening bracket; the rest as in English */
    static const char *const fr1[] = {"où", "est", "la", "gare", "?"};
    check_french(fr1, 5, "où est la gare ?");
    static const char *const fr2[] = {"quoi", "?",   "!", "j'", "ai", "froid", ":", "oui",
                                      ";",    "non", ",", "(",  "?",  ")",     "."};
    check_french(fr2, 15, "quoi ?! j'ai froid : oui ; non, (?).");
    static const char *const fr3[] = {"?", "bien", "!"};
    check_french(fr3, 3, "? bien !");
    char *english = rs_words_join(fr2, 15, 0);
    ASSERT_STREQ("quoi?! j'ai froid: oui; non, (?).", english);
    free(english);
    char *none = rs_words_join(fr2, 0, 1);
    ASSERT_STREQ("", none);
    free(none);
    check("ROMEO:\nIs the day so young?", "ROMEO|:|\\n|Is|the|day|so|young|?",
          "ROMEO:\nIs the day so young?", NULL);
    check("Don't,  'tis well-met -- sir!", "Don't|,|'tis|well-met|-|-|sir|!",
          "Don't, 'tis well-met - - sir!", NULL);
    check("(hello) [x], \"quoted\" 42%", "(|hello|)|[|x|]|,|\"|quoted|\"|42|%",
          "(hello) [x], \" quoted \" 42%", NULL);
    check("Café naïve façade", "Café|naïve|façade", "Café naïve façade", NULL);
    /* pre-segmented Chinese (jieba's words with spaces): words, joined without spaces */
    check("我 爱 北京 天安门 。", "我|爱|北京|天安门|。", "我爱北京天安门。", "11110");
    /* unsegmented: one CJK run, for the caller to cut by its vocabulary */
    check("床前明月光，疑是地上霜。", "床前明月光|，|疑是地上霜|。", "床前明月光，疑是地上霜。",
          "1010");
    check("東京タワーへ", "東京タワーへ", "東京タワーへ", "1");
    check("", "", "", "");
    check("   \t ", "", "", "");
    cut c = {.n = 0};
    ASSERT_EQ(-1, rs_words_split("ab\xc3", 3, collect, &c));
    TEST_MAIN_END();
}
