/* feature_model.h — predictions for features (EE predictProperties): each feature
 * is one instance made of its INPUT_PROPERTIES, sent through the same
 * endpoint, credentials, payload formats, batching by MAX_PAYLOAD_BYTES (and
 * OUTPUT_MULTIPLIER), concurrency, retries and persistent cache as tiles; each
 * answer gives the OUTPUT_PROPERTIES values of its feature.
 *
 * Instances: one key per property (SERIALIZED_TF_TENSORS, RAW_JSON, OIP_V2),
 * a scalar property as a rank-0 tensor, a list property as a rank-1 tensor, a
 * string property (SERIALIZED_TF_TENSORS, RAW_JSON) as a scalar string;
 * ND_ARRAYS (keyless) sends one flat list, the properties concatenated in
 * INPUT_PROPERTIES order.  Element types: INPUT_TYPE per property, else
 * float32.  A list property's length is INPUT_SHAPES' [n] when given, else
 * the length of its first non-null value; another length is an error.
 *
 * Values travel as doubles: eem_feature_model_predict() takes each feature's
 * inputs as doubles and gives each output value as a double (integers up to
 * 2^53 exactly). */
#ifndef EEM_FEATURE_MODEL_H
#define EEM_FEATURE_MODEL_H

#include "error.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eem_feature_model eem_feature_model;

/* One input property of one feature: null, a string (text, for an input
 * marked with eem_feature_model_set_string_input), or n values (a scalar when
 * is_list is 0, then n is 1). */
typedef struct eem_feature_value {
    int is_null;
    int is_list;
    int n;
    const double *values;
    const char *text;
} eem_feature_value;

/* What became of one feature in a predict call. */
typedef enum eem_feature_result {
    EEM_FEATURE_PREDICTED = 0, /* outputs filled (from the model or the cache) */
    EEM_FEATURE_NULL_INPUT,    /* a null input, NULL_INPUT=NULL: not sent, outputs null */
    EEM_FEATURE_SKIPPED,       /* a null input, NULL_INPUT=SKIP: to be left out */
    EEM_FEATURE_FAILED         /* its request failed, ON_ERROR=NODATA: outputs null */
} eem_feature_result;

typedef struct eem_feature_stats {
    long requests;
    long features_predicted; /* answered by the model */
    long features_from_cache;
    long features_failed;
    long features_null; /* not sent because of a null input */
    long long bytes_sent;
} eem_feature_stats;

/* spec must have spec->vector set; it is copied. */
eem_status eem_feature_model_open(const eem_spec *spec, eem_feature_model **out, eem_error *err);
void eem_feature_model_close(eem_feature_model *m);

const eem_spec *eem_feature_model_spec(const eem_feature_model *m);
int eem_feature_model_input_count(const eem_feature_model *m);
const char *eem_feature_model_input_name(const eem_feature_model *m, int k);
/* Output values per feature: sum over outputs of (dims 1 ? length : 1). */
int eem_feature_model_value_count(const eem_feature_model *m);
/* Input k is a scalar string (EE predictProperties' string properties):
 * sent as a JSON string (RAW_JSON) or a DT_STRING TensorProto
 * (SERIALIZED_TF_TENSORS); other formats carry numbers only (an error naming
 * the property and what to do). */
eem_status eem_feature_model_set_string_input(eem_feature_model *m, int k, eem_error *err);
/* The cost guard: most features one read pass may send. */
long eem_feature_model_max_predictions(const eem_feature_model *m);

/* Predict n features: inputs[f * input_count + k]; fids[f] names feature f in
 * messages; outputs[f * value_count + j] and results[f] are filled.  Fails on
 * bad input (a list of another length, NULL_INPUT=ERROR) and, unless
 * ON_ERROR=NODATA, when a request fails; cancel (may be NULL) is polled. */
eem_status eem_feature_model_predict(eem_feature_model *m, int n, const long long *fids,
                                     const eem_feature_value *inputs, double *outputs,
                                     eem_feature_result *results, int (*cancel)(void *),
                                     void *cancel_user, eem_error *err);

void eem_feature_model_get_stats(const eem_feature_model *m, eem_feature_stats *st);
/* Message of the last request failure masked by ON_ERROR=NODATA ("" if none). */
const char *eem_feature_model_last_failure(const eem_feature_model *m);

#ifdef __cplusplus
}
#endif
#endif
