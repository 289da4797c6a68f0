/* cache_context.c — the model identity and value layout hashed into cache
 * keys (see cache_context.h). */
#include "cache_context.h"
#include "buf.h"

#include <stdlib.h>

char *eem_cache_context_new(const eem_spec *spec, const eem_endpoint *ep, const eem_grid *g,
                            const eem_dtype *band_types, int n_bands, const char *headers_digest)
{
    eem_buf ctx = {0};
    if (spec->cache_key) {
        /* the user names the model: its URL and headers do not matter */
        eem_buf_printf(&ctx, "eemodel-cache-1|key=%s|%s|", spec->cache_key,
                       eem_payload_format_name(ep->payload_format));
        for (int i = 0; i < spec->n_outputs; i++) {
            const eem_output *o = &spec->outputs[i];
            eem_buf_printf(&ctx, "%s:%s:%d:%d;", o->name ? o->name : "",
                           eem_dtype_name(o->type), o->dims, o->length);
        }
        if (spec->signature_name)
            eem_buf_printf(&ctx, "|signature=%s", spec->signature_name);
    } else {
        eem_buf_printf(&ctx, "eemodel-cache-1|%s", ep->identity);
    }
    eem_buf_printf(&ctx, "|in=%d,%d+%d,%d|out=%d,%d|bands=", g->tw, g->th, g->ox, g->oy, g->uw,
                   g->uh);
    for (int b = 0; b < n_bands; b++)
        eem_buf_printf(&ctx, "%s,", eem_dtype_name(band_types[b]));
    if (!spec->cache_key && headers_digest && headers_digest[0])
        eem_buf_printf(&ctx, "|headers=%s", headers_digest);
    return eem_buf_take(&ctx);
}
