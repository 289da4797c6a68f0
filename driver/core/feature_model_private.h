/* feature_model_private.h — what feature_model.c (the feature model and its
 * requests) and feature_instance.c (one feature's instance) share: the model's
 * fields and the instance functions.  Not for other files. */
#ifndef EEM_FEATURE_MODEL_PRIVATE_H
#define EEM_FEATURE_MODEL_PRIVATE_H

#include "cache.h"
#include "request_headers.h"
#include "endpoint.h"
#include "feature_model.h"
#include "payload.h"

struct eem_feature_model {
    eem_spec *spec;
    eem_endpoint *ep;
    const eem_payload_ops *ops;
    eem_payload_context payload;
    int n_inputs;
    char **inputs;          /* INPUT_PROPERTIES names */
    eem_dtype *input_types; /* element type sent for each */
    int *list_length;       /* fixed length of a list input (0: not known yet) */
    int *is_string;         /* input k is a scalar string */
    int n_strings;
    int n_values;           /* output values per feature */
    int *value_offset;      /* first value of output k */
    long max_predictions;
    eem_cache *cache;
    char *cache_context;
    eem_static_headers headers; /* HEADERS and the config options (request_headers.h) */
    eem_feature_stats stats;
    char last_failure[EEM_ERROR_MSG_MAX];
};

/* The tensors of one feature: one per input (a string input's tensor only
 * names its key), or one keyless list for ND_ARRAYS; tensors[0..*n_tensors-1]
 * are the caller's to free, also on failure.  fid names the feature in
 * messages.  Fixes the length of a list input at its first value. */
eem_status eem_feature_instance_tensors(eem_feature_model *m, long long fid,
                                        const eem_feature_value *in, eem_tensor **tensors,
                                        int *n_tensors, eem_error *err);
/* Encode one feature's instance into frag (reset first): the format's own
 * encoding, with string inputs put in their place. */
eem_status eem_feature_instance_encode(const eem_feature_model *m, const eem_instance *inst,
                                       const eem_feature_value *in, eem_payload_fragment *frag,
                                       eem_error *err);

#endif
