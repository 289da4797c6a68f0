/* spec_clone.c — ownership of a parsed descriptor: eem_spec_free() and the
 * deep copy eem_spec_clone() (see spec.h).  Split from spec.c, which parses
 * and validates. */
#include "spec.h"

#include "str.h"

#include <stdlib.h>
#include <string.h>

void eem_spec_free(eem_spec *spec)
{
    if (!spec)
        return;
    free(spec->input);
    for (int i = 0; i < spec->n_bands; i++) {
        free(spec->bands[i].ref);
        free(spec->bands[i].key);
    }
    free(spec->bands);
    free(spec->input_array);
    for (int i = 0; i < spec->n_input_types; i++)
        free(spec->input_types[i].key);
    free(spec->input_types);
    free(spec->project);
    free(spec->model);
    free(spec->version);
    free(spec->region);
    free(spec->endpoint);
    free(spec->url);
    free(spec->api_root);
    free(spec->proj);
    free(spec->resampling);
    free(spec->cache_key);
    for (int i = 0; i < spec->n_outputs; i++) {
        eem_output *o = &spec->outputs[i];
        for (int k = 0; o->names && k < o->length; k++)
            free(o->names[k]);
        free(o->names);
        free(o->name);
    }
    free(spec->outputs);
    free(spec->cache_dir);
    free(spec->headers);
    free(spec->google_credentials_host);
    free(spec->signature_name);
    free(spec->nodata_text);
    free(spec->input_properties);
    free(spec->layer);
    free(spec->null_input_text);
    free(spec->output_multiplier_text);
    free(spec->input_shapes);
    free(spec);
}

/* Copy *text into *text (owned); 0 when a non-NULL text could not be copied. */
static int clone_text(char **text)
{
    if (!*text)
        return 1;
    *text = eem_strdup(*text);
    return *text != NULL;
}

/* Replace *array (n elements of size bytes, borrowed) by an owned copy whose
 * pointer fields the caller then clones; the copy starts zeroed past n. */
static int clone_array(void **array, int n, size_t size)
{
    if (!*array || n <= 0) {
        *array = NULL;
        return 1;
    }
    void *copy = calloc((size_t)n, size);
    if (copy)
        memcpy(copy, *array, (size_t)n * size);
    *array = copy;
    return copy != NULL;
}

/* Clone the arrays and their strings.  Each element is counted as owned
 * (n_*) just before its strings are copied, with its pointers cleared first,
 * so on failure eem_spec_free releases exactly what was copied. */
static int clone_spec_arrays(eem_spec *c)
{
    int n_bands = c->n_bands, n_types = c->n_input_types, n_outputs = c->n_outputs;
    eem_band_ref *bands = c->bands;
    eem_type_override *types = c->input_types;
    eem_output *outputs = c->outputs;
    c->n_bands = c->n_input_types = c->n_outputs = 0;
    c->input_types = NULL; /* not yet reached: nothing owned */
    c->outputs = NULL;
    c->bands = bands;
    if (!clone_array((void **)&c->bands, n_bands, sizeof *c->bands))
        return 0;
    for (int i = 0; i < n_bands; i++) {
        eem_band_ref from = c->bands[i];
        eem_band_ref *b = &c->bands[i];
        b->ref = b->key = NULL;
        c->n_bands = i + 1;
        b->ref = from.ref;
        if (!clone_text(&b->ref))
            return 0;
        b->key = from.key;
        if (!clone_text(&b->key))
            return 0;
    }
    c->input_types = types;
    if (!clone_array((void **)&c->input_types, n_types, sizeof *c->input_types))
        return 0;
    for (int i = 0; i < n_types; i++) {
        c->n_input_types = i + 1;
        if (!clone_text(&c->input_types[i].key))
            return 0;
    }
    c->outputs = outputs;
    if (!clone_array((void **)&c->outputs, n_outputs, sizeof *c->outputs))
        return 0;
    for (int i = 0; i < n_outputs; i++) {
        eem_output from = c->outputs[i];
        eem_output *o = &c->outputs[i];
        o->name = NULL;
        o->names = NULL;
        c->n_outputs = i + 1;
        o->name = from.name;
        if (!clone_text(&o->name))
            return 0;
        if (from.names && o->length > 0) {
            if (!(o->names = calloc((size_t)o->length, sizeof *o->names)))
                return 0;
            for (int k = 0; k < o->length; k++) {
                o->names[k] = from.names[k];
                if (!clone_text(&o->names[k]))
                    return 0;
            }
        }
    }
    return 1;
}

eem_status eem_spec_clone(const eem_spec *spec, eem_spec **out, eem_error *err)
{
    *out = NULL;
    eem_spec *c = malloc(sizeof *c);
    if (!c)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    *c = *spec;
    /* every pointer still borrows from spec: clone each in turn, clearing
     * the ones not yet reached so a failure frees only what is owned */
    char **texts[] = {&c->input,  &c->input_array, &c->project,   &c->model,
                      &c->version, &c->region,     &c->endpoint,  &c->url,
                      &c->api_root, &c->proj,      &c->resampling, &c->cache_dir,
                      &c->headers, &c->signature_name, &c->google_credentials_host,
                      &c->nodata_text, &c->cache_key, &c->input_properties, &c->layer,
                      &c->null_input_text, &c->output_multiplier_text, &c->input_shapes};
    const size_t n_texts = sizeof texts / sizeof texts[0];
    char *borrowed[sizeof texts / sizeof texts[0]];
    for (size_t i = 0; i < n_texts; i++) {
        borrowed[i] = *texts[i];
        *texts[i] = NULL;
    }
    int ok = clone_spec_arrays(c);
    for (size_t i = 0; ok && i < n_texts; i++) {
        *texts[i] = borrowed[i];
        ok = clone_text(texts[i]);
    }
    if (!ok) {
        eem_spec_free(c);
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    *out = c;
    return EEM_OK;
}
