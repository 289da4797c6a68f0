/* spec.c — the model descriptor: parse the three spellings (inline
 * EEMODEL:key=value;..., a JSON file, open options) and validate them into one
 * eem_spec (see spec.h and DESIGN.md section 2).
 *
 * Two passes: collection turns every spelling into (known key -> raw value:
 * text or JSON object), rejecting unknown and duplicated keys; validation then
 * builds the eem_spec key by key, each failure naming the key, the value and
 * what is accepted.  Open options are collected last and override.  Also the
 * redacted display form of a descriptor name.  Freeing and copying a spec is
 * spec_clone.c's; the header rule is request_headers.c's. */
#include "spec.h"

#include "nodata.h"
#include "buf.h"
#include "request_headers.h"
#include "url.h"
#include "str.h"
#include "tile_origin.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_vsi.h>
#include <json-c/json.h>

/* ---- limits ------------------------------------------------------------ */

#define EEM_SPEC_MAX_TILE_SIDE 65536         /* per axis, input or output tile */
#define EEM_SPEC_MAX_TILE_PIXELS (1L << 28)  /* W*H of one tile */
/* An overlap of more than 8 tile widths means a model that sees mostly
 * neighbouring tiles: almost certainly a swapped or mistyped value. */
#define EEM_SPEC_MAX_OVERLAP_FACTOR 8
#define EEM_SPEC_MIN_PAYLOAD_BYTES 1024L
#define EEM_SPEC_MAX_OUTPUT_LENGTH 4096      /* channels of one dims-1 output */
#define EEM_SPEC_MAX_JSON_BYTES (1L << 20)   /* a descriptor file, not a data set */
#define EEM_SPEC_JSON_DEPTH 16
#define EEM_SPEC_SHOW_MAX 120                /* characters of a value quoted in messages */

/* ---- the key table ------------------------------------------------------
 * X(id, UPPER_SNAKE name, extra canonical EE alias or NULL, XML type,
 *   XML extra attributes, XML <Value> children, XML description).
 * Descriptions are XML attribute text: no <, & or '.  Every other EE camelCase
 * name canonicalises (lowercase, no underscores) to the same as UPPER_SNAKE. */
#define EEM_SPEC_KEYS(X)                                                                      \
    X(INPUT, "INPUT", NULL, "string", "", "",                                                 \
      "Source dataset: a raster (OUTPUT_BANDS) or a vector source (OUTPUT_PROPERTIES), "      \
      "required")                                                                             \
    X(BANDS, "BANDS", NULL, "string", "", "",                                                 \
      "Source bands in order: descriptions or 1-based indices, comma-separated")              \
    X(INPUT_ARRAY, "INPUT_ARRAY", NULL, "string", "", "",                                     \
      "Stack the selected bands into one (H,W,C) tensor under this key")                      \
    X(INPUT_TYPE, "INPUT_TYPE", "inputtypeoverride", "string", "", "",                        \
      "Element type sent: one type for every key, or key:type,key:type")                      \
    X(PROJECT, "PROJECT", "projectid", "string", "", "",                                      \
      "Google Cloud project of an AI Platform model (with MODEL)")                            \
    X(MODEL, "MODEL", "modelname", "string", "", "", "AI Platform model name (with PROJECT)") \
    X(VERSION, "VERSION", NULL, "string", "", "", "AI Platform model version")                \
    X(REGION, "REGION", NULL, "string", " default='" EEM_DEFAULT_REGION "'", "",             \
      "AI Platform region")                                                                   \
    X(ENDPOINT, "ENDPOINT", NULL, "string", "", "",                                           \
      "Vertex AI endpoint projects/P/locations/L/endpoints/E")                                \
    X(URL, "URL", NULL, "string", "", "", "Any predict URL (http(s):// or grpc(s)://)")      \
    X(PROTOCOL, "PROTOCOL", NULL, "string-select", "",                                        \
      "<Value>aiplatform</Value><Value>vertex</Value><Value>tfserving</Value>"                \
      "<Value>kserve-v2</Value>",                                                             \
      "Wire protocol of URL (inferred from the URL path when absent)")                        \
    X(API_ROOT, "API_ROOT", NULL, "string", "", "",                                           \
      "Replaces the Google host for ENDPOINT or PROJECT/MODEL (http:// or https:// URL)")     \
    X(PAYLOAD_FORMAT, "PAYLOAD_FORMAT", NULL, "string-select", "",                            \
      "<Value>SERIALIZED_TF_TENSORS</Value><Value>RAW_JSON</Value>"                           \
      "<Value>ND_ARRAYS</Value><Value>OIP_V2</Value><Value>GRPC_TF_TENSORS</Value>"           \
      "<Value>GRPC_SERIALIZED_TF_TENSORS</Value><Value>GRPC_SERIALIZED_TF_EXAMPLES</Value>"   \
      "<Value>GRPC_OIP_V2</Value>",                                                           \
      "Request payload format (default: the backend default)")                                \
    X(MAX_PAYLOAD_BYTES, "MAX_PAYLOAD_BYTES", NULL, "int", " default='1500000'", "",          \
      "Request body limit in bytes (at least 1024)")                                          \
    X(REQUEST_LAYOUT, "REQUEST_LAYOUT", NULL, "string-select", " default='ROW'",              \
      "<Value>ROW</Value><Value>COLUMNAR</Value>",                                            \
      "TF Serving request form: ROW (instances) or COLUMNAR (inputs)")                        \
    X(SIGNATURE_NAME, "SIGNATURE_NAME", NULL, "string", "", "",                               \
      "TF Serving signature_name sent with each request (default: the serving signature)")    \
    X(PROJ, "PROJ", NULL, "string", "", "",                                                   \
      "CRS of the model input grid (default: the source CRS)")                                \
    X(SCALE, "SCALE", NULL, "float", "", "",                                                  \
      "Pixel size of the model input grid in CRS units (default: the source pixel size)")     \
    X(FIX_INPUT_PROJ, "FIX_INPUT_PROJ", NULL, "boolean", " default='NO'", "",                 \
      "Overviews reduce full-resolution predictions instead of predicting coarser inputs")    \
    X(INPUT_TILE_SIZE, "INPUT_TILE_SIZE", NULL, "string", "", "",                             \
      "W,H input pixels per tile (required)")                                                 \
    X(INPUT_OVERLAP_SIZE, "INPUT_OVERLAP_SIZE", NULL, "string", " default='0,0'", "",         \
      "X,Y extra input pixels sent on each edge of a tile")                                   \
    X(OVERLAP_MODE, "OVERLAP_MODE", NULL, "string-select", " default='CROP'",                 \
      "<Value>CROP</Value><Value>BLEND</Value>",                                              \
      "CROP: keep each tile core; BLEND: also predict tiles offset by half a tile and blend")  \
    X(OUTPUT_TILE_SIZE, "OUTPUT_TILE_SIZE", NULL, "string", "", "",                           \
      "W,H output pixels per tile (default: INPUT_TILE_SIZE)")                                \
    X(OUTPUT_BANDS, "OUTPUT_BANDS", NULL, "string", "", "",                                   \
      "Model outputs in order: name:type[:length] or name:type:a/b/c, comma-separated "      \
      "(required)")                                                                           \
    X(NODATA, "NODATA", NULL, "string", "", "",                                               \
      "Value written where the output is masked: one number, or one per output band "        \
      "(default: nan for float bands)")                                                       \
    X(RESAMPLING, "RESAMPLING", NULL, "string-select", " default='nearest'",                  \
      "<Value>nearest</Value><Value>bilinear</Value><Value>cubic</Value>"                     \
      "<Value>cubicspline</Value><Value>lanczos</Value><Value>average</Value>"                \
      "<Value>mode</Value><Value>min</Value><Value>max</Value><Value>med</Value>"             \
      "<Value>q1</Value><Value>q3</Value><Value>sum</Value><Value>rms</Value>",                \
      "Resampling when warping the source onto PROJ/SCALE")                                   \
    X(MAX_PREDICTIONS, "MAX_PREDICTIONS", NULL, "int", " default='1024'", "",                 \
      "Cost guard: most tiles one opened dataset may predict")                                          \
    X(PROBE, "PROBE", NULL, "boolean", " default='NO'", "",                                   \
      "At open, send a few tiles to measure the model (receptive field, determinism)")       \
    X(ON_ERROR, "ON_ERROR", NULL, "string-select", " default='FAIL'",                         \
      "<Value>FAIL</Value><Value>NODATA</Value>",                                             \
      "What a tile that still fails after retries becomes")                                   \
    X(READ_AHEAD, "READ_AHEAD", NULL, "string-select", " default='AUTO'",                     \
      "<Value>AUTO</Value><Value>NO</Value>",                                                 \
      "AUTO: predict the window a reader announced (AdviseRead) ahead of its reads; NO: "    \
      "only what each read needs")                                                            \
    X(CACHE_DIR, "CACHE_DIR", NULL, "string", "", "", "Persistent prediction cache folder")   \
    X(CACHE_KEY, "CACHE_KEY", NULL, "string", "", "",                                         \
      "Model identity in cache keys instead of the URL (same model behind other URLs)")       \
    X(JOB_MAX_PREDICTIONS, "JOB_MAX_PREDICTIONS", NULL, "int", "", "",                         \
      "Job budget: most tiles all processes sharing CACHE_DIR may predict together")          \
    X(TILE_ORIGIN, "TILE_ORIGIN", NULL, "string", "", "",                                     \
      "X,Y anchor of the global tile lattice in the model grid CRS, or SCENE")                \
    X(HEADERS, "HEADERS", NULL, "string", "", "",                                             \
      "Extra HTTP headers: Name: value, Name: value (prefer EEMODEL_HEADERS or "              \
      "GDAL_HTTP_HEADER_FILE for secrets)")                                                   \
    X(GOOGLE_CREDENTIALS_HOST, "GOOGLE_CREDENTIALS_HOST", NULL, "string", "", "",             \
      "Host of a private gateway that may receive Google credentials (open option only)")     \
    X(INPUT_PROPERTIES, "INPUT_PROPERTIES", NULL, "string", "", "",                           \
      "Vector INPUT: the fields sent as the instance of each feature, comma-separated")      \
    X(OUTPUT_PROPERTIES, "OUTPUT_PROPERTIES", NULL, "string", "", "",                         \
      "Vector INPUT: the predicted fields, name:type[:length] (opens a vector layer)")       \
    X(LAYER, "LAYER", NULL, "string", "", "", "Vector INPUT: the source layer (default: the first)") \
    X(NULL_INPUT, "NULL_INPUT", NULL, "string-select", " default='NULL'",                      \
      "<Value>NULL</Value><Value>SKIP</Value><Value>ERROR</Value>",                           \
      "Vector INPUT: a feature with a null input property: null outputs, left out, or an error") \
    X(OUTPUT_MULTIPLIER, "OUTPUT_MULTIPLIER", NULL, "float", "", "",                          \
      "EE outputMultiplier: answer bytes per request byte (at least 1), sizes batches")      \
    X(INPUT_SHAPES, "INPUT_SHAPES", NULL, "string", "", "",                                   \
      "EE inputShapes: key:[shape] of array inputs (checked against what is sent)")          \
    X(PROJECT_NAME, "PROJECT_NAME", NULL, "string", "", "",                                   \
      "EE projectName (deprecated spelling of PROJECT / projectId)")

