/* spec_vector.c — the descriptor keys of the vector side (EE predictProperties)
 * and of the remaining ee.Model parameters: INPUT_PROPERTIES, OUTPUT_PROPERTIES
 * (parsed like OUTPUT_BANDS by spec.c), LAYER, NULL_INPUT, OUTPUT_MULTIPLIER,
 * INPUT_SHAPES.  spec.c collects them as text; this file checks what they
 * say and which kind of INPUT (raster or vector) they apply to. */
#include "spec.h"
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

eem_dtype eem_spec_output_type_from_name(const char *name, int *boolean)
{
    *boolean = 0;
    if (name && (eem_str_equal_ignoring_case(name, "bool") ||
                 eem_str_equal_ignoring_case(name, "boolean"))) {
        *boolean = 1;
        return EEM_DT_UINT8;
    }
    return eem_dtype_from_name(name);
}

/* ---- INPUT_SHAPES ------------------------------------------------------- */

/* Parse "[a,b,...]" at *p (spaces allowed) into dims; returns ndim or -1. */
static int parse_shape(const char **p, int64_t *dims)
{
    const char *s = *p;
    while (isspace((unsigned char)*s))
        s++;
    if (*s++ != '[')
        return -1;
    int n = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == ']') {
        *p = s + 1;
        return 0;
    }
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (!isdigit((unsigned char)*s) || n >= EEM_SPEC_SHAPE_MAX)
            return -1;
        errno = 0;
        char *end = NULL;
        long long v = strtoll(s, &end, 10);
        if (errno || v <= 0 || v > 1000000)
            return -1;
        dims[n++] = v;
        s = end;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == ']') {
            *p = s + 1;
            return n;
        }
        if (*s++ != ',')
            return -1;
    }
}

/* Walk INPUT_SHAPES: key:[shape], key:[shape] or JSON {"key": [shape]}.
 * visit is called for each entry; returns the first non-OK status. */
typedef eem_status (*shape_visitor)(const char *key, int ndim, const int64_t *dims, void *user,
                                    eem_error *err);

static eem_status shapes_error(const char *text, eem_error *err)
{
    return eem_error_set(err, EEM_ERR_INVALID,
                         "INPUT_SHAPES: \"%.120s\" is not a list of shapes; expected "
                         "key:[n],key:[] (EE inputShapes, e.g. array:[5]) or JSON "
                         "{\"key\": [n]}",
                         text);
}

static eem_status walk_shapes(const char *text, shape_visitor visit, void *user, eem_error *err)
{
    const char *s = text;
    while (isspace((unsigned char)*s))
        s++;
    int json = *s == '{';
    if (json)
        s++;
    for (;;) {
        while (isspace((unsigned char)*s) || *s == ',')
            s++;
        if (json && *s == '}')
            return EEM_OK;
        if (!*s)
            return json ? shapes_error(text, err) : EEM_OK;
        char key[256];
        size_t k = 0;
        int quoted = *s == '"';
        if (quoted)
            s++;
        while (*s && (quoted ? *s != '"' : (*s != ':' && !isspace((unsigned char)*s)))) {
            if (k + 1 >= sizeof key)
                return shapes_error(text, err);
            key[k++] = *s++;
        }
        key[k] = '\0';
        if (quoted && *s++ != '"')
            return shapes_error(text, err);
        while (isspace((unsigned char)*s))
            s++;
        if (!k || *s++ != ':')
            return shapes_error(text, err);
        int64_t dims[EEM_SPEC_SHAPE_MAX];
        int nd = parse_shape(&s, dims);
        if (nd < 0)
            return shapes_error(text, err);
        eem_status st = visit(key, nd, dims, user, err);
        if (st != EEM_OK)
            return st;
    }
}

typedef struct shape_query {
    const char *key;
    int found, ndim;
    int64_t *dims;
} shape_query;

static eem_status find_shape(const char *key, int ndim, const int64_t *dims, void *user,
                             eem_error *err)
{
    shape_query *q = user;
    if (strcmp(key, q->key) == 0) {
        q->found = 1;
        q->ndim = ndim;
        memcpy(q->dims, dims, (size_t)ndim * sizeof *dims);
    }
    return EEM_OK;
}

int eem_spec_input_shape(const eem_spec *spec, const char *key, int64_t *dims)
{
    if (!spec->input_shapes)
        return -1;
    shape_query q = {key, 0, 0, dims};
    eem_error ignored = {0};
    if (walk_shapes(spec->input_shapes, find_shape, &q, &ignored) != EEM_OK || !q.found)
        return -1;
    return q.ndim;
}

/* 1 if name is one of the comma-separated INPUT_PROPERTIES (an entry
 * name:value counts by its name). */
