/* Docker's multiplexed exec/attach stream (Tty=false): frames of an 8-byte header
 * [stream, 0, 0, 0, size as big-endian uint32] then `size` payload bytes. Payload is passed on
 * as it arrives, so a frame is never buffered whole and memory stays constant.
 * Untrusted input: tests/fuzz/engine_demux_fuzzer.c. */
#include <errno.h>
#include <string.h>

#include "engine/engine-internal.h"

void cd_demux_init(cd_demux *d)
{
    d->hdr_len = 0;
    d->stream = 0;
    d->remaining = 0;
}

int cd_demux_feed(cd_demux *d, const char *data, size_t len, cd_engine_output_fn out, void *ud,
                  cd_error_t *err)
{
    while (len) {
        if (d->remaining == 0) {
            size_t n = sizeof(d->hdr) - d->hdr_len;
            if (n > len)
                n = len;
            memcpy(d->hdr + d->hdr_len, data, n);
            d->hdr_len += n;
            data += n;
            len -= n;
            if (d->hdr_len < sizeof(d->hdr))
                return 0;
            d->hdr_len = 0;
            /* 0 = stdin echoed (treated as stdout, like docker's stdcopy), 1 stdout, 2 stderr,
             * 3 = the engine's own error text (newer Docker), shown as stderr */
            unsigned s = d->hdr[0];
            if (s > 3 || d->hdr[1] || d->hdr[2] || d->hdr[3])
                return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                                      "malformed exec stream: bad frame header %02x %02x %02x %02x",
                                      d->hdr[0], d->hdr[1], d->hdr[2], d->hdr[3]);
            d->stream = s == 0 ? 1 : s == 3 ? 2 : (int)s;
            d->remaining = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                           (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
            continue;
        }
        size_t n = len < d->remaining ? len : d->remaining;
        if (out && out(d->stream, data, n, ud) < 0)
            return cd_engine_fail(err, CD_ERR_SYSTEM, ECANCELED, "output cancelled by the caller");
        d->remaining -= (uint32_t)n;
        data += n;
        len -= n;
    }
    return 0;
}

int cd_demux_finish(const cd_demux *d, cd_error_t *err)
{
    if (d->hdr_len)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "truncated exec stream: %zu of 8 header bytes at the end",
                              d->hdr_len);
    if (d->remaining)
        return cd_engine_fail(err, CD_ERR_SYSTEM, EPROTO,
                              "truncated exec stream: frame cut short, %u bytes missing",
                              (unsigned)d->remaining);
    return 0;
}