typedef enum spec_key {
#define EEM_X_ENUM(id, name, alias, type, attrs, values, desc) K_##id,
    EEM_SPEC_KEYS(EEM_X_ENUM)
#undef EEM_X_ENUM
        K_COUNT
} spec_key;

static const char *const key_names[K_COUNT] = {
#define EEM_X_NAME(id, name, alias, type, attrs, values, desc) name,
    EEM_SPEC_KEYS(EEM_X_NAME)
#undef EEM_X_NAME
};

static const char *const key_aliases[K_COUNT] = {
#define EEM_X_ALIAS(id, name, alias, type, attrs, values, desc) alias,
    EEM_SPEC_KEYS(EEM_X_ALIAS)
#undef EEM_X_ALIAS
};

/* Each key's <Option> element, opened after its name: the alias attribute
 * (GDAL 3.6 validates open options against name or alias) goes in between. */
static const char *const option_xml_rest[K_COUNT] = {
#define EEM_X_XML(id, name, alias, type, attrs, values, desc)                                 \
    "' type='" type "'" attrs " description='" desc "'>" values "</Option>",
    EEM_SPEC_KEYS(EEM_X_XML)
#undef EEM_X_XML
};

/* Room for the open option list with an alias per key. */
#define EEM_OPEN_OPTION_LIST_MAX 16384

/* The advertised list: every key with an alias GDAL accepts without its "does
 * not support open option" warning: the Earth Engine name, else the name
 * without underscores (GDAL compares without case: inputTileSize). */
const char *eem_spec_open_option_list_xml(void)
{
    static char xml[EEM_OPEN_OPTION_LIST_MAX];
    if (xml[0])
        return xml;
    size_t k = (size_t)snprintf(xml, sizeof xml, "<OpenOptionList>");
    for (int i = 0; i < K_COUNT && k < sizeof xml; i++) {
        char alias[64] = "";
        if (key_aliases[i])
            snprintf(alias, sizeof alias, "%s", key_aliases[i]);
        else if (strchr(key_names[i], '_')) {
            size_t n = 0;
            for (const char *c = key_names[i]; *c && n + 1 < sizeof alias; c++)
                if (*c != '_')
                    alias[n++] = (char)tolower((unsigned char)*c);
            alias[n] = '\0';
        }
        k += (size_t)snprintf(xml + k, sizeof xml - k, "<Option name='%s%s%s%s", key_names[i],
                              alias[0] ? "' alias='" : "", alias, option_xml_rest[i]);
    }
    if (k < sizeof xml)
        snprintf(xml + k, sizeof xml - k, "</OpenOptionList>");
    return xml;
}

/* ---- small string helpers (no POSIX dependency) ------------------------ */

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int starts_with_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
            return 0;
    return 1;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && eem_str_equal_ignoring_case(s + ls - lx, suffix);
}

/* [b,e) ends with ".json", case-insensitively. */
static int range_ends_with_json(const char *b, const char *e)
{
    static const char suffix[] = ".json";
    size_t n = sizeof suffix - 1;
    if ((size_t)(e - b) < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)e[(ptrdiff_t)i - (ptrdiff_t)n]) != suffix[i])
            return 0;
    return 1;
}

static void trim_range(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* A value as shown in messages: truncated, control characters replaced. */
typedef struct shown {
    char text[EEM_SPEC_SHOW_MAX + 8];
} shown;

static const char *show(shown *buf, const char *s)
{
    /* any URL in the value loses its user-info and query values */
    char clean[4 * EEM_SPEC_SHOW_MAX + 64];
    size_t n = s ? strlen(s) : 0;
    eem_url_redact_in_text(s ? s : "", n < 2 * EEM_SPEC_SHOW_MAX ? n : 2 * EEM_SPEC_SHOW_MAX,
                           clean, sizeof clean);
    size_t i = 0;
    for (; clean[i] && i < EEM_SPEC_SHOW_MAX; i++)
        buf->text[i] = iscntrl((unsigned char)clean[i]) ? '?' : clean[i];
    if (clean[i] || n > 2 * EEM_SPEC_SHOW_MAX)
        memcpy(buf->text + i, "...", 4);
    else
        buf->text[i] = '\0';
    return buf->text;
}

/* URLs are shown without their user-info and query values (API keys). */
static const char *show_url(shown *buf, const char *url)
{
    return show(buf, url);
}

/* ---- key canonicalisation and suggestions ------------------------------ */

#define EEM_SPEC_KEY_MAX 64

/* Lowercase without underscores, into canon (size EEM_SPEC_KEY_MAX).
 * Returns 0 if the key is too long to be any known key. */
static int canonical_key(const char *key, size_t n, char *canon)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] == '_')
            continue;
        if (k + 1 >= EEM_SPEC_KEY_MAX)
            return 0;
        canon[k++] = (char)tolower((unsigned char)key[i]);
    }
    canon[k] = '\0';
    return 1;
}

static int key_lookup(const char *canon)
{
    char known[EEM_SPEC_KEY_MAX];
    for (int i = 0; i < K_COUNT; i++) {
        canonical_key(key_names[i], strlen(key_names[i]), known);
        if (strcmp(known, canon) == 0 || (key_aliases[i] && strcmp(key_aliases[i], canon) == 0))
            return i;
    }
    return -1;
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[EEM_SPEC_KEY_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known key nearest to canon, or -1 when nothing is reasonably close. */
static int key_nearest(const char *canon)
{
    size_t len = strlen(canon);
    int best = -1;
    size_t best_d = (size_t)-1;
    char known[EEM_SPEC_KEY_MAX];
    for (int i = 0; i < K_COUNT; i++) {
        for (int spelling = 0; spelling < 2; spelling++) {
            if (spelling == 0)
                canonical_key(key_names[i], strlen(key_names[i]), known);
            else if (key_aliases[i])
                snprintf(known, sizeof known, "%s", key_aliases[i]);
            else
                continue;
            size_t d = levenshtein(canon, known);
            /* a truncated key (INPUT_TILE for INPUT_TILE_SIZE) counts as close */
            if (len >= 3 && strncmp(known, canon, len) == 0 && d > 1)
                d = 1 + (d > 4 ? 1 : 0);
            if (d < best_d) {
                best_d = d;
                best = i;
            }
        }
    }
    size_t limit = len / 2 > 2 ? len / 2 : 2;
    return best_d <= limit ? best : -1;
}

/* Words that mean a key without being spelt like it (canonical form): the
 * spelling distance would suggest another key (projection -> PROJECT). */
static const struct {
    const char *word;
    spec_key key;
    const char *meaning;
} key_hints[] = {
    {"projection", K_PROJ, "the CRS of the model's grid"},
    {"crs", K_PROJ, "the CRS of the model's grid"},
    {"srs", K_PROJ, "the CRS of the model's grid"},
    {"tsrs", K_PROJ, "the CRS of the model's grid"},
    {"epsg", K_PROJ, "the CRS of the model's grid, such as EPSG:4326"},
    {"resolution", K_SCALE, "the pixel size of the model's grid"},
    {"pixelsize", K_SCALE, "the pixel size of the model's grid"},
    {"tilesize", K_INPUT_TILE_SIZE, "input pixels per tile"},
};

static eem_status unknown_key_error(const char *key, size_t n, eem_error *err)
{
    char given[EEM_SPEC_SHOW_MAX + 1];
    size_t m = n < EEM_SPEC_SHOW_MAX ? n : EEM_SPEC_SHOW_MAX;
    memcpy(given, key, m);
    given[m] = '\0';
    shown s;
    char canon[EEM_SPEC_KEY_MAX];
    const int canonical = canonical_key(key, n, canon);
    for (size_t i = 0; canonical && i < sizeof key_hints / sizeof key_hints[0]; i++)
        if (strcmp(canon, key_hints[i].word) == 0)
            return eem_error_set(err, EEM_ERR_INVALID, "unknown key \"%s\" (did you mean %s, %s?)",
                                 show(&s, given), key_names[key_hints[i].key],
                                 key_hints[i].meaning);
    int near = canonical ? key_nearest(canon) : -1;
    if (near >= 0)
        return eem_error_set(err, EEM_ERR_INVALID, "unknown key \"%s\" (did you mean %s?)",
                             show(&s, given), key_names[near]);
    char list[1024] = "";
    size_t used = 0;
    for (int i = 0; i < K_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 key_names[i]);
    return eem_error_set(err, EEM_ERR_INVALID, "unknown key \"%s\"; known keys: %s",
                         show(&s, given), list);
}

/* ---- pass 1: collection ------------------------------------------------- */

typedef enum spec_origin { ORIGIN_NONE = 0, ORIGIN_INLINE, ORIGIN_JSON, ORIGIN_OPTION } spec_origin;

/* One collected value: text (owned) or a JSON object (one reference held). */
typedef struct spec_value {
    spec_origin origin;
    char *text;
    json_object *json;
} spec_value;

typedef struct spec_raw {
    spec_value v[K_COUNT];
    char *json_dir; /* folder of the JSON descriptor, for a relative INPUT */
} spec_raw;

static void value_clear(spec_value *v)
{
    free(v->text);
    json_object_put(v->json);
    memset(v, 0, sizeof *v);
}

static void raw_free(spec_raw *raw)
{
    for (int i = 0; i < K_COUNT; i++)
        value_clear(&raw->v[i]);
    free(raw->json_dir);
}

static const char *origin_name(spec_origin o)
{
    switch (o) {
    case ORIGIN_INLINE: return "the connection string";
    case ORIGIN_JSON: return "the JSON descriptor";
    case ORIGIN_OPTION: return "the open options";
    default: return "the descriptor";
    }
}

/* Store a value under key; takes text and json (either may be NULL) in all cases. */
static eem_status raw_put(spec_raw *raw, const char *key, size_t key_len, spec_origin origin,
                          char *text, json_object *json, eem_error *err)
{
    eem_status st = EEM_OK;
    char canon[EEM_SPEC_KEY_MAX];
    int id = canonical_key(key, key_len, canon) ? key_lookup(canon) : -1;
    if (id < 0) {
        st = unknown_key_error(key, key_len, err);
        goto done;
    }
    if (raw->v[id].origin == origin) {
        st = eem_error_set(err, EEM_ERR_INVALID, "%s is given twice in %s", key_names[id],
                           origin_name(origin));
        goto done;
    }
    value_clear(&raw->v[id]);
    raw->v[id].origin = origin;
    raw->v[id].text = text;
    raw->v[id].json = json;
    return EEM_OK;
done:
    free(text);
    json_object_put(json);
    return st;
}

/* Remove the double quotes around a value that is one quoted string, undoing
 * \" and \\ escapes.  Returns an owned copy either way. */
static char *unquote(const char *b, const char *e)
{
    size_t n = (size_t)(e - b);
    if (n >= 2 && b[0] == '"') {
        const char *p = b + 1;
        while (p < e && *p != '"')
            p += (*p == '\\' && p + 1 < e) ? 2 : 1;
        if (p == e - 1) {
            char *out = malloc(n);
            if (!out)
                return NULL;
            size_t k = 0;
            for (p = b + 1; p < e - 1; p++) {
                if (*p == '\\' && p + 1 < e - 1 && (p[1] == '"' || p[1] == '\\'))
                    p++;
                out[k++] = *p;
            }
            out[k] = '\0';
            return out;
        }
    }
    return dup_range(b, n);
}

static eem_status collect_segment(spec_raw *raw, const char *b, const char *e, spec_origin origin,
                                  eem_error *err)
{
    shown s;
    trim_range(&b, &e);
    if (b == e)
        return EEM_OK; /* empty segment (trailing ';') */
    const char *eq = memchr(b, '=', (size_t)(e - b));
    char *seg = dup_range(b, (size_t)(e - b));
    if (!seg)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = EEM_OK;
    if (!eq) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "\"%s\" in %s has no '='; expected key=value (keys such as INPUT, "
                           "INPUT_TILE_SIZE, OUTPUT_BANDS)",
                           show(&s, seg), origin_name(origin));
        goto done;
    }
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim_range(&kb, &ke);
    trim_range(&vb, &ve);
    if (kb == ke) {
        st = eem_error_set(err, EEM_ERR_INVALID, "\"%s\" in %s has no key before '='",
                           show(&s, seg), origin_name(origin));
        goto done;
    }
    char *value = origin == ORIGIN_INLINE ? unquote(vb, ve) : dup_range(vb, (size_t)(ve - vb));
    if (!value) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = raw_put(raw, kb, (size_t)(ke - kb), origin, value, NULL, err);
done:
    free(seg);
    return st;
}

