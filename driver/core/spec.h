/* spec.h — the model descriptor: parse and validate the three spellings.
 *
 * EEMODEL:key=value;...   |   EEMODEL:/path/model.json (or a *.eemodel.json file)
 * plus open options (KEY=VALUE strings) that override either.  Keys are
 * case-insensitive; EE camelCase and GDAL UPPER_SNAKE spellings both accepted.
 * eem_spec_parse() returns a validated eem_spec the caller frees with
 * eem_spec_free().  Everything that can be checked without opening the source
 * or contacting the server is checked here; band names are resolved later by
 * source.c because that needs the source raster. */
#ifndef EEM_SPEC_H
#define EEM_SPEC_H

#include "dtype.h"
#include "error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EEM_PREFIX "EEMODEL:"
#define EEM_DEFAULT_MAX_PAYLOAD_BYTES 1500000L
#define EEM_DEFAULT_MAX_PREDICTIONS 1024L
#define EEM_DEFAULT_REGION "us-central1"

typedef enum eem_protocol {
    EEM_PROTO_NONE = 0, /* not given: inferred from URL / ENDPOINT / MODEL */
    EEM_PROTO_AIPLATFORM,
    EEM_PROTO_VERTEX,
    EEM_PROTO_TFSERVING,
    EEM_PROTO_KSERVE_V2
} eem_protocol;

typedef enum eem_payload_format {
    EEM_PAYLOAD_NONE = 0, /* not given: the backend's default */
    EEM_PAYLOAD_SERIALIZED_TF_TENSORS,
    EEM_PAYLOAD_RAW_JSON,
    EEM_PAYLOAD_ND_ARRAYS,
    EEM_PAYLOAD_OIP_V2,
    /* gRPC (grpc_*.c, payload_grpc_*.c) */
    EEM_PAYLOAD_GRPC_TF_TENSORS,
    EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS,
    EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES,
    EEM_PAYLOAD_GRPC_OIP_V2,
    EEM_PAYLOAD_LAST = EEM_PAYLOAD_GRPC_OIP_V2
} eem_payload_format;

/* 1 for the formats that travel as gRPC calls. */
#define EEM_PAYLOAD_IS_GRPC(f) ((f) >= EEM_PAYLOAD_GRPC_TF_TENSORS && (f) <= EEM_PAYLOAD_GRPC_OIP_V2)

typedef enum eem_on_error { EEM_ON_ERROR_FAIL = 0, EEM_ON_ERROR_NODATA } eem_on_error;

/* OVERLAP_MODE: keep each tile's core (CROP) or blend with offset tiles (blend.c). */
typedef enum eem_overlap_mode { EEM_OVERLAP_CROP = 0, EEM_OVERLAP_BLEND } eem_overlap_mode;

/* One selected source band: "ref" is what the user wrote (a 1-based index or a
 * band description), "key" the tensor key (NULL: derived by source.c from the
 * band description, else "b<index>"). */
typedef struct eem_band_ref {
    char *ref;
    char *key;
} eem_band_ref;

/* Per-key INPUT_TYPE override. key NULL = applies to every key. */
typedef struct eem_type_override {
    char *key;
    eem_dtype type;
} eem_type_override;

/* One declared model output. dims 0: one band; dims 1: `length` bands named
 * names[k] (or "<name>_<k>").  length 0 with dims 1 = not declared. */
typedef struct eem_output {
    char *name;
    eem_dtype type;
    int dims;
    int length;
    char **names; /* length entries or NULL */
    int boolean;  /* declared "bool": uint8 values 0/1, a boolean field on the vector side */
} eem_output;

/* What READ_AHEAD and EEMODEL_READ_AHEAD accept (the same two words; YES is refused
 * like any other value), said by both of their messages. */
#define EEM_READ_AHEAD_ACCEPTED                                                                  \
    "accepted: AUTO (predict the window a reader announces ahead of its reads) or NO (only "    \
    "what each read needs)"

