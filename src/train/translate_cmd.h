/*
 * translate_cmd.h — `rnntrain translate` and `rnntrain eval` on a
 * translator (translate_cmd.c).
 */
#ifndef RNNTRAIN_TRANSLATE_CMD_H
#define RNNTRAIN_TRANSLATE_CMD_H

int rs_translate_main(int argc, char **argv);
int rs_translator_eval(int argc, char **argv);

#endif