/* key=value;key="value;with;semicolons";... */
static eem_status collect_inline(spec_raw *raw, const char *text, eem_error *err)
{
    const char *p = text;
    while (*p) {
        const char *seg = p;
        int quoted = 0;
        while (*p && (quoted || *p != ';')) {
            if (quoted && *p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = !quoted;
            p++;
        }
        if (quoted) { /* name the key only: the value may be a secret header */
            shown s;
            size_t key_len = strcspn(seg, "=");
            char key[EEM_SPEC_KEY_MAX];
            snprintf(key, sizeof key, "%.*s", (int)(key_len < sizeof key ? key_len : sizeof key - 1), seg);
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "the value of \"%s\" has an unterminated double quote; quote "
                                 "whole values like key=\"a;b\"",
                                 show(&s, key));
        }
        eem_status st = collect_segment(raw, seg, p, ORIGIN_INLINE, err);
        if (st != EEM_OK)
            return st;
        if (*p == ';')
            p++;
    }
    return EEM_OK;
}

/* ---- a name safe to show ------------------------------------------------ */

/* value with the user-info and query values of URLs in it redacted. */
static void put_redacted(eem_buf *b, const char *v, size_t n)
{
    size_t cap = n * 4 + 64;
    char *t = malloc(cap);
    if (!t) {
        b->failed = 1;
        return;
    }
    eem_url_redact_in_text(v, n, t, cap);
    eem_buf_puts(b, t);
    free(t);
}

static int key_is_headers(const char *k, size_t n)
{
    char canon[EEM_SPEC_KEY_MAX];
    return canonical_key(k, n, canon) && key_lookup(canon) == K_HEADERS;
}

/* key=value;... with HEADERS values and URL secrets redacted. */
static void display_inline(eem_buf *b, const char *p)
{
    while (*p) {
        const char *seg = p;
        int quoted = 0;
        while (*p && (quoted || *p != ';')) {
            if (quoted && *p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = !quoted;
            p++;
        }
        const char *eq = memchr(seg, '=', (size_t)(p - seg));
        if (eq) {
            const char *kb = seg, *ke = eq;
            trim_range(&kb, &ke);
            eem_buf_append(b, seg, (size_t)(eq + 1 - seg));
            if (key_is_headers(kb, (size_t)(ke - kb)))
                eem_buf_puts(b, EEM_URL_REDACTED);
            else
                put_redacted(b, eq + 1, (size_t)(p - eq - 1));
        } else {
            put_redacted(b, seg, (size_t)(p - seg));
        }
        if (*p == ';')
            eem_buf_puts(b, ";"), p++;
    }
}

/* An inline JSON object with HEADERS values and URL secrets redacted; the
 * text as a whole (redacted) when it does not parse. */
static void display_json(eem_buf *b, const char *text)
{
    json_object *o = json_tokener_parse(text);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        put_redacted(b, text, strlen(text));
        return;
    }
    json_object_object_foreach(o, key, val)
    {
        if (key_is_headers(key, strlen(key))) {
            json_object_object_add(o, key, json_object_new_string(EEM_URL_REDACTED));
        } else if (json_object_is_type(val, json_type_string)) {
            const char *v = json_object_get_string(val);
            size_t cap = strlen(v) * 4 + 64;
            char *t = malloc(cap);
            if (t) {
                eem_url_redact_in_text(v, strlen(v), t, cap);
                json_object_object_add(o, key, json_object_new_string(t));
                free(t);
            }
        }
    }
    eem_buf_puts(b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

size_t eem_spec_name_for_display(const char *name, char *buf, size_t buflen)
{
    if (!name)
        name = "";
    if (!starts_with_ci(name, EEM_PREFIX))
        return eem_name_for_display(name, buf, buflen);
    eem_buf b = {0};
    const char *rest = name + strlen(EEM_PREFIX);
    eem_buf_append(&b, name, strlen(EEM_PREFIX));
    const char *t = rest;
    while (isspace((unsigned char)*t))
        t++;
    if (*t == '{')
        display_json(&b, rest);
    else
        display_inline(&b, rest);
    int failed = b.failed || !b.data;
    size_t n = failed ? strlen(EEM_PREFIX) : b.len;
    if (buf && buflen)
        snprintf(buf, buflen, "%s", failed ? EEM_PREFIX : b.data);
    eem_buf_free(&b);
    return n;
}

static eem_status collect_options(spec_raw *raw, const char *const *options, eem_error *err)
{
    for (size_t i = 0; options && options[i]; i++) {
        const char *o = options[i];
        eem_status st = collect_segment(raw, o, o + strlen(o), ORIGIN_OPTION, err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}

/* A JSON scalar, or an array of scalars joined with commas, as text. */
static char *json_scalar_text(json_object *j)
{
    if (json_object_is_type(j, json_type_double)) {
        double d = json_object_get_double(j);
        if (d == floor(d) && fabs(d) < 1e15) { /* 1.5e6 -> "1500000" for integer keys */
            char num[32];
            snprintf(num, sizeof num, "%.0f", d);
            return eem_strdup(num);
        }
    }
    if (!json_object_is_type(j, json_type_array))
        return eem_strdup(json_object_get_string(j));
    size_t n = json_object_array_length(j), cap = 1;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(j, i);
        if (!e || json_object_is_type(e, json_type_object) || json_object_is_type(e, json_type_array))
            return NULL;
        cap += strlen(json_object_get_string(e)) + 1;
    }
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(j, i));
        if (i)
            out[k++] = ',';
        memcpy(out + k, s, strlen(s));
        k += strlen(s);
    }
    out[k] = '\0';
    return out;
}

static eem_status collect_json_object(spec_raw *raw, json_object *root, const char *where,
                                      eem_error *err)
{
    shown s;
    if (!json_object_is_type(root, json_type_object))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "JSON descriptor %s is not a JSON object; expected "
                             "{\"input\": ..., \"inputTileSize\": [W,H], \"outputBands\": ...}",
                             show(&s, where));
    json_object_object_foreach(root, key, val)
    {
        if (!val || json_object_is_type(val, json_type_null))
            continue; /* null = not set */
        char *text = NULL;
        json_object *obj = NULL;
        if (json_object_is_type(val, json_type_object)) {
            obj = json_object_get(val);
        } else {
            text = json_scalar_text(val);
            if (!text) {
                shown t;
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "%s: %s in %s is not a value, a list of values or an object",
                                     show(&t, key),
                                     show(&s, json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN)),
                                     where);
            }
        }
        eem_status st = raw_put(raw, key, strlen(key), ORIGIN_JSON, text, obj, err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}

static eem_status parse_json_text(const char *text, size_t len, const char *where,
                                  json_object **out, eem_error *err)
{
    shown s;
    *out = NULL;
    json_tokener *tok = json_tokener_new_ex(EEM_SPEC_JSON_DEPTH);
    if (!tok)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    eem_status st = EEM_OK;
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (!root || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            st = eem_error_set(err, EEM_ERR_INVALID, "JSON descriptor %s is truncated",
                               show(&s, where));
        else
            st = eem_error_set(err, EEM_ERR_INVALID, "JSON descriptor %s is not valid JSON: %s at byte %zu",
                               show(&s, where), json_tokener_error_desc(jerr),
                               json_tokener_get_parse_end(tok));
        goto done;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (!isspace((unsigned char)text[i])) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "JSON descriptor %s has extra text after the object at byte %zu",
                               show(&s, where), i);
            goto done;
        }
    }
    *out = root;
    root = NULL;
done:
    json_object_put(root);
    json_tokener_free(tok);
    return st;
}

/* Through GDAL's VSI layer, so /vsimem/ and /vsicurl/ descriptors work.
 * (VSIStatL's struct needs POSIX feature macros; opening is as cheap.) */
static int file_exists(const char *path)
{
    VSILFILE *fp = VSIFOpenL(path, "rb");
    if (fp)
        VSIFCloseL(fp);
    return fp != NULL;
}

static eem_status collect_json_file(spec_raw *raw, const char *path, eem_error *err)
{
    shown s;
    GByte *data = NULL;
    vsi_l_offset size = 0;
    json_object *root = NULL;
    eem_status st = EEM_OK;
    char where[EEM_SPEC_SHOW_MAX + 16];
    snprintf(where, sizeof where, "\"%s\"", show(&s, path));

    if (!file_exists(path)) {
        st = eem_error_set(err, EEM_ERR_INVALID, "JSON descriptor %s does not exist", where);
        goto done;
    }
    if (!VSIIngestFile(NULL, path, &data, &size, EEM_SPEC_MAX_JSON_BYTES)) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "JSON descriptor %s cannot be read (or is larger than %ld bytes)",
                           where, (long)EEM_SPEC_MAX_JSON_BYTES);
        goto done;
    }
    st = parse_json_text((const char *)data, (size_t)size, where, &root, err);
    if (st != EEM_OK)
        goto done;
    const char *slash = strrchr(path, '/');
    if (slash) {
        raw->json_dir = dup_range(path, (size_t)(slash - path) + 1); /* keeps the '/' */
        if (!raw->json_dir) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    st = collect_json_object(raw, root, where, err);
done:
    json_object_put(root);
    VSIFree(data);
    return st;
}

/* ---- pass 2: validation helpers ---------------------------------------- */

static int present(const spec_raw *raw, spec_key k)
{
    return raw->v[k].origin != ORIGIN_NONE;
}

/* The text of key k; a JSON object where text is expected is an error. */
static eem_status text_of(const spec_raw *raw, spec_key k, const char *accepted,
                          const char **out, eem_error *err)
{
    const spec_value *v = &raw->v[k];
    *out = v->text;
    if (v->json) {
        shown s;
        return eem_error_set(err, EEM_ERR_INVALID, "%s: %s is a JSON object; expected %s",
                             key_names[k],
                             show(&s, json_object_to_json_string_ext(v->json, JSON_C_TO_STRING_PLAIN)),
                             accepted);
    }
    return EEM_OK;
}