typedef struct eem_spec {
    char *input;       /* GDAL name of the source, resolved against the JSON file's folder */
    eem_band_ref *bands; /* n_bands entries; 0 = all source bands */
    int n_bands;
    char *input_array; /* INPUT_ARRAY key or NULL */
    eem_type_override *input_types;
    int n_input_types;

    eem_protocol protocol;
    char *project, *model, *version, *region, *endpoint, *url, *api_root;
    eem_payload_format payload_format;
    long max_payload_bytes;

    char *proj;        /* PROJ: CRS text or NULL */
    double scale;      /* SCALE: pixel size in CRS units, 0 = source's */
    int fix_input_proj;
    char *resampling;  /* NULL = nearest */
    int tile_origin_mode;      /* TILE_ORIGIN: eem_tile_origin_mode (tile_origin.h) */
    double tile_origin_x, tile_origin_y;

    int tile_w, tile_h;        /* INPUT_TILE_SIZE */
    int overlap_x, overlap_y;  /* INPUT_OVERLAP_SIZE */
    int out_tile_w, out_tile_h;/* OUTPUT_TILE_SIZE (defaults to the input tile) */

    eem_output *outputs;
    int n_outputs;

    int has_nodata;            /* NODATA is one number, for every band */
    double nodata;
    char *nodata_text;         /* NODATA as given (one number, or one per band) or NULL;
                                  checked against the band types at open (nodata.h) */

    long max_predictions;      /* -1 = not set (use config / default) */
    eem_on_error on_error;
    int read_ahead;            /* READ_AHEAD: 1 AUTO, 0 NO, -1 not set (EEMODEL_READ_AHEAD) */
    int probe;                 /* PROBE=YES: measure the model at open (probe.c) */
    eem_overlap_mode overlap_mode; /* OVERLAP_MODE */
    char *cache_dir;           /* NULL = not set */
    long job_max_predictions;  /* JOB_MAX_PREDICTIONS, 0 = not set (config / none) */
    char *cache_key;           /* CACHE_KEY: model identity in cache keys, NULL = the URL */
    char *headers;             /* "Name: value, Name: value" or NULL */
    char *google_credentials_host; /* GOOGLE_CREDENTIALS_HOST (never from a file) or NULL */
    int columnar;              /* REQUEST_LAYOUT=COLUMNAR: TF Serving "inputs" instead of "instances" */
    char *signature_name;      /* SIGNATURE_NAME or NULL */

    /* The vector side and the other ee.Model parameters (spec_vector.c). */
    int vector;                   /* OUTPUT_PROPERTIES given: INPUT is a vector source */
    char *input_properties;       /* INPUT_PROPERTIES text (comma-separated) or NULL */
    char *layer;                  /* LAYER or NULL */
    char *null_input_text;        /* NULL_INPUT text or NULL */
    int null_input;               /* parsed: EEM_NULL_INPUT_* */
    char *output_multiplier_text; /* OUTPUT_MULTIPLIER text or NULL */
    double output_multiplier;     /* parsed: 0 = not given, else >= 1 */
    char *input_shapes;           /* INPUT_SHAPES text (or JSON) or NULL */
} eem_spec;

/* NULL_INPUT: what a feature with a null or missing input property becomes. */
enum { EEM_NULL_INPUT_NULL = 0, EEM_NULL_INPUT_SKIP, EEM_NULL_INPUT_ERROR };

/* Check and parse the vector-side keys and the other ee.Model parameters
 * (spec_vector.c; called by eem_spec_parse). */
eem_status eem_spec_check_vector_keys(eem_spec *spec, eem_error *err);
/* An output type name: every eem_dtype name, plus bool/boolean (uint8 with
 * *boolean set). */
eem_dtype eem_spec_output_type_from_name(const char *name, int *boolean);
/* The INPUT_SHAPES shape of key into dims (at most EEM_SPEC_SHAPE_MAX):
 * its dimension count, or -1 when key has none. */
#define EEM_SPEC_SHAPE_MAX 8
int eem_spec_input_shape(const eem_spec *spec, const char *key, int64_t *dims);
/* 1 if name is one of INPUT_PROPERTIES (an entry name:value by its name). */
int eem_spec_lists_input_property(const eem_spec *spec, const char *name);

/* 1 if name starts with EEMODEL: (case-insensitive) or ends with .eemodel.json. */
int eem_spec_identify(const char *name);

/* Parse name (connection string or JSON file path) and open_options
 * (NULL-terminated "KEY=VALUE" list, may be NULL).  On failure *out is NULL and
 * err says which key, which value and what is accepted. */
eem_status eem_spec_parse(const char *name, const char *const *open_options,
                          eem_spec **out, eem_error *err);
void eem_spec_free(eem_spec *spec);
/* Deep copy of spec (owned, freed with eem_spec_free): a holder that fills in
 * what the server says changes its own copy, never the caller's. */
eem_status eem_spec_clone(const eem_spec *spec, eem_spec **out, eem_error *err);

/* Band count of all outputs together (dims-1 outputs count `length` bands). */
int eem_spec_output_band_count(const eem_spec *spec);
/* Name of output band k (0-based) and its output index / channel. */
const char *eem_spec_output_band_name(const eem_spec *spec, int k, char *buf, size_t buflen,
                                      int *output_index, int *channel);

/* The open option list XML advertised by the driver (static string). */
const char *eem_spec_open_option_list_xml(void);
/* A descriptor name safe to show (dataset description, messages): HEADERS
 * values and the user-info and query values of URLs replaced by
 * "[redacted]".  Written into buf like snprintf; returns the full length. */
size_t eem_spec_name_for_display(const char *name, char *buf, size_t buflen);

const char *eem_protocol_name(eem_protocol p);
const char *eem_payload_format_name(eem_payload_format f);

#ifdef __cplusplus
}
#endif
#endif
