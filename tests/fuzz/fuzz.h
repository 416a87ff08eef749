/* The libFuzzer entry points, declared once for every tests/fuzz/<name>_fuzzer.c (include
 * "fuzz/fuzz.h" or "fuzz.h") and the standalone replay driver. */
#ifndef CD_TESTS_FUZZ_H
#define CD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#endif
