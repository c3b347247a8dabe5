/* ISC license. */
/*
 * fuzz.h: the libFuzzer entry point every harness in fuzz/ defines.  Built
 * with clang -fsanitize=fuzzer it is libFuzzer's target (make fuzz); built
 * with replay.c by the ordinary compiler it is what bin/alba-fuzz-<name>
 * runs on each corpus file (make check).  The data is borrowed.
 */
#ifndef ALBA_FUZZ_H
#define ALBA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
