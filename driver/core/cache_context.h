/* cache_context.h — the text hashed into every persistent cache key with a
 * tile's encoded instance: which model answered (the backend identity, or the
 * CACHE_KEY that names it whatever its URL) and what shapes a cached value
 * (tile geometry, band types). */
#ifndef EEM_CACHE_CONTEXT_H
#define EEM_CACHE_CONTEXT_H

#include "dtype.h"
#include "endpoint.h"
#include "grid.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Owned text (free()), NULL when out of memory.  Without CACHE_KEY the model
 * is identified by ep->identity (URL, version, payload format, outputs) and
 * the static headers' digest (a gateway may pick the model by header); with
 * CACHE_KEY by that name, the payload format, the outputs and the signature,
 * so the same model behind another URL, host or gateway shares entries. */
char *eem_cache_context_new(const eem_spec *spec, const eem_endpoint *ep, const eem_grid *g,
                            const eem_dtype *band_types, int n_bands, const char *headers_digest);

#ifdef __cplusplus
}
#endif
#endif
