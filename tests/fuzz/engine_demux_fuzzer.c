/* The exec stream demultiplexer (lib/engine/demux.c) on arbitrary bytes, fed in pieces whose
 * sizes come from the first input byte, as a socket would deliver them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "fuzz.h"

typedef struct {
    size_t total;
} sink;

static int out(int stream, const char *data, size_t len, void *ud)
{
    sink *s = ud;
    if (stream != 1 && stream != 2)
        abort(); /* only stdout/stderr ever reach the caller */
    if (len == 0 && data == NULL)
        abort();
    s->total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    cd_demux d;
    cd_demux_init(&d);
    sink s = {0};
    cd_error_t err = {0};
    int r = 0;
    for (size_t off = 0; off < size && r == 0; off += step) {
        size_t n = size - off < step ? size - off : step;
        r = cd_demux_feed(&d, (const char *)data + off, n, out, &s, &err);
    }
    if (r == 0)
        r = cd_demux_finish(&d, &err);
    if (r < 0 && (!err.msg || err.kind != CD_ERR_SYSTEM || err.errnum != EPROTO))
        abort(); /* every failure is a classified DATA error */
    if (s.total > size)
        abort(); /* payload never exceeds what came in */
    cd_error_clear(&err);
    return 0;
}