static eem_status bad_value(spec_key k, const char *value, const char *problem, eem_error *err)
{
    shown s;
    return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" %s", key_names[k], show(&s, value),
                         problem);
}

/* A non-empty copy of key k's text into *out. */
static eem_status take_string(const spec_raw *raw, spec_key k, const char *accepted, char **out,
                              eem_error *err)
{
    const char *t;
    eem_status st = text_of(raw, k, accepted, &t, err);
    if (st != EEM_OK)
        return st;
    if (!*t) {
        char problem[256];
        snprintf(problem, sizeof problem, "is empty; expected %s", accepted);
        return bad_value(k, t, problem, err);
    }
    *out = eem_strdup(t);
    return *out ? EEM_OK : eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
}

/* Whole string is a non-negative decimal integer (no sign, no junk). */
static int parse_count(const char *b, const char *e, long *out)
{
    trim_range(&b, &e);
    if (b == e)
        return 0;
    long v = 0;
    for (const char *p = b; p < e; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
        if (v > (LONG_MAX - 9) / 10)
            v = (LONG_MAX - 9) / 10; /* saturate: "too large" is reported by the caller */
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

/* "N" or "A,B" of non-negative integers. */
static int parse_pair(const char *text, long *a, long *b)
{
    const char *comma = strchr(text, ',');
    const char *end = text + strlen(text);
    if (!comma)
        return parse_count(text, end, a) && (*b = *a, 1);
    return parse_count(text, comma, a) && parse_count(comma + 1, end, b);
}

static int parse_number(const char *text, double *out)
{
    const char *b = text, *e = text + strlen(text);
    trim_range(&b, &e);
    if (b == e)
        return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(b, &end);
    if (end != e)
        return 0;
    *out = v;
    return 1;
}

static int parse_bool(const char *t, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (eem_str_equal_ignoring_case(t, yes[i]))
            return *out = 1, 1;
        if (eem_str_equal_ignoring_case(t, no[i]))
            return *out = 0, 1;
    }
    return 0;
}

/* http(s)://[user@]host[:port][/...] (or grpc(s)://, gRPC over h2c / TLS):
 * a non-empty host (or [IPv6]) and, when a
 * colon follows it, a port 1..65535 (an empty or bad port is refused instead
 * of silently meaning port 80/443). */
static int is_http_url(const char *t)
{
    const char *rest = starts_with_ci(t, "http://") ? t + 7 : starts_with_ci(t, "https://") ? t + 8 : NULL;
    if (!rest)
        rest = starts_with_ci(t, "grpc://") ? t + 7 : starts_with_ci(t, "grpcs://") ? t + 8 : NULL;
    if (!rest || !*rest || *rest == '/')
        return 0;
    for (const char *p = t; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return 0;
    const char *end = rest + strcspn(rest, "/?#");
    const char *host = rest;
    for (const char *p = rest; p < end; p++)
        if (*p == '@')
            host = p + 1;
    const char *colon = NULL;
    if (host < end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close || close == host + 1)
            return 0;
        if (close + 1 < end) {
            if (close[1] != ':')
                return 0;
            colon = close + 1;
        }
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if ((colon ? colon : end) == host)
            return 0;
    }
    if (colon) {
        const char *d = colon + 1;
        long port = 0;
        if (d == end || end - d > 5)
            return 0;
        for (; d < end; d++) {
            if (!isdigit((unsigned char)*d))
                return 0;
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
    }
    return 1;
}

/* An element type from a JSON value: "float32", or EE's serialized PixelType
 * {"type":"PixelType","precision":"float"|"double"|"int", "min":..,"max":..}. */
static eem_dtype dtype_from_json(json_object *j)
{
    if (json_object_is_type(j, json_type_string))
        return eem_dtype_from_name(json_object_get_string(j));
    if (!json_object_is_type(j, json_type_object))
        return EEM_DT_NONE;
    json_object *prec = NULL, *type = NULL;
    if (!json_object_object_get_ex(j, "precision", &prec)) {
        if (json_object_object_get_ex(j, "type", &type) && json_object_is_type(type, json_type_string))
            return eem_dtype_from_name(json_object_get_string(type));
        return EEM_DT_NONE;
    }
    const char *p = json_object_get_string(prec);
    if (eem_str_equal_ignoring_case(p, "float"))
        return EEM_DT_FLOAT32;
    if (eem_str_equal_ignoring_case(p, "double"))
        return EEM_DT_FLOAT64;
    if (!eem_str_equal_ignoring_case(p, "int"))
        return eem_dtype_from_name(p);
    json_object *jmin = NULL, *jmax = NULL;
    if (!json_object_object_get_ex(j, "min", &jmin) || !json_object_object_get_ex(j, "max", &jmax))
        return EEM_DT_INT32;
    double lo = json_object_get_double(jmin), hi = json_object_get_double(jmax);
    static const struct { eem_dtype t; double lo, hi; } fits[] = {
        {EEM_DT_UINT8, 0, 255},           {EEM_DT_INT8, -128, 127},
        {EEM_DT_UINT16, 0, 65535},        {EEM_DT_INT16, -32768, 32767},
        {EEM_DT_UINT32, 0, 4294967295.0}, {EEM_DT_INT32, -2147483648.0, 2147483647.0},
    };
    for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++)
        if (lo >= fits[i].lo && hi <= fits[i].hi)
            return fits[i].t;
    return EEM_DT_INT64;
}

static eem_status unknown_type_error(spec_key k, const char *context, const char *type,
                                     eem_error *err)
{
    shown a, b;
    return eem_error_set(err, EEM_ERR_INVALID, "%s: \"%s\" has unknown type \"%s\"; accepted: %s",
                         key_names[k], show(&a, context), show(&b, type),
                         eem_dtype_accepted_names());
}

/* Split text on commas into trimmed owned pieces; *n_out pieces in *out. */
static char **split_commas(const char *text, int *n_out)
{
    int n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    char **parts = calloc((size_t)n, sizeof *parts);
    if (!parts)
        return NULL;
    const char *b = text;
    for (int i = 0; i < n; i++) {
        const char *e = strchr(b, ',');
        if (!e)
            e = b + strlen(b);
        const char *tb = b, *te = e;
        trim_range(&tb, &te);
        parts[i] = dup_range(tb, (size_t)(te - tb));
        if (!parts[i]) {
            for (int j = 0; j < i; j++)
                free(parts[j]);
            free(parts);
            return NULL;
        }
        b = *e ? e + 1 : e;
    }
    *n_out = n;
    return parts;
}

static void free_parts(char **parts, int n)
{
    for (int i = 0; parts && i < n; i++)
        free(parts[i]);
    free(parts);
}

/* ---- pass 2: one validator per key (group) ------------------------------ */

static int is_index_ref(const char *ref)
{
    long v;
    return parse_count(ref, ref + strlen(ref), &v);
}

static eem_status check_band_ref(const char *ref, const char *shown_value, eem_band_ref *all,
                                 int n, eem_error *err)
{
    shown s, t;
    static const char accepted[] =
        "expected band descriptions or 1-based indices, comma-separated (B4,B8 or 1,3,4), "
        "or a JSON object {\"key\": band}";
    if (!*ref)
        return eem_error_set(err, EEM_ERR_INVALID, "BANDS: \"%s\" has an empty entry; %s",
                             show(&s, shown_value), accepted);
    long idx = 0;
    if (is_index_ref(ref) && parse_count(ref, ref + strlen(ref), &idx) && idx == 0)
        return eem_error_set(err, EEM_ERR_INVALID, "BANDS: \"%s\" has band index 0; %s",
                             show(&s, shown_value), accepted);
    for (int i = 0; i < n; i++) {
        long other = -1;
        int same = strcmp(all[i].ref, ref) == 0 ||
                   (is_index_ref(all[i].ref) && parse_count(all[i].ref, all[i].ref + strlen(all[i].ref), &other) &&
                    is_index_ref(ref) && other == idx);
        if (same)
            return eem_error_set(err, EEM_ERR_INVALID, "BANDS: \"%s\" lists band \"%s\" twice; %s",
                                 show(&s, shown_value), show(&t, ref), accepted);
    }
    return EEM_OK;
}

static eem_status validate_bands(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    const spec_value *v = &raw->v[K_BANDS];
    if (v->origin == ORIGIN_NONE)
        return EEM_OK;
    eem_status st = EEM_OK;
    char **parts = NULL;
    int n = 0;
    if (v->json) {
        const char *shown_value = json_object_to_json_string_ext(v->json, JSON_C_TO_STRING_PLAIN);
        n = json_object_object_length(v->json);
        if (n == 0)
            return bad_value(K_BANDS, shown_value, "is empty; expected {\"key\": band, ...}", err);
        spec->bands = calloc((size_t)n, sizeof *spec->bands);
        if (!spec->bands)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        json_object_object_foreach(v->json, key, ref)
        {
            if (!*key)
                return bad_value(K_BANDS, shown_value, "has an empty key; expected {\"key\": band, ...}", err);
            if (!json_object_is_type(ref, json_type_string) && !json_object_is_type(ref, json_type_int))
                return bad_value(K_BANDS, shown_value,
                                 "maps a key to something other than a band description or "
                                 "1-based index; expected {\"key\": band, ...}",
                                 err);
            if (json_object_is_type(ref, json_type_int) && json_object_get_int64(ref) <= 0)
                return bad_value(K_BANDS, shown_value,
                                 "has a band index below 1; expected {\"key\": band, ...} with "
                                 "1-based indices or band descriptions",
                                 err);
            const char *r = json_object_get_string(ref);
            st = check_band_ref(r, shown_value, spec->bands, spec->n_bands, err);
            if (st != EEM_OK)
                return st;
            eem_band_ref *b = &spec->bands[spec->n_bands];
            b->ref = eem_strdup(r);
            b->key = eem_strdup(key);
            if (!b->ref || !b->key) {
                free(b->ref);
                free(b->key);
                b->ref = b->key = NULL;
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            }
            spec->n_bands++;
        }
        return EEM_OK;
    }
    parts = split_commas(v->text, &n);
    if (!parts)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    spec->bands = calloc((size_t)n, sizeof *spec->bands);
    if (!spec->bands) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        st = check_band_ref(parts[i], v->text, spec->bands, spec->n_bands, err);
        if (st != EEM_OK)
            goto done;
        spec->bands[spec->n_bands++].ref = parts[i];
        parts[i] = NULL; /* taken */
    }
done:
    free_parts(parts, n);
    return st;
}

static eem_status add_type_override(eem_spec *spec, const char *key, eem_dtype t, const char *shown_value,
                                    eem_error *err)
{
    for (int i = 0; i < spec->n_input_types; i++) {
        const char *other = spec->input_types[i].key;
        if ((!other && !key) || (other && key && strcmp(other, key) == 0)) {
            shown s, k;
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_TYPE: \"%s\" gives the type of %s%s%s twice; expected "
                                 "one type, or key:type,key:type",
                                 show(&s, shown_value), key ? "\"" : "",
                                 key ? show(&k, key) : "every key", key ? "\"" : "");
        }
    }
    eem_type_override *o = &spec->input_types[spec->n_input_types];
    o->type = t;
    if (key && !(o->key = eem_strdup(key)))
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    spec->n_input_types++;
    return EEM_OK;
}

