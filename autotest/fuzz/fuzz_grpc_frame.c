/* fuzz_grpc_frame.c — libFuzzer target for the gRPC framing and status lines
 * (grpc_frame.c): the input is response header / trailer lines, then a NUL
 * byte, then the answer body.  Lines are fed one by one to the status-line
 * reader (as libcurl's header callback would), the body to the unframer.
 *
 * Checks: a status is always a number (>= 0), the message is NUL-terminated
 * printable text within its buffer, and an accepted message lies inside the
 * body with exactly the announced length. */
#include "grpc_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t head = nul ? (size_t)(nul - data) : size;
    eem_grpc_status_lines s;
    eem_grpc_status_lines_reset(&s);
    size_t start = 0;
    for (size_t i = 0; i <= head; i++) {
        if (i == head || data[i] == '\n') {
            size_t n = i - start + (i < head ? 1 : 0);
            /* an exact-size copy, so a read past the line is caught */
            char *line = malloc(n ? n : 1);
            if (!line)
                return 0;
            memcpy(line, data + start, n);
            eem_grpc_status_lines_feed(&s, line, n);
            free(line);
            start = i + 1;
        }
    }
    int code = eem_grpc_status_of(&s);
    if (code < 0 || strlen(s.message) >= sizeof s.message)
        abort();
    for (const char *p = s.message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
    (void)eem_grpc_status_is_retryable(code, s.message);
    (void)eem_grpc_status_name(code);
    if (nul) {
        size_t len = size - head - 1;
        uint8_t *body = malloc(len ? len : 1);
        if (!body)
            return 0;
        memcpy(body, nul + 1, len);
        size_t off = 0, n = 0;
        eem_error err = {0};
        eem_status st = eem_grpc_unframe(body, len, 1 << 20, &off, &n, &err);
        if (st == EEM_OK) {
            if (off != EEM_GRPC_FRAME_HEADER || off + n != len)
                abort();
            volatile uint8_t sink = 0;
            for (size_t i = 0; i < n; i++)
                sink ^= body[off + i];
            (void)sink;
        } else if (!err.msg[0]) {
            abort();
        }
        free(body);
    }
    return 0;
}
