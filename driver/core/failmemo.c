/* failmemo.c — failed tiles remembered by one opened dataset, and which
 * request failures are lasting or endpoint-wide (see failmemo.h). */
#include "failmemo.h"

#include "str.h"
#include "tileindex.h"

#include <stdlib.h>
#include <string.h>

struct eem_failmemo {
    eem_tile_index tiles; /* tile -> index into messages */
    char **messages;      /* distinct messages, in order of arrival (owned) */
    int n_messages, cap_messages;
};

eem_failmemo *eem_failmemo_new(void)
{
    return calloc(1, sizeof(eem_failmemo));
}

void eem_failmemo_free(eem_failmemo *m)
{
    if (!m)
        return;
    eem_tile_index_free(&m->tiles);
    for (int k = 0; k < m->n_messages; k++)
        free(m->messages[k]);
    free(m->messages);
    free(m);
}

int eem_failure_is_lasting(const eem_http_request *req)
{
    if (req->ok)
        return 0;
    return req->unreachable || req->retries_exhausted || req->status == 404 || req->status == 405;
}

int eem_failure_is_endpoint_wide(const eem_http_request *req)
{
    if (req->ok)
        return 0;
    return req->unreachable || req->status == 404 || req->status == 405 ||
           (req->retries_exhausted && (req->status == 429 || req->status == 503));
}

eem_status eem_failmemo_add(eem_failmemo *m, int level, int tx, int ty, const char *msg,
                            eem_error *err)
{
    /* the tiles of one failure share its message: only a new one is copied */
    if (m->n_messages == 0 || strcmp(m->messages[m->n_messages - 1], msg) != 0) {
        if (m->n_messages == m->cap_messages) {
            int cap = m->cap_messages ? 2 * m->cap_messages : 8;
            char **nm = realloc(m->messages, (size_t)cap * sizeof *nm);
            if (!nm)
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory remembering a failure");
            m->messages = nm;
            m->cap_messages = cap;
        }
        char *copy = eem_strdup(msg);
        if (!copy)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory remembering a failure");
        m->messages[m->n_messages++] = copy;
    }
    if (eem_tile_index_put(&m->tiles, level, tx, ty, m->n_messages - 1) != 0)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory remembering a failure");
    return EEM_OK;
}

const char *eem_failmemo_find(const eem_failmemo *m, int level, int tx, int ty)
{
    if (!m)
        return NULL;
    int k = eem_tile_index_get(&m->tiles, level, tx, ty);
    return k >= 0 ? m->messages[k] : NULL;
}