static eem_status validate_input_type(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    const spec_value *v = &raw->v[K_INPUT_TYPE];
    if (v->origin == ORIGIN_NONE)
        return EEM_OK;
    eem_status st = EEM_OK;
    if (v->json) {
        const char *shown_value = json_object_to_json_string_ext(v->json, JSON_C_TO_STRING_PLAIN);
        int n = json_object_object_length(v->json);
        if (n == 0)
            return bad_value(K_INPUT_TYPE, shown_value, "is empty; expected {\"key\": \"type\", ...}", err);
        spec->input_types = calloc((size_t)n, sizeof *spec->input_types);
        if (!spec->input_types)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        json_object_object_foreach(v->json, key, type)
        {
            eem_dtype t = dtype_from_json(type);
            if (t == EEM_DT_NONE)
                return unknown_type_error(K_INPUT_TYPE, shown_value,
                                          json_object_to_json_string_ext(type, JSON_C_TO_STRING_PLAIN), err);
            st = add_type_override(spec, key, t, shown_value, err);
            if (st != EEM_OK)
                return st;
        }
        return EEM_OK;
    }
    int n = 0;
    char **parts = split_commas(v->text, &n);
    if (!parts)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    spec->input_types = calloc((size_t)n, sizeof *spec->input_types);
    if (!spec->input_types) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char *colon = strrchr(parts[i], ':');
        const char *key = NULL, *type = parts[i];
        if (colon) {
            *colon = '\0';
            key = parts[i];
            type = colon + 1;
            while (isspace((unsigned char)*type))
                type++;
            for (char *e = colon; e > parts[i] && isspace((unsigned char)e[-1]); e--)
                e[-1] = '\0';
            if (!*key) {
                st = bad_value(K_INPUT_TYPE, v->text,
                               "has an entry with an empty key; expected one type (float32) for "
                               "every key, or key:type,key:type",
                               err);
                goto done;
            }
        }
        eem_dtype t = eem_dtype_from_name(type);
        if (t == EEM_DT_NONE) {
            st = unknown_type_error(K_INPUT_TYPE, v->text, type, err);
            goto done;
        }
        st = add_type_override(spec, key, t, v->text, err);
        if (st != EEM_OK)
            goto done;
    }
done:
    free_parts(parts, n);
    return st;
}

/* projects/P/locations/L/endpoints/E, every part non-empty, no extra slashes. */
static int is_vertex_endpoint(const char *t)
{
    static const char *const fixed[] = {"projects", "locations", "endpoints"};
    const char *p = t;
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(fixed[i]);
        if (strncmp(p, fixed[i], n) != 0 || p[n] != '/')
            return 0;
        p += n + 1;
        size_t part = strcspn(p, "/");
        if (part == 0)
            return 0;
        for (size_t j = 0; j < part; j++)
            if (isspace((unsigned char)p[j]) || iscntrl((unsigned char)p[j]) || p[j] == ':' ||
                p[j] == '?')
                return 0;
        p += part;
        if (i < 2) {
            if (*p != '/')
                return 0;
            p++;
        }
    }
    return *p == '\0';
}

static eem_status validate_backend(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    shown s;
    eem_status st;
    int has_endpoint = present(raw, K_ENDPOINT), has_url = present(raw, K_URL);
    int has_project = present(raw, K_PROJECT), has_model = present(raw, K_MODEL);
    static const char ways[] =
        "give exactly one of ENDPOINT (Vertex AI, projects/P/locations/L/endpoints/E), "
        "PROJECT and MODEL (AI Platform, with optional VERSION and REGION), or URL (any predict URL)";

    if (has_endpoint + has_url + (has_project || has_model) > 1) {
        const char *a = has_endpoint ? "ENDPOINT" : "URL";
        const char *b = has_url && has_endpoint ? "URL" : has_model ? "MODEL" : "PROJECT";
        return eem_error_set(err, EEM_ERR_INVALID, "%s and %s are conflicting model backends; %s",
                             a, b, ways);
    }
    if (!has_endpoint && !has_url && !has_project && !has_model)
        return eem_error_set(err, EEM_ERR_INVALID, "no model backend given: %s", ways);
    if (has_model && !has_project) {
        const char *m;
        if ((st = text_of(raw, K_MODEL, "a model name", &m, err)) != EEM_OK)
            return st;
        return eem_error_set(err, EEM_ERR_INVALID,
                             "MODEL: \"%s\" needs PROJECT (the Google Cloud project of the AI "
                             "Platform model); %s",
                             show(&s, m), ways);
    }
    if (has_project && !has_model) {
        const char *p;
        if ((st = text_of(raw, K_PROJECT, "a project id", &p, err)) != EEM_OK)
            return st;
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PROJECT: \"%s\" needs MODEL (the AI Platform model name); %s",
                             show(&s, p), ways);
    }
    int aiplatform = has_project && has_model;
    if (!aiplatform) {
        static const spec_key only_ai[] = {K_VERSION, K_REGION};
        for (size_t i = 0; i < 2; i++)
            if (present(raw, only_ai[i]))
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "%s only applies to PROJECT and MODEL (AI Platform); %s %s",
                                     key_names[only_ai[i]], has_url ? "URL" : "ENDPOINT",
                                     has_url ? "already names the model" : "already names its project and location");
    }
    if (has_url && present(raw, K_API_ROOT))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "API_ROOT only applies to ENDPOINT or PROJECT and MODEL; URL is "
                             "already the complete predict URL");

    if (aiplatform) {
        if ((st = take_string(raw, K_PROJECT, "a Google Cloud project id", &spec->project, err)) ||
            (st = take_string(raw, K_MODEL, "an AI Platform model name", &spec->model, err)))
            return st;
        if (present(raw, K_VERSION) &&
            (st = take_string(raw, K_VERSION, "a model version name", &spec->version, err)))
            return st;
        if (present(raw, K_REGION)) {
            if ((st = take_string(raw, K_REGION, "a region such as us-central1", &spec->region, err)))
                return st;
        } else if (!(spec->region = eem_strdup(EEM_DEFAULT_REGION))) {
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        for (const char *p = spec->project; *p; p++)
            if (*p == '/' || isspace((unsigned char)*p))
                return bad_value(K_PROJECT, spec->project,
                                 "is not a project id; expected a name without '/' or spaces", err);
        for (const char *p = spec->model; *p; p++)
            if (*p == '/' || isspace((unsigned char)*p))
                return bad_value(K_MODEL, spec->model,
                                 "is not a model name; expected a name without '/' or spaces", err);
    }
    if (has_endpoint) {
        if ((st = take_string(raw, K_ENDPOINT, "projects/P/locations/L/endpoints/E", &spec->endpoint, err)))
            return st;
        if (!is_vertex_endpoint(spec->endpoint))
            return bad_value(K_ENDPOINT, spec->endpoint,
                             "is not a Vertex AI endpoint name; expected "
                             "projects/P/locations/L/endpoints/E",
                             err);
    }
    if (has_url) {
        if ((st = take_string(raw, K_URL, "an http:// or https:// predict URL", &spec->url, err)))
            return st;
        if (!is_http_url(spec->url))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "URL: \"%s\" is not an http:// or https:// URL (grpc:// or grpcs:// for gRPC) with a host and "
                                 "an optional port 1-65535; expected the model's predict URL",
                                 show_url(&s, spec->url));
    }
    if (present(raw, K_API_ROOT)) {
        if ((st = take_string(raw, K_API_ROOT, "an http:// or https:// URL", &spec->api_root, err)))
            return st;
        if (!is_http_url(spec->api_root))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "API_ROOT: \"%s\" is not an http:// or https:// URL with a host "
                                 "and an optional port 1-65535; expected a root such as "
                                 "http://127.0.0.1:8080",
                                 show_url(&s, spec->api_root));
    }

    if (present(raw, K_PROTOCOL)) {
        static const char accepted[] = "expected aiplatform, vertex, tfserving or kserve-v2";
        const char *t;
        if ((st = text_of(raw, K_PROTOCOL, accepted, &t, err)))
            return st;
        for (eem_protocol p = EEM_PROTO_AIPLATFORM; p <= EEM_PROTO_KSERVE_V2; p++)
            if (eem_str_equal_ignoring_case(t, eem_protocol_name(p)))
                spec->protocol = p;
        if (spec->protocol == EEM_PROTO_NONE) {
            char problem[128];
            snprintf(problem, sizeof problem, "is not a protocol; %s", accepted);
            return bad_value(K_PROTOCOL, t, problem, err);
        }
        if ((has_endpoint && spec->protocol != EEM_PROTO_VERTEX) ||
            (aiplatform && spec->protocol != EEM_PROTO_AIPLATFORM)) {
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "PROTOCOL: \"%s\" does not fit %s, which speaks %s; expected "
                                 "PROTOCOL absent or %s",
                                 show(&s, t), has_endpoint ? "ENDPOINT" : "PROJECT and MODEL",
                                 has_endpoint ? "vertex" : "aiplatform",
                                 has_endpoint ? "vertex" : "aiplatform");
        }
    }
    return EEM_OK;
}

static eem_status validate_payload(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    eem_status st;
    const char *t;
    spec->max_payload_bytes = EEM_DEFAULT_MAX_PAYLOAD_BYTES;
    if (present(raw, K_PAYLOAD_FORMAT)) {
        static const char accepted[] =
            "expected SERIALIZED_TF_TENSORS, RAW_JSON, ND_ARRAYS, OIP_V2, GRPC_TF_TENSORS, "
            "GRPC_SERIALIZED_TF_TENSORS, GRPC_SERIALIZED_TF_EXAMPLES or GRPC_OIP_V2";
        if ((st = text_of(raw, K_PAYLOAD_FORMAT, accepted, &t, err)))
            return st;
        for (eem_payload_format f = EEM_PAYLOAD_SERIALIZED_TF_TENSORS; f <= EEM_PAYLOAD_LAST; f++)
            if (eem_str_equal_ignoring_case(t, eem_payload_format_name(f)))
                spec->payload_format = f;
        if (spec->payload_format == EEM_PAYLOAD_NONE) {
            char problem[256];
            snprintf(problem, sizeof problem, "is not a payload format; %s", accepted);
            return bad_value(K_PAYLOAD_FORMAT, t, problem, err);
        }
    }
    if (present(raw, K_MAX_PAYLOAD_BYTES)) {
        static const char accepted[] = "expected an integer number of bytes, at least 1024";
        if ((st = text_of(raw, K_MAX_PAYLOAD_BYTES, accepted, &t, err)))
            return st;
        long v = 0;
        if (!parse_count(t, t + strlen(t), &v))
            return bad_value(K_MAX_PAYLOAD_BYTES, t, "is not an integer; expected an integer "
                                                     "number of bytes, at least 1024", err);
        if (v < EEM_SPEC_MIN_PAYLOAD_BYTES || v >= LONG_MAX / 10)
            return bad_value(K_MAX_PAYLOAD_BYTES, t,
                             v < EEM_SPEC_MIN_PAYLOAD_BYTES ? "is too small; expected at least 1024 bytes"
                                                            : "is too large; expected a byte count",
                             err);
        spec->max_payload_bytes = v;
    }
    if (present(raw, K_REQUEST_LAYOUT)) {
        if ((st = text_of(raw, K_REQUEST_LAYOUT, "expected ROW or COLUMNAR", &t, err)))
            return st;
        if (eem_str_equal_ignoring_case(t, "COLUMNAR"))
            spec->columnar = 1;
        else if (!eem_str_equal_ignoring_case(t, "ROW"))
            return bad_value(K_REQUEST_LAYOUT, t,
                             "is not a request layout; expected ROW (TF Serving \"instances\") "
                             "or COLUMNAR (TF Serving \"inputs\")",
                             err);
    }
    if (present(raw, K_SIGNATURE_NAME) &&
        (st = take_string(raw, K_SIGNATURE_NAME, "a TF Serving signature name such as serving_default",
                          &spec->signature_name, err)))
        return st;
    return EEM_OK;
}

