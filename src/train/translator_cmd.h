/*
 * translator_cmd.h — `rnntrain translator` (translator_cmd.c).
 */
#ifndef RNNTRAIN_TRANSLATOR_CMD_H
#define RNNTRAIN_TRANSLATOR_CMD_H

int rs_translator_main(int argc, char **argv);

#endif
