/* image_properties.h — EE inputProperties for an image (INPUT_PROPERTIES with a
 * raster INPUT): named numbers copied into every tile instance, each as one
 * more (H, W, 1) tensor under its name, filled with the value (so every
 * payload format carries it as it carries a band).  A value is a constant
 * (name:value) or a metadata item of the source dataset (name), read once at
 * open.  Element type: INPUT_TYPE for the name, else float32. */
#ifndef EEM_IMAGE_PROPERTIES_H
#define EEM_IMAGE_PROPERTIES_H

#include "error.h"
#include "source.h"
#include "spec.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_image_properties {
    int n;
    char **keys;
    double *values;
    eem_dtype *types;
} eem_image_properties;

/* Resolve spec->input_properties against src (NULL list when there are none:
 * *out gets an empty set).  Freed with eem_image_properties_free(). */
eem_status eem_image_properties_resolve(const eem_spec *spec, const eem_source *src,
                                        eem_image_properties **out, eem_error *err);
void eem_image_properties_free(eem_image_properties *p);
/* New (h, w, 1) tensors, one per property, into tensors[0..n-1] (owned by
 * the caller). */
eem_status eem_image_properties_tensors(const eem_image_properties *p, int h, int w,
                                        eem_tensor **tensors, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