static eem_status validate_grid(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    eem_status st;
    const char *t;
    if (present(raw, K_PROJ) &&
        (st = take_string(raw, K_PROJ, "a CRS (EPSG:32633, WKT, PROJ string)", &spec->proj, err)))
        return st;
    if (present(raw, K_SCALE)) {
        if ((st = text_of(raw, K_SCALE, "a positive number", &t, err)))
            return st;
        double v;
        if (!parse_number(t, &v) || !isfinite(v) || v <= 0)
            return bad_value(K_SCALE, t, "is not a positive number; expected the pixel size in "
                                         "CRS units, such as 10", err);
        spec->scale = v;
    }
    if (present(raw, K_TILE_ORIGIN)) {
        if ((st = text_of(raw, K_TILE_ORIGIN, "X,Y or SCENE", &t, err)))
            return st;
        eem_tile_origin_mode mode;
        if ((st = eem_tile_origin_parse(t, &mode, &spec->tile_origin_x, &spec->tile_origin_y,
                                        err)))
            return st;
        spec->tile_origin_mode = (int)mode;
        if (spec->tile_origin_mode == EEM_TILE_ORIGIN_AT && spec->proj && !(spec->scale > 0))
            return bad_value(K_TILE_ORIGIN, t, "needs SCALE when PROJ is given: a lattice shared "
                                               "by scenes needs a fixed pixel size", err);
    }
    if (present(raw, K_FIX_INPUT_PROJ)) {
        if ((st = text_of(raw, K_FIX_INPUT_PROJ, "a boolean", &t, err)))
            return st;
        if (!parse_bool(t, &spec->fix_input_proj))
            return bad_value(K_FIX_INPUT_PROJ, t,
                             "is not a boolean; expected YES, NO, TRUE, FALSE, ON, OFF, 1 or 0", err);
    }
    if (present(raw, K_RESAMPLING)) {
        static const char *const names[] = {"nearest", "bilinear", "cubic", "cubicspline",
                                            "lanczos", "average", "mode",  "min",
                                            "max",     "med",      "q1",    "q3",
                                            "sum",     "rms"};
        static const char accepted[] =
            "expected nearest, bilinear, cubic, cubicspline, lanczos, average, mode, min, max, "
            "med, q1, q3, sum or rms";
        if ((st = text_of(raw, K_RESAMPLING, accepted, &t, err)))
            return st;
        const char *name = eem_str_equal_ignoring_case(t, "near") ? "nearest" : NULL;
        for (size_t i = 0; !name && i < sizeof names / sizeof names[0]; i++)
            if (eem_str_equal_ignoring_case(t, names[i]))
                name = names[i];
        if (!name) {
            char problem[256];
            snprintf(problem, sizeof problem, "is not a resampling method; %s", accepted);
            return bad_value(K_RESAMPLING, t, problem, err);
        }
        if (!(spec->resampling = eem_strdup(name)))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    return EEM_OK;
}

static eem_status parse_tile_size(const spec_raw *raw, spec_key k, int *w, int *h, eem_error *err)
{
    const char *t;
    eem_status st = text_of(raw, k, "two positive integers W,H", &t, err);
    if (st != EEM_OK)
        return st;
    long a = 0, b = 0;
    if (!parse_pair(t, &a, &b) || a <= 0 || b <= 0)
        return bad_value(k, t, "is not two positive integers W,H", err);
    if (a > EEM_SPEC_MAX_TILE_SIDE || b > EEM_SPEC_MAX_TILE_SIDE || a * b > EEM_SPEC_MAX_TILE_PIXELS)
        return bad_value(k, t, "is too large; expected W,H each at most 65536 and W*H at most 268435456",
                         err);
    *w = (int)a;
    *h = (int)b;
    return EEM_OK;
}

static eem_status validate_tiles(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    eem_status st;
    if (spec->vector && !present(raw, K_INPUT_TILE_SIZE))
        return EEM_OK; /* a vector layer has no tiles */
    if (!present(raw, K_INPUT_TILE_SIZE))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT_TILE_SIZE is required: W,H input pixels per tile (EE "
                             "inputTileSize), such as 256,256");
    if ((st = parse_tile_size(raw, K_INPUT_TILE_SIZE, &spec->tile_w, &spec->tile_h, err)))
        return st;
    spec->out_tile_w = spec->tile_w;
    spec->out_tile_h = spec->tile_h;
    if (present(raw, K_OUTPUT_TILE_SIZE) &&
        (st = parse_tile_size(raw, K_OUTPUT_TILE_SIZE, &spec->out_tile_w, &spec->out_tile_h, err)))
        return st;
    if (present(raw, K_INPUT_OVERLAP_SIZE)) {
        const char *t;
        if ((st = text_of(raw, K_INPUT_OVERLAP_SIZE, "two non-negative integers X,Y", &t, err)))
            return st;
        long x = 0, y = 0;
        if (!parse_pair(t, &x, &y))
            return bad_value(K_INPUT_OVERLAP_SIZE, t, "is not two non-negative integers X,Y", err);
        /* Rule: the padded tile (tile + 2*overlap) must fit the tile side limit,
         * and an overlap larger than 8 tile sides is refused as nonsense. */
        const long tile[2] = {spec->tile_w, spec->tile_h}, ov[2] = {x, y};
        static const char *const axis[2] = {"width", "height"};
        for (int i = 0; i < 2; i++) {
            char problem[256];
            if (ov[i] > EEM_SPEC_MAX_OVERLAP_FACTOR * tile[i]) {
                snprintf(problem, sizeof problem,
                         "is not usable: overlap %ld is larger than %dx the tile %s (%ld); expected "
                         "X,Y pixels per edge, usually a few pixels to half a tile",
                         ov[i], EEM_SPEC_MAX_OVERLAP_FACTOR, axis[i], tile[i]);
                return bad_value(K_INPUT_OVERLAP_SIZE, t, problem, err);
            }
            if (tile[i] + 2 * ov[i] > EEM_SPEC_MAX_TILE_SIDE) {
                snprintf(problem, sizeof problem,
                         "is too large: tile %s %ld plus twice the overlap exceeds 65536", axis[i],
                         tile[i]);
                return bad_value(K_INPUT_OVERLAP_SIZE, t, problem, err);
            }
        }
        if ((tile[0] + 2 * ov[0]) * (tile[1] + 2 * ov[1]) > EEM_SPEC_MAX_TILE_PIXELS)
            return bad_value(K_INPUT_OVERLAP_SIZE, t,
                             "is too large: the padded tile has more than 268435456 pixels", err);
        spec->overlap_x = (int)x;
        spec->overlap_y = (int)y;
    }
    return EEM_OK;
}

/* ---- OUTPUT_BANDS ------------------------------------------------------- */

static const char output_bands_accepted[] =
    "expected name:type[:length] or name:type:a/b/c, comma-separated, or JSON "
    "{\"name\": {\"type\": \"float32\", \"dimensions\": 1, \"names\": [...]}}";

static eem_status output_error(const char *value, const char *problem, eem_error *err)
{
    shown s;
    return eem_error_set(err, EEM_ERR_INVALID, "OUTPUT_BANDS: \"%s\" %s; %s", show(&s, value),
                         problem, output_bands_accepted);
}

static eem_status check_output_name(const eem_spec *spec, const char *name, const char *value,
                                    eem_error *err)
{
    if (!*name)
        return output_error(value, "has an output with an empty name", err);
    for (int i = 0; i < spec->n_outputs; i++) {
        if (strcmp(spec->outputs[i].name, name) == 0) {
            char problem[EEM_SPEC_SHOW_MAX + 64];
            shown s;
            snprintf(problem, sizeof problem, "names output \"%s\" twice", show(&s, name));
            return output_error(value, problem, err);
        }
    }
    return EEM_OK;
}

/* Band names a/b/c of one dims-1 output: unique and non-empty. */
static eem_status set_output_names(eem_output *o, char **names, int n, const char *value,
                                   eem_error *err)
{
    for (int i = 0; i < n; i++) {
        if (!*names[i])
            return output_error(value, "has an empty band name", err);
        for (int j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                char problem[EEM_SPEC_SHOW_MAX + 64];
                shown s;
                snprintf(problem, sizeof problem, "lists band name \"%s\" twice", show(&s, names[i]));
                return output_error(value, problem, err);
            }
        }
    }
    if (n <= 0)
        return output_error(value, "has no band names", err);
    o->names = calloc((size_t)n, sizeof *o->names);
    if (!o->names)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    o->length = n; /* set first: eem_spec_free frees whatever was copied */
    for (int i = 0; i < n; i++)
        if (!(o->names[i] = eem_strdup(names[i])))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    return EEM_OK;
}

static eem_status parse_output_length(const char *text, const char *value, int *out, eem_error *err)
{
    long n = 0;
    if (!parse_count(text, text + strlen(text), &n) || n <= 0)
        return output_error(value, "has a length that is not a positive integer", err);
    if (n > EEM_SPEC_MAX_OUTPUT_LENGTH)
        return output_error(value, "has a length larger than 4096", err);
    *out = (int)n;
    return EEM_OK;
}

/* One inline entry: name:type[:length] or name:type:a/b/c. */
static eem_status parse_output_entry(eem_spec *spec, char *entry, const char *value, eem_error *err)
{
    eem_output *o = &spec->outputs[spec->n_outputs];
    char *type = strchr(entry, ':');
    if (!*entry)
        return output_error(value, "has an empty entry", err);
    if (!type)
        return output_error(value, "has an output without a type", err);
    *type++ = '\0';
    char *extra = strchr(type, ':');
    if (extra)
        *extra++ = '\0';
    eem_status st = check_output_name(spec, entry, value, err);
    if (st != EEM_OK)
        return st;
    if (!(o->name = eem_strdup(entry)))
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    spec->n_outputs++; /* owned by spec from here on */
    o->type = eem_spec_output_type_from_name(type, &o->boolean);
    if (o->type == EEM_DT_NONE)
        return unknown_type_error(K_OUTPUT_BANDS, value, type, err);
    if (!extra)
        return EEM_OK; /* dims 0 */
    o->dims = 1;
    if (!*extra)
        return output_error(value, "has an empty length", err);
    if (isdigit((unsigned char)*extra))
        return parse_output_length(extra, value, &o->length, err);
    int n = 1;
    for (const char *p = extra; *p; p++)
        n += *p == '/';
    if (n > EEM_SPEC_MAX_OUTPUT_LENGTH)
        return output_error(value, "has more than 4096 band names", err);
    char **names = calloc((size_t)n, sizeof *names);
    if (!names)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    char *p = extra;
    for (int i = 0; i < n; i++) {
        names[i] = p;
        char *slash = strchr(p, '/');
        if (slash) {
            *slash = '\0';
            p = slash + 1;
        }
    }
    st = set_output_names(o, names, n, value, err);
    free(names);
    return st;
}

