/* image_properties.c — EE inputProperties copied into every tile instance
 * (see image_properties.h). */
#include "image_properties.h"

#include "str.h"

#include <gdal.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eem_image_properties_free(eem_image_properties *p)
{
    if (!p)
        return;
    for (int k = 0; k < p->n; k++)
        free(p->keys[k]);
    free(p->keys);
    free(p->values);
    free(p->types);
    free(p);
}

static int parse_value(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    if (errno || end == text || !end || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

/* One entry, "name" or "name:value", into slot k. */
static eem_status resolve_entry(const eem_spec *spec, const eem_source *src, char *entry,
                                eem_image_properties *p, eem_error *err)
{
    char *colon = strchr(entry, ':');
    if (colon)
        *colon = '\0';
    const char *name = entry;
    if (!*name)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_PROPERTIES: an entry has no name; expected name (a metadata "
                             "item of INPUT) or name:value (a constant)");
    for (int i = 0; i < src->n_keys; i++)
        if (strcmp(src->keys[i].key, name) == 0)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_PROPERTIES: \"%s\" is already the key of a band", name);
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->keys[i], name) == 0)
            return eem_error_set(err, EEM_ERR_INVALID, "INPUT_PROPERTIES: \"%s\" is listed twice",
                                 name);
    double v = 0;
    if (colon) {
        if (!parse_value(colon + 1, &v))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_PROPERTIES: \"%s:%.80s\" has a value that is not a number",
                                 name, colon + 1);
    } else {
        const char *item = GDALGetMetadataItem((GDALDatasetH)src->dataset, name, NULL);
        if (!item)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_PROPERTIES: \"%s\" is not a metadata item of INPUT; give "
                                 "a constant as %s:value, or a metadata item the source has "
                                 "(gdalinfo lists them)",
                                 name, name);
        if (!parse_value(item, &v))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_PROPERTIES: metadata item \"%s\" of INPUT is \"%.80s\", "
                                 "not a number",
                                 name, item);
    }
    eem_dtype t = EEM_DT_FLOAT32;
    for (int i = 0; i < spec->n_input_types; i++)
        if (spec->input_types[i].key && strcmp(spec->input_types[i].key, name) == 0)
            t = spec->input_types[i].type;
    if (!(p->keys[p->n] = eem_strdup(name)))
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    p->values[p->n] = v;
    p->types[p->n] = t;
    p->n++;
    return EEM_OK;
}

eem_status eem_image_properties_resolve(const eem_spec *spec, const eem_source *src,
                                        eem_image_properties **out, eem_error *err)
{
    *out = NULL;
    eem_image_properties *p = calloc(1, sizeof *p);
    if (!p)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    const char *text = spec->input_properties;
    int cap = 1;
    for (const char *c = text; c && *c; c++)
        cap += *c == ',';
    char *copy = text ? eem_strdup(text) : NULL;
    p->keys = calloc((size_t)cap, sizeof *p->keys);
    p->values = calloc((size_t)cap, sizeof *p->values);
    p->types = calloc((size_t)cap, sizeof *p->types);
    eem_status st = EEM_OK;
    if ((text && !copy) || !p->keys || !p->values || !p->types)
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    for (char *s = copy; st == EEM_OK && s && *s;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        char *b = s, *e = s + strlen(s);
        while (isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*b)
            st = resolve_entry(spec, src, b, p, err);
        s = comma ? comma + 1 : NULL;
    }
    free(copy);
    if (st != EEM_OK) {
        eem_image_properties_free(p);
        return st;
    }
    *out = p;
    return EEM_OK;
}

eem_status eem_image_properties_tensors(const eem_image_properties *p, int h, int w,
                                        eem_tensor **tensors, eem_error *err)
{
    for (int k = 0; k < p->n; k++) {
        int64_t dims[3] = {h, w, 1};
        tensors[k] = eem_tensor_new(p->types[k], 3, dims);
        if (!tensors[k])
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        size_t n = (size_t)h * (size_t)w, es = eem_dtype_size(p->types[k]);
        eem_dtype_convert(&p->values[k], EEM_DT_FLOAT64, tensors[k]->data, p->types[k], 1);
        for (size_t i = 1; i < n; i++)
            memcpy((char *)tensors[k]->data + i * es, tensors[k]->data, es);
    }
    return EEM_OK;
}