int eem_spec_lists_input_property(const eem_spec *spec, const char *name)
{
    const char *s = spec->input_properties;
    size_t n = strlen(name);
    while (s && *s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        const char *colon = memchr(s, ':', (size_t)(e - s));
        if (colon)
            t = colon;
        while (t > s && t[-1] == ' ')
            t--;
        if ((size_t)(t - s) == n && strncmp(s, name, n) == 0)
            return 1;
        s = e;
    }
    return 0;
}

/* EE inputShapes gives per-pixel shapes of array bands.  A GDAL band holds one
 * number per pixel, so the only array input of a raster is INPUT_ARRAY (shape
 * [number of bands]); every other key is a scalar band (shape []).  On the
 * vector side a property is a scalar ([]) or a flat list field ([n]). */
static eem_status check_shape(const char *key, int ndim, const int64_t *dims, void *user,
                              eem_error *err)
{
    const eem_spec *spec = user;
    if (spec->vector) {
        if (!eem_spec_lists_input_property(spec, key))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_SHAPES: \"%s\" is not one of INPUT_PROPERTIES; give "
                                 "shapes of the properties sent",
                                 key);
        if (ndim > 1)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_SHAPES: \"%s\" has %d dimensions; a feature property is a "
                                 "scalar ([]) or a flat list field ([n])",
                                 key, ndim);
        return EEM_OK;
    }
    if (spec->input_array && strcmp(key, spec->input_array) == 0) {
        if (ndim != 1)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_SHAPES: \"%s\" (INPUT_ARRAY) has %d dimensions; its "
                                 "per-pixel shape is [number of bands]",
                                 key, ndim);
        if (spec->n_bands > 0 && dims[0] != spec->n_bands)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_SHAPES: \"%s\" is [%lld] but BANDS selects %d bands",
                                 key, (long long)dims[0], spec->n_bands);
        return EEM_OK;
    }
    if (ndim != 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_SHAPES: \"%s\" has shape of %d dimensions, but a GDAL band holds "
                             "one number per pixel (shape []); to send bands as one array per "
                             "pixel, give INPUT_ARRAY=%s and its shape [number of bands]",
                             key, ndim, key);
    return EEM_OK;
}

/* ---- the keys ------------------------------------------------------------ */

static eem_status vector_only(const char *key, eem_error *err)
{
    return eem_error_set(err, EEM_ERR_INVALID,
                         "%s applies to a vector INPUT (a layer opened with OUTPUT_PROPERTIES, EE "
                         "predictProperties); this descriptor has OUTPUT_BANDS (a raster INPUT)",
                         key);
}

static eem_status raster_only(const char *key, eem_error *err)
{
    return eem_error_set(err, EEM_ERR_INVALID,
                         "%s applies to a raster INPUT (OUTPUT_BANDS, EE predictImage); a vector "
                         "INPUT (OUTPUT_PROPERTIES) sends one instance per feature made of "
                         "INPUT_PROPERTIES",
                         key);
}

eem_status eem_spec_check_vector_keys(eem_spec *spec, eem_error *err)
{
    if (spec->null_input_text) {
        const char *t = spec->null_input_text;
        if (eem_str_equal_ignoring_case(t, "NULL"))
            spec->null_input = EEM_NULL_INPUT_NULL;
        else if (eem_str_equal_ignoring_case(t, "SKIP"))
            spec->null_input = EEM_NULL_INPUT_SKIP;
        else if (eem_str_equal_ignoring_case(t, "ERROR"))
            spec->null_input = EEM_NULL_INPUT_ERROR;
        else
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "NULL_INPUT: \"%.120s\" is not a rule; expected NULL (the feature "
                                 "is not sent, its predicted fields are null), SKIP (the feature "
                                 "is left out) or ERROR (the read fails)",
                                 t);
    }
    if (spec->output_multiplier_text) {
        char *end = NULL;
        errno = 0;
        double m = strtod(spec->output_multiplier_text, &end);
        if (errno || end == spec->output_multiplier_text || *end || !isfinite(m) || m < 1 ||
            m > 1e6)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "OUTPUT_MULTIPLIER: \"%.120s\" is not a number from 1 to 1e6; "
                                 "expected the ratio of answer to request bytes (EE "
                                 "outputMultiplier, at least 1)",
                                 spec->output_multiplier_text);
        spec->output_multiplier = m;
    }
    if (spec->vector) {
        if (spec->n_bands > 0)
            return raster_only("BANDS", err);
        if (spec->input_array)
            return raster_only("INPUT_ARRAY", err);
        if (!spec->input_properties || !*spec->input_properties)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_PROPERTIES is required with OUTPUT_PROPERTIES: the fields "
                                 "of each feature sent to the model, comma-separated (EE "
                                 "inputProperties)");
    } else {
        if (spec->layer)
            return vector_only("LAYER", err);
        if (spec->null_input_text)
            return vector_only("NULL_INPUT", err);
    }
    if (spec->input_shapes) {
        eem_status st = walk_shapes(spec->input_shapes, check_shape, spec, err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}