static eem_status validate_output_json(eem_spec *spec, const char *name, json_object *j,
                                       const char *value, eem_error *err)
{
    eem_status st = check_output_name(spec, name, value, err);
    if (st != EEM_OK)
        return st;
    eem_output *o = &spec->outputs[spec->n_outputs];
    if (!(o->name = eem_strdup(name)))
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    spec->n_outputs++;
    if (json_object_is_type(j, json_type_string)) { /* {"name": "float32"} */
        o->type = eem_spec_output_type_from_name(json_object_get_string(j), &o->boolean);
        return o->type == EEM_DT_NONE
                   ? unknown_type_error(K_OUTPUT_BANDS, value, json_object_get_string(j), err)
                   : EEM_OK;
    }
    if (!json_object_is_type(j, json_type_object))
        return output_error(value, "has an output that is neither a type nor an object", err);
    static const char *const fields[] = {"type", "precision", "dimensions", "length", "names", "min", "max"};
    json_object_object_foreach(j, field, fv)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            known |= strcmp(field, fields[i]) == 0;
        if (!known) {
            char problem[EEM_SPEC_SHOW_MAX + 96];
            shown s;
            snprintf(problem, sizeof problem,
                     "has unknown field \"%s\" (accepted: type, dimensions, length, names)",
                     show(&s, field));
            return output_error(value, problem, err);
        }
        (void)fv;
    }
    json_object *jtype = NULL, *jdims = NULL, *jlen = NULL, *jnames = NULL;
    json_object_object_get_ex(j, "type", &jtype);
    json_object_object_get_ex(j, "dimensions", &jdims);
    json_object_object_get_ex(j, "length", &jlen);
    json_object_object_get_ex(j, "names", &jnames);
    if (!jtype && !json_object_object_get_ex(j, "precision", NULL)) {
        char problem[EEM_SPEC_SHOW_MAX + 64];
        shown s;
        snprintf(problem, sizeof problem, "has output \"%s\" without a type", show(&s, name));
        return output_error(value, problem, err);
    }
    o->type = dtype_from_json(j);
    if (o->type == EEM_DT_NONE && jtype && json_object_is_type(jtype, json_type_string))
        o->type = eem_spec_output_type_from_name(json_object_get_string(jtype), &o->boolean);
    if (o->type == EEM_DT_NONE)
        return unknown_type_error(K_OUTPUT_BANDS, value,
                                  jtype ? json_object_get_string(jtype) : "?", err);
    if (jdims) {
        if (!json_object_is_type(jdims, json_type_int) ||
            (json_object_get_int(jdims) != 0 && json_object_get_int(jdims) != 1))
            return output_error(value, "has dimensions other than 0 or 1", err);
        o->dims = json_object_get_int(jdims);
    } else {
        o->dims = (jlen || jnames) ? 1 : 0;
    }
    if (o->dims == 0 && (jlen || jnames))
        return output_error(value, "gives length or names to an output of dimensions 0", err);
    if (jlen) {
        if (!json_object_is_type(jlen, json_type_int))
            return output_error(value, "has a length that is not a positive integer", err);
        if ((st = parse_output_length(json_object_get_string(jlen), value, &o->length, err)))
            return st;
    }
    if (jnames) {
        if (!json_object_is_type(jnames, json_type_array) || json_object_array_length(jnames) == 0)
            return output_error(value, "has names that are not a non-empty list of strings", err);
        size_t n = json_object_array_length(jnames);
        if (n > EEM_SPEC_MAX_OUTPUT_LENGTH)
            return output_error(value, "has more than 4096 band names", err);
        if (jlen && (size_t)o->length != n)
            return output_error(value, "has a length that differs from the number of names", err);
        char **names = calloc(n, sizeof *names);
        if (!names)
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(jnames, i);
            if (!json_object_is_type(e, json_type_string)) {
                free(names);
                return output_error(value, "has names that are not a non-empty list of strings", err);
            }
            names[i] = (char *)json_object_get_string(e);
        }
        st = set_output_names(o, names, (int)n, value, err);
        free(names);
    }
    return st;
}

static eem_status validate_outputs(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    const spec_value *v = &raw->v[spec->vector ? K_OUTPUT_PROPERTIES : K_OUTPUT_BANDS];
    if (v->origin == ORIGIN_NONE)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "OUTPUT_BANDS is required: the model outputs, such as out:float32 or "
                             "probs:float32:3 (EE outputBands)");
    eem_status st = EEM_OK;
    if (v->json) {
        const char *value = json_object_to_json_string_ext(v->json, JSON_C_TO_STRING_PLAIN);
        int n = json_object_object_length(v->json);
        if (n == 0)
            return output_error(value, "is empty", err);
        if (!(spec->outputs = calloc((size_t)n, sizeof *spec->outputs)))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        json_object_object_foreach(v->json, name, out)
        {
            if ((st = validate_output_json(spec, name, out, value, err)))
                return st;
        }
        return EEM_OK;
    }
    int n = 0;
    char **parts = split_commas(v->text, &n);
    if (!parts)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    if (!(spec->outputs = calloc((size_t)n, sizeof *spec->outputs))) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n && st == EEM_OK; i++)
        st = parse_output_entry(spec, parts[i], v->text, err);
done:
    free_parts(parts, n);
    return st;
}

/* ---- the rest ------------------------------------------------------------ */

static int is_header_token_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* JSON {"Name": "value"} into "Name: value, Name: value". */
static eem_status headers_from_json(json_object *j, char **out, eem_error *err)
{
    size_t cap = 1;
    json_object_object_foreach(j, name, val)
    {
        if (!*name || !(json_object_is_type(val, json_type_string) || json_object_is_type(val, json_type_int)))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "HEADERS: a JSON entry is not \"Name\": \"value\"; expected "
                                 "{\"Name\": \"value\", ...} (values are not shown)");
        for (const char *p = name; *p; p++)
            if (!is_header_token_char(*p)) {
                shown s;
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "HEADERS: \"%s\" is not a header name; expected letters, "
                                     "digits and -",
                                     show(&s, name));
            }
        cap += strlen(name) + strlen(json_object_get_string(val)) + 4;
    }
    char *s = malloc(cap);
    if (!s)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    size_t k = 0;
    json_object_object_foreach(j, name2, val2)
    {
        k += (size_t)snprintf(s + k, cap - k, "%s%s: %s", k ? ", " : "", name2,
                              json_object_get_string(val2));
    }
    s[k] = '\0';
    *out = s;
    return EEM_OK;
}

/* A prediction limit (MAX_PREDICTIONS, JOB_MAX_PREDICTIONS) into *out when
 * key k is given: a positive integer; expected says what it bounds. */
static eem_status parse_prediction_limit(const spec_raw *raw, spec_key k, const char *expected,
                                         long *out, eem_error *err)
{
    if (!present(raw, k))
        return EEM_OK;
    const char *t;
    eem_status st = text_of(raw, k, "a positive integer", &t, err);
    if (st)
        return st;
    long v = 0;
    if (!parse_count(t, t + strlen(t), &v) || v <= 0 || v >= LONG_MAX / 10) {
        char problem[256];
        snprintf(problem, sizeof problem, "is not a positive integer; expected %s", expected);
        return bad_value(k, t, problem, err);
    }
    *out = v;
    return EEM_OK;
}

static eem_status validate_misc(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    eem_status st;
    const char *t;
    spec->max_predictions = -1;
    spec->read_ahead = -1;
    if (present(raw, K_NODATA)) {
        if ((st = text_of(raw, K_NODATA, "a number", &t, err)))
            return st;
        if (!eem_nodata_text_is_valid(t))
            return bad_value(K_NODATA, t,
                             "is not a number; expected a number such as -9999 or nan, or one "
                             "number per output band in band order (nan,nan,255)",
                             err);
        spec->has_nodata = parse_number(t, &spec->nodata); /* one value for every band */
        if (!(spec->nodata_text = eem_strdup(t)))
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    }
    if ((st = parse_prediction_limit(raw, K_MAX_PREDICTIONS,
                                     "the most tiles one opened dataset may predict from open to "
                                     "close, such as 1024",
                                     &spec->max_predictions, err)) ||
        (st = parse_prediction_limit(raw, K_JOB_MAX_PREDICTIONS,
                                     "the most tiles the whole job may predict, such as 100000",
                                     &spec->job_max_predictions, err)))
        return st;
    if (present(raw, K_READ_AHEAD)) {
        if ((st = text_of(raw, K_READ_AHEAD, "AUTO or NO", &t, err)))
            return st;
        if (eem_str_equal_ignoring_case(t, "AUTO"))
            spec->read_ahead = 1;
        else if (eem_str_equal_ignoring_case(t, "NO"))
            spec->read_ahead = 0;
        else
            return bad_value(K_READ_AHEAD, t, "is not a read-ahead mode; " EEM_READ_AHEAD_ACCEPTED,
                             err);
    }
    if (present(raw, K_ON_ERROR)) {
        if ((st = text_of(raw, K_ON_ERROR, "FAIL or NODATA", &t, err)))
            return st;
        if (eem_str_equal_ignoring_case(t, "FAIL"))
            spec->on_error = EEM_ON_ERROR_FAIL;
        else if (eem_str_equal_ignoring_case(t, "NODATA"))
            spec->on_error = EEM_ON_ERROR_NODATA;
        else
            return bad_value(K_ON_ERROR, t, "is not an error policy; expected FAIL or NODATA", err);
    }
    if (present(raw, K_OVERLAP_MODE)) {
        if ((st = text_of(raw, K_OVERLAP_MODE, "CROP or BLEND", &t, err)))
            return st;
        if (eem_str_equal_ignoring_case(t, "CROP"))
            spec->overlap_mode = EEM_OVERLAP_CROP;
        else if (eem_str_equal_ignoring_case(t, "BLEND"))
            spec->overlap_mode = EEM_OVERLAP_BLEND;
        else
            return bad_value(K_OVERLAP_MODE, t, "is not an overlap mode; expected CROP or BLEND",
                             err);
    }
    if (present(raw, K_PROBE)) {
        if ((st = text_of(raw, K_PROBE, "a boolean", &t, err)))
            return st;
        if (!parse_bool(t, &spec->probe))
            return bad_value(K_PROBE, t,
                             "is not a boolean; expected YES, NO, TRUE, FALSE, ON, OFF, 1 or 0", err);
    }
    if (present(raw, K_CACHE_DIR) &&
        (st = take_string(raw, K_CACHE_DIR, "a folder name", &spec->cache_dir, err)))
        return st;
    if (present(raw, K_CACHE_KEY) &&
        (st = take_string(raw, K_CACHE_KEY, "a model identity such as my-model@v3",
                          &spec->cache_key, err)))
        return st;
    if (present(raw, K_HEADERS)) {
        const spec_value *v = &raw->v[K_HEADERS];
        if (v->json) {
            if ((st = headers_from_json(v->json, &spec->headers, err)))
                return st;
        } else if (!(spec->headers = eem_strdup(v->text))) {
            return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        }
        if (strstr(spec->headers, EEM_URL_REDACTED))
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "HEADERS: holds " EEM_URL_REDACTED ": this name comes from a "
                                 "dataset description, where secrets are removed; give the "
                                 "headers with the EEMODEL_HEADERS or GDAL_HTTP_HEADER_FILE "
                                 "config option");
        if ((st = eem_header_list_check("HEADERS", spec->headers, err)))
            return st;
    }
    if (present(raw, K_GOOGLE_CREDENTIALS_HOST)) {
        /* a shared descriptor file, VRT or project must not send the user's
         * token elsewhere: names travel with files, open options are given */
        if (raw->v[K_GOOGLE_CREDENTIALS_HOST].origin != ORIGIN_OPTION)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "GOOGLE_CREDENTIALS_HOST: not accepted from %s (a shared file "
                                 "or name would send your Google credentials to the host it "
                                 "names); give it as an open option (-oo "
                                 "GOOGLE_CREDENTIALS_HOST=host) or in the "
                                 "EEMODEL_GOOGLE_CREDENTIALS_HOSTS config option",
                                 origin_name(raw->v[K_GOOGLE_CREDENTIALS_HOST].origin));
        if ((st = take_string(raw, K_GOOGLE_CREDENTIALS_HOST, "a host name",
                              &spec->google_credentials_host, err)))
            return st;
    }
    return EEM_OK;
}

