/* remembered_stats.c — the identity of a raster's statistics and their
 * persistent cache entries (see remembered_stats.h). */
#include "remembered_stats.h"
#include "buf.h"
#include "dtype.h"

#include <stdlib.h>
#include <string.h>

#define STATS_CONTEXT "eemodel-statistics-1"
/* doubles per eem_band_stats in a cache entry: has, min, max, mean, stddev, valid % */
#define STATS_FIELDS 6

static void put_text(eem_buf *b, const char *name, const char *value)
{
    /* length-prefixed: no value can fake another field */
    eem_buf_printf(b, "|%s=%zu:%s", name, value ? strlen(value) : (size_t)0, value ? value : "");
}

static void put_model(eem_buf *b, const eem_spec *s)
{
    if (s->cache_key) {
        /* the user names the model, as for the tiles (cache_context.c) */
        put_text(b, "key", s->cache_key);
        return;
    }
    eem_buf_printf(b, "|protocol=%s", eem_protocol_name(s->protocol));
    put_text(b, "project", s->project);
    put_text(b, "model", s->model);
    put_text(b, "version", s->version);
    put_text(b, "region", s->region);
    put_text(b, "endpoint", s->endpoint);
    put_text(b, "url", s->url);
    put_text(b, "api_root", s->api_root);
    put_text(b, "headers", s->headers);
}

static void put_outputs(eem_buf *b, const eem_spec *s)
{
    eem_buf_printf(b, "|outputs=%d", s->n_outputs);
    for (int i = 0; i < s->n_outputs; i++) {
        const eem_output *o = &s->outputs[i];
        put_text(b, "name", o->name);
        eem_buf_printf(b, ":%s:%d:%d:%d", eem_dtype_name(o->type), o->dims, o->length, o->boolean);
        for (int k = 0; o->names && k < o->length; k++)
            put_text(b, "n", o->names[k]);
    }
}

static void put_input(eem_buf *b, const eem_spec *s)
{
    put_text(b, "input", s->input);
    eem_buf_printf(b, "|bands=%d", s->n_bands);
    for (int i = 0; i < s->n_bands; i++) {
        put_text(b, "ref", s->bands[i].ref);
        put_text(b, "key", s->bands[i].key);
    }
    put_text(b, "input_array", s->input_array);
    eem_buf_printf(b, "|types=%d", s->n_input_types);
    for (int i = 0; i < s->n_input_types; i++) {
        put_text(b, "key", s->input_types[i].key);
        eem_buf_printf(b, ":%s", eem_dtype_name(s->input_types[i].type));
    }
}

static void put_geometry(eem_buf *b, const eem_spec *s)
{
    put_text(b, "proj", s->proj);
    eem_buf_printf(b, "|scale=%.17g|fix=%d", s->scale, s->fix_input_proj);
    put_text(b, "resampling", s->resampling);
    eem_buf_printf(b, "|origin=%d:%.17g,%.17g|tile=%d,%d|overlap=%d,%d|out=%d,%d|mode=%d",
                   s->tile_origin_mode, s->tile_origin_x, s->tile_origin_y, s->tile_w, s->tile_h,
                   s->overlap_x, s->overlap_y, s->out_tile_w, s->out_tile_h, (int)s->overlap_mode);
}

eem_status eem_remembered_stats_digest(const eem_spec *s, const char *extra, char hex[65],
                                       eem_error *err)
{
    eem_buf b = {0};
    eem_buf_printf(&b, STATS_CONTEXT);
    put_model(&b, s);
    eem_buf_printf(&b, "|format=%s", eem_payload_format_name(s->payload_format));
    put_text(&b, "signature", s->signature_name);
    eem_buf_printf(&b, "|columnar=%d", s->columnar);
    put_outputs(&b, s);
    put_input(&b, s);
    put_geometry(&b, s);
    put_text(&b, "nodata", s->nodata_text);
    put_text(&b, "extra", extra);
    char *text = eem_buf_take(&b);
    if (!text)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_cache_key key;
    eem_status st = eem_cache_key_compute(text, NULL, 0, &key, err);
    free(text);
    if (st != EEM_OK)
        return st;
    for (int i = 0; i < EEM_CACHE_KEY_BYTES; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[key.bytes[i] >> 4];
        hex[2 * i + 1] = digits[key.bytes[i] & 15];
    }
    hex[64] = '\0';
    return EEM_OK;
}

static eem_status entry_key(const char *digest, eem_cache_key *key, eem_error *err)
{
    return eem_cache_key_compute(STATS_CONTEXT, digest, strlen(digest), key, err);
}

static void pack(const eem_band_stats *st, double *out)
{
    out[0] = st->has ? 1 : 0;
    out[1] = st->min;
    out[2] = st->max;
    out[3] = st->mean;
    out[4] = st->stddev;
    out[5] = st->valid_percent;
}

static void unpack(const double *in, eem_band_stats *st)
{
    st->has = in[0] == 1;
    st->min = in[1];
    st->max = in[2];
    st->mean = in[3];
    st->stddev = in[4];
    st->valid_percent = in[5];
}

int eem_remembered_stats_get(eem_cache *c, const char *digest, eem_band_stats_pair *pairs, int n)
{
    eem_cache_key key;
    eem_error err = {0};
    if (!c || n <= 0 || entry_key(digest, &key, &err) != EEM_OK)
        return 0;
    size_t size = (size_t)n * 2 * STATS_FIELDS * sizeof(double);
    double *values = malloc(size);
    if (!values)
        return 0;
    void *parts[1] = {values};
    int hit = eem_cache_get(c, &key, parts, &size, 1);
    for (int i = 0; hit && i < n; i++) {
        unpack(values + (size_t)i * 2 * STATS_FIELDS, &pairs[i].exact);
        unpack(values + (size_t)i * 2 * STATS_FIELDS + STATS_FIELDS, &pairs[i].approx);
    }
    free(values);
    return hit;
}

eem_status eem_remembered_stats_put(eem_cache *c, const char *digest,
                                    const eem_band_stats_pair *pairs, int n, eem_error *err)
{
    eem_cache_key key;
    eem_status st = entry_key(digest, &key, err);
    if (st != EEM_OK)
        return st;
    size_t size = (size_t)n * 2 * STATS_FIELDS * sizeof(double);
    double *values = malloc(size);
    if (!values)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        pack(&pairs[i].exact, values + (size_t)i * 2 * STATS_FIELDS);
        pack(&pairs[i].approx, values + (size_t)i * 2 * STATS_FIELDS + STATS_FIELDS);
    }
    const void *parts[1] = {values};
    st = eem_cache_put(c, &key, parts, &size, 1, err);
    free(values);
    return st;
}
