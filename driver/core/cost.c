/* cost.c — predictions, requests and request bytes of a read, and the cost
 * guard message (see cost.h).  Only public predictor accessors are used. */
#include "cost.h"

#include "buf.h"
#include "payload.h"
#include "source.h"
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes-per-pixel margin when suggesting a tile size that fits MAX_PAYLOAD_BYTES. */

/* The payload context of the predictor's endpoint, exactly as it encodes. */
static eem_payload_context payload_context_of(const eem_predictor *p)
{
    return *eem_predictor_payload_context(p);
}

/* Body sizes of requests holding one and two zero-valued instances. */
static eem_status measure_bodies(const eem_predictor *p, size_t *one, size_t *two,
                                 size_t *data_len, eem_error *err)
{
    const eem_source *src = eem_predictor_source(p);
    const eem_endpoint *ep = eem_predictor_endpoint(p);
    const eem_grid *g = eem_predictor_grid(p, 0);
    const eem_payload_ops *ops = eem_payload_ops_for(ep->payload_format);
    eem_payload_context ctx = payload_context_of(p);
    eem_status st = EEM_OK;
    eem_tensor **tensors = NULL;
    const char **keys = NULL;
    eem_payload_fragment frag;
    eem_payload_batch *batch = NULL;

    memset(&frag, 0, sizeof frag);
    if (!ops || !g)
        return eem_error_set(err, EEM_ERR_INVALID, "PAYLOAD_FORMAT: \"%s\" has no encoder",
                             eem_payload_format_name(ep->payload_format));
    batch = eem_payload_batch_new(ops, &ctx);
    if (!batch) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = eem_source_zero_tensors_new(src, g->th + 2 * g->oy, g->tw + 2 * g->ox, &tensors,
                                          &keys, err)) != EEM_OK)
        goto done;
    eem_instance inst = {src->n_keys, keys, (const eem_tensor *const *)tensors};
    if ((st = eem_payload_encode(ops, &ctx, &inst, &frag, err)) != EEM_OK)
        goto done;
    *one = eem_payload_batch_size_with(batch, &inst, &frag);
    if (data_len)
        *data_len = frag.data.len;
    if ((st = eem_payload_batch_add(batch, &inst, &frag, err)) != EEM_OK)
        goto done;
    *two = eem_payload_batch_size_with(batch, &inst, &frag);
done:
    eem_source_zero_tensors_free(src, tensors, keys);
    eem_payload_fragment_free(&frag);
    eem_payload_batch_free(batch);
    return st;
}

eem_status eem_cost_model_of(const eem_predictor *p, eem_cost_model *out, eem_error *err)
{
    const eem_endpoint *ep = eem_predictor_endpoint(p);
    size_t one = 0, two = 0;
    eem_status st = measure_bodies(p, &one, &two, NULL, err);
    if (st != EEM_OK)
        return st;
    long long per = two > one ? (long long)(two - one) : (long long)one;
    long max_payload = ep->max_payload_bytes > 0 ? ep->max_payload_bytes
                                                 : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    /* n instances take one + (n-1)*per bytes */
    long long fit = (long long)one <= max_payload
                        ? 1 + ((long long)max_payload - (long long)one) / per
                        : 1; /* the predictor refuses such a tile; one per request here */
    if (ep->max_instances > 0 && fit > ep->max_instances)
        fit = ep->max_instances;
    out->envelope_bytes = (long long)one - per;
    out->instance_bytes = per;
    out->instances_per_request = fit;
    return EEM_OK;
}

void eem_cost_of_tiles(const eem_cost_model *m, long long n_tiles, eem_cost *out)
{
    out->predictions = n_tiles > 0 ? n_tiles : 0;
    out->requests = 0;
    out->request_bytes = 0;
    if (n_tiles <= 0)
        return;
    out->requests = (n_tiles + m->instances_per_request - 1) / m->instances_per_request;
    out->request_bytes = n_tiles * m->instance_bytes + out->requests * m->envelope_bytes;
}

eem_status eem_cost_check(const eem_predictor *p, long long n_tiles, const char *what,
                          eem_error *err)
{
    return eem_cost_check_limit(eem_predictor_max_predictions(p), n_tiles, what, err);
}

char *eem_cost_text(const eem_cost *cost, int width, int height, int level, int reduced,
                    long max_predictions, char *buf, size_t n)
{
    eem_buf b = {0};
    eem_buf_printf(&b, "%dx%d", width, height);
    if (level > 0)
        eem_buf_printf(&b, " (1/%d)", 1 << level);
    eem_buf_printf(&b, ": %lld prediction%s in %lld request%s, %lld request bytes",
                   cost->predictions, cost->predictions == 1 ? "" : "s", cost->requests,
                   cost->requests == 1 ? "" : "s", cost->request_bytes);
    if (reduced)
        eem_buf_puts(&b, " (reduces the full-resolution predictions)");
    if (cost->predictions > max_predictions)
        eem_buf_printf(&b, "; more than MAX_PREDICTIONS=%ld: a full read is refused",
                       max_predictions);
    snprintf(buf, n, "%s", b.failed || !b.data ? "" : b.data);
    eem_buf_free(&b);
    return buf;
}

eem_status eem_cost_check_payload(const eem_predictor *p, eem_error *err)
{
    const eem_endpoint *ep = eem_predictor_endpoint(p);
    long max_payload = ep->max_payload_bytes > 0 ? ep->max_payload_bytes
                                                 : EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    /* JSON numbers grow with the values: a zero tile says nothing certain,
     * so those formats are checked on real tiles at read time */
    int exact = ep->payload_format == EEM_PAYLOAD_SERIALIZED_TF_TENSORS ||
                (ep->payload_format == EEM_PAYLOAD_OIP_V2 &&
                 eem_predictor_payload_context(p)->binary);
    if (!exact)
        return EEM_OK;
    size_t one = 0, two = 0, data_len = 0;
    eem_status st = measure_bodies(p, &one, &two, &data_len, err);
    if (st != EEM_OK)
        return st;
    if (one > (size_t)max_payload)
        return eem_cost_payload_limit_error(eem_predictor_grid(p, 0), max_payload,
                                            eem_payload_ops_for(ep->payload_format)->name,
                                            data_len, one, err);
    return EEM_OK;
}