/* The keys of the vector side and the other ee.Model parameters, as text:
 * checked and parsed by spec_vector.c (eem_spec_check_vector_keys). */
static eem_status take_vector_keys(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    static const struct {
        spec_key k;
        size_t field;
        const char *accepted;
    } texts[] = {
        {K_INPUT_PROPERTIES, offsetof(eem_spec, input_properties), "property names, comma-separated"},
        {K_LAYER, offsetof(eem_spec, layer), "a layer name of the vector INPUT"},
        {K_NULL_INPUT, offsetof(eem_spec, null_input_text), "NULL, SKIP or ERROR"},
        {K_OUTPUT_MULTIPLIER, offsetof(eem_spec, output_multiplier_text), "a number >= 1"},
        {K_INPUT_SHAPES, offsetof(eem_spec, input_shapes), "key:[shape],..."},
    };
    spec->vector = present(raw, K_OUTPUT_PROPERTIES);
    if (spec->vector && present(raw, K_OUTPUT_BANDS))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "OUTPUT_BANDS and OUTPUT_PROPERTIES are both given; give OUTPUT_BANDS "
                             "for a raster INPUT (EE predictImage) or OUTPUT_PROPERTIES for a "
                             "vector INPUT (EE predictProperties)");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char **field = (char **)((char *)spec + texts[i].field);
        if (raw->v[texts[i].k].json && texts[i].k == K_INPUT_SHAPES) {
            const char *j = json_object_to_json_string_ext(raw->v[texts[i].k].json,
                                                           JSON_C_TO_STRING_PLAIN);
            if (!(*field = eem_strdup(j)))
                return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
            continue;
        }
        eem_status st;
        if (present(raw, texts[i].k) &&
            (st = take_string(raw, texts[i].k, texts[i].accepted, field, err)))
            return st;
    }
    return EEM_OK;
}

/* EE projectName is the deprecated spelling of projectId (PROJECT). */
static eem_status fold_project_name(spec_raw *raw, eem_error *err)
{
    if (!present(raw, K_PROJECT_NAME))
        return EEM_OK;
    if (present(raw, K_PROJECT))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "PROJECT_NAME (EE projectName) and PROJECT (EE projectId) are both "
                             "given; give one of them");
    raw->v[K_PROJECT] = raw->v[K_PROJECT_NAME];
    memset(&raw->v[K_PROJECT_NAME], 0, sizeof raw->v[K_PROJECT_NAME]);
    return EEM_OK;
}

/* A relative INPUT from a JSON file is taken relative to the file's folder.
 * Names with ':' in their first path segment (NETCDF:..., EEMODEL:..., /vsi
 * prefixes are absolute anyway) are GDAL special names and stay as they are,
 * unless they name an existing file relative to the JSON folder. */
static eem_status resolve_input(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    if (raw->v[K_INPUT].origin != ORIGIN_JSON || !raw->json_dir || spec->input[0] == '/')
        return EEM_OK;
    size_t first = strcspn(spec->input, "/\\");
    int special = memchr(spec->input, ':', first) != NULL;
    size_t n = strlen(raw->json_dir) + strlen(spec->input) + 1;
    char *joined = malloc(n);
    if (!joined)
        return eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
    snprintf(joined, n, "%s%s", raw->json_dir, spec->input);
    if (special && !file_exists(joined)) {
        free(joined);
        return EEM_OK;
    }
    free(spec->input);
    spec->input = joined;
    return EEM_OK;
}

static eem_status validate(const spec_raw *raw, eem_spec *spec, eem_error *err)
{
    eem_status st;
    if (!present(raw, K_INPUT))
        return eem_error_set(err, EEM_ERR_INVALID,
                             "INPUT is required: the source raster (any GDAL dataset name)");
    if ((st = take_string(raw, K_INPUT, "the source raster (any GDAL dataset name)", &spec->input, err)) ||
        (st = resolve_input(raw, spec, err)) || (st = validate_bands(raw, spec, err)))
        return st;
    if (present(raw, K_INPUT_ARRAY) &&
        (st = take_string(raw, K_INPUT_ARRAY, "a tensor key name such as array", &spec->input_array, err)))
        return st;
    if ((st = take_vector_keys(raw, spec, err)) || (st = eem_spec_check_vector_keys(spec, err)))
        return st;
    if ((st = validate_input_type(raw, spec, err)) || (st = validate_backend(raw, spec, err)) ||
        (st = validate_payload(raw, spec, err)) || (st = validate_grid(raw, spec, err)) ||
        (st = validate_tiles(raw, spec, err)) || (st = validate_outputs(raw, spec, err)) ||
        (st = validate_misc(raw, spec, err)))
        return st;
    return EEM_OK;
}

/* ---- public API --------------------------------------------------------- */

int eem_spec_identify(const char *name)
{
    return name && (starts_with_ci(name, EEM_PREFIX) || ends_with_ci(name, ".eemodel.json"));
}

eem_status eem_spec_parse(const char *name, const char *const *open_options, eem_spec **out,
                          eem_error *err)
{
    spec_raw raw;
    eem_spec *spec = NULL;
    json_object *inline_json = NULL;
    eem_status st = EEM_OK;
    shown s;
    memset(&raw, 0, sizeof raw);
    eem_error_clear(err);
    if (!out)
        return eem_error_set(err, EEM_ERR_INVALID, "eem_spec_parse: no output pointer");
    *out = NULL;
    if (!name)
        name = EEM_PREFIX;

    if (starts_with_ci(name, EEM_PREFIX)) {
        const char *rest = name + strlen(EEM_PREFIX);
        const char *b = rest, *e = rest + strlen(rest);
        trim_range(&b, &e);
        if (b < e && *b == '{') { /* EEMODEL:{...} — a JSON object inline */
            if ((st = parse_json_text(b, (size_t)(e - b), "(inline)", &inline_json, err)) ||
                (st = collect_json_object(&raw, inline_json, "(inline)", err)))
                goto done;
        } else if (b < e && !memchr(b, '=', (size_t)(e - b)) && range_ends_with_json(b, e)) {
            char *path = dup_range(b, (size_t)(e - b));
            if (!path) {
                st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
                goto done;
            }
            st = collect_json_file(&raw, path, err);
            free(path);
            if (st != EEM_OK)
                goto done;
        } else if ((st = collect_inline(&raw, rest, err))) {
            goto done;
        }
    } else if (ends_with_ci(name, ".eemodel.json")) {
        if ((st = collect_json_file(&raw, name, err)))
            goto done;
    } else {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "\"%s\" is not a model descriptor; expected EEMODEL:key=value;..., "
                           "EEMODEL:/path/model.json or a *.eemodel.json file",
                           show(&s, name));
        goto done;
    }
    if ((st = collect_options(&raw, open_options, err)))
        goto done;

    if (!(spec = calloc(1, sizeof *spec))) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = fold_project_name(&raw, err)) || (st = validate(&raw, spec, err)))
        goto done;
    *out = spec;
    spec = NULL;
done:
    eem_spec_free(spec);
    json_object_put(inline_json);
    raw_free(&raw);
    return st;
}

static int output_band_count(const eem_output *o)
{
    return o->dims == 0 ? 1 : o->length;
}

int eem_spec_output_band_count(const eem_spec *spec)
{
    int n = 0;
    for (int i = 0; spec && i < spec->n_outputs; i++)
        n += output_band_count(&spec->outputs[i]);
    return n;
}

const char *eem_spec_output_band_name(const eem_spec *spec, int k, char *buf, size_t buflen,
                                      int *output_index, int *channel)
{
    if (!spec || k < 0 || !buf || buflen == 0)
        return NULL;
    for (int i = 0; i < spec->n_outputs; i++) {
        const eem_output *o = &spec->outputs[i];
        int n = output_band_count(o);
        if (k >= n) {
            k -= n;
            continue;
        }
        if (output_index)
            *output_index = i;
        if (channel)
            *channel = k;
        if (o->dims == 0)
            snprintf(buf, buflen, "%s", o->name);
        else if (o->names)
            snprintf(buf, buflen, "%s", o->names[k]);
        else
            snprintf(buf, buflen, "%s_%d", o->name, k);
        return buf;
    }
    return NULL;
}

const char *eem_protocol_name(eem_protocol p)
{
    switch (p) {
    case EEM_PROTO_AIPLATFORM: return "aiplatform";
    case EEM_PROTO_VERTEX: return "vertex";
    case EEM_PROTO_TFSERVING: return "tfserving";
    case EEM_PROTO_KSERVE_V2: return "kserve-v2";
    default: return "none";
    }
}

const char *eem_payload_format_name(eem_payload_format f)
{
    switch (f) {
    case EEM_PAYLOAD_SERIALIZED_TF_TENSORS: return "SERIALIZED_TF_TENSORS";
    case EEM_PAYLOAD_RAW_JSON: return "RAW_JSON";
    case EEM_PAYLOAD_ND_ARRAYS: return "ND_ARRAYS";
    case EEM_PAYLOAD_OIP_V2: return "OIP_V2";
    case EEM_PAYLOAD_GRPC_TF_TENSORS: return "GRPC_TF_TENSORS";
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_TENSORS: return "GRPC_SERIALIZED_TF_TENSORS";
    case EEM_PAYLOAD_GRPC_SERIALIZED_TF_EXAMPLES: return "GRPC_SERIALIZED_TF_EXAMPLES";
    case EEM_PAYLOAD_GRPC_OIP_V2: return "GRPC_OIP_V2";
    default: return "none";
    }
}
