/* source.c — the input raster through GDAL's C API: open it, resolve BANDS into
 * tensor keys and send types, and read windows of the model input grid G (at
 * level 0 or coarsened by 2^level) into zero-filled HWC tensors plus a mask.
 *
 * Rules this file implements (see source.h and DESIGN.md section 3):
 * - A band reference is a 1-based index, else a band description (exact match
 *   first, then case-insensitive if exactly one band matches).
 * - Keys: INPUT_ARRAY → one key holding every selected band as channels; else one
 *   key per band: the BANDS JSON key, else the band description, else "b<index>".
 * - Send type: INPUT_TYPE per-key override, else the global override, else the
 *   source band type.  For INPUT_ARRAY bands of different types: all unsigned
 *   integers → the widest; all signed integers → the widest; otherwise float32
 *   when every band is float32 or an integer of at most 16 bits, else float64.
 * - Level k pixel (x,y) covers level-0 pixels [x*2^k,(x+1)*2^k) x [y*2^k,(y+1)*2^k);
 *   the level raster is ceil(W/2^k) x ceil(H/2^k).  Values: nearest at level 0,
 *   GDAL's average resampling at k>0 (GDAL uses the source's overviews).  The
 *   last column/row of a level may cover fewer source pixels; it is read by a
 *   separate RasterIO so every level pixel averages exactly its own block.
 *   Signed-byte bands (Byte + PIXELTYPE=SIGNEDBYTE, GDAL 3.6 has no Int8) are read
 *   as raw bytes and converted here, with nearest at every level.
 * - Masks, per key as Earth Engine masks each band on its own: a key's pixel is
 *   valid when it is inside the level raster (and the warp's footprint) and the
 *   GDAL mask of every band of that key is non-zero there (masks read with
 *   nearest at k>0).  A key's masked pixels are 0 in its tensor only: with one
 *   tensor per band a band keeps its values where only another band is masked;
 *   an INPUT_ARRAY pixel is masked as a whole.  The window's mask (the output
 *   mask's input) is valid where every key is: the minimum of the input masks.
 * - PROJ / SCALE: when they ask for a grid other than the source's, G is a
 *   warped VRT of the source made exactly as `gdalwarp -of VRT -t_srs PROJ -tr
 *   SCALE SCALE -tap -r RESAMPLING -dstalpha -et 0`
 *   would (origin snapped outward to a
 *   multiple of SCALE; see warp_onto_model_grid).  BANDS and send types are
 *   resolved on the original source, before the warp.
 * - Level-0 reads go down the raster: the source blocks they have passed are
 *   dropped from GDAL's block cache when the cache could hold the source twice
 *   over (source_pass; source_blocks.h).
 * - GDAL's own errors are captured with a thread-local handler and copied into
 *   the eem_error; this file never calls CPLError. */
#include "source.h"
#include "source_blocks.h"
#include "str.h"
#include "tile_origin.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EEM_SOURCE_MAX_LISTED_BANDS 20 /* bands listed in "available: ..." messages */
#define EEM_SOURCE_MAX_LEVEL 30        /* 2^level must fit an int */
#define EEM_SOURCE_GDAL_MSG_MAX 1024
#define EEM_SOURCE_SCALE_TOLERANCE 1e-9 /* relative: a source pixel size "equals" SCALE */

/* ------------------------------------------------------------------------- */
/* Message helpers.                                                          */

/* Append printf-style text to buf (capacity cap), truncating silently. */
static void append_text(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------- */
/* Capturing GDAL's own error messages (thread-local handler stack).          */

typedef struct gdal_errors {
    int have_failure;
    char msg[EEM_SOURCE_GDAL_MSG_MAX];
} gdal_errors;

static void CPL_STDCALL capture_gdal_error(CPLErr cls, CPLErrorNum num, const char *msg)
{
    (void)num;
    gdal_errors *g = CPLGetErrorHandlerUserData();
    if (!g || !msg || g->have_failure)
        return;
    /* Keep the first failure (the root cause); a warning only until one comes. */
    if (cls >= CE_Failure || g->msg[0] == '\0') {
        snprintf(g->msg, sizeof g->msg, "%s", msg);
        g->have_failure = cls >= CE_Failure;
    }
}

static void gdal_errors_begin(gdal_errors *g)
{
    memset(g, 0, sizeof *g);
    CPLPushErrorHandlerEx(capture_gdal_error, g);
}

/* Forget what was captured so far (a new operation's errors follow). */
static void gdal_errors_reset(gdal_errors *g)
{
    g->have_failure = 0;
    g->msg[0] = '\0';
}

static void gdal_errors_end(void)
{
    CPLPopErrorHandler();
}

static const char *gdal_errors_text(const gdal_errors *g, const char *fallback)
{
    return g->msg[0] ? g->msg : fallback;
}

/* ------------------------------------------------------------------------- */
/* Types.                                                                     */

/* The element type of a source band, EEM_DT_NONE for complex / unknown. */
static eem_dtype band_dtype(GDALRasterBandH band)
{
    switch (GDALGetRasterDataType(band)) {
    case GDT_Byte: {
        const char *pt = GDALGetMetadataItem(band, "PIXELTYPE", "IMAGE_STRUCTURE");
        return (pt && eem_str_equal_ignoring_case(pt, "SIGNEDBYTE")) ? EEM_DT_INT8 : EEM_DT_UINT8;
    }
    case GDT_UInt16: return EEM_DT_UINT16;
    case GDT_Int16: return EEM_DT_INT16;
    case GDT_UInt32: return EEM_DT_UINT32;
    case GDT_Int32: return EEM_DT_INT32;
    case GDT_UInt64: return EEM_DT_UINT64;
    case GDT_Int64: return EEM_DT_INT64;
    case GDT_Float32: return EEM_DT_FLOAT32;
    case GDT_Float64: return EEM_DT_FLOAT64;
    default: return EEM_DT_NONE;
    }
}

/* The type GDAL reads into for send type t: t itself when GDAL has it, else an
 * intermediate that holds every value (int8 → int16, float16/bfloat16 → float32). */
static eem_dtype read_dtype(eem_dtype t)
{
    switch (t) {
    case EEM_DT_INT8: return EEM_DT_INT16;
    case EEM_DT_FLOAT16:
    case EEM_DT_BFLOAT16: return EEM_DT_FLOAT32;
    default: return t;
    }
}

static GDALDataType gdal_type_of(eem_dtype t)
{
    switch (t) {
    case EEM_DT_UINT8: return GDT_Byte;
    case EEM_DT_UINT16: return GDT_UInt16;
    case EEM_DT_INT16: return GDT_Int16;
    case EEM_DT_UINT32: return GDT_UInt32;
    case EEM_DT_INT32: return GDT_Int32;
    case EEM_DT_UINT64: return GDT_UInt64;
    case EEM_DT_INT64: return GDT_Int64;
    case EEM_DT_FLOAT32: return GDT_Float32;
    case EEM_DT_FLOAT64: return GDT_Float64;
    default: return GDT_Unknown;
    }
}

static int is_unsigned_int(eem_dtype t)
{
    return t == EEM_DT_UINT8 || t == EEM_DT_UINT16 || t == EEM_DT_UINT32 || t == EEM_DT_UINT64;
}

static int is_signed_int(eem_dtype t)
{
    return t == EEM_DT_INT8 || t == EEM_DT_INT16 || t == EEM_DT_INT32 || t == EEM_DT_INT64;
}

/* The type INPUT_ARRAY sends for bands of types a and b (rule at the top). */
static eem_dtype common_dtype(eem_dtype a, eem_dtype b)
{
    if (a == b)
        return a;
    if ((is_unsigned_int(a) && is_unsigned_int(b)) || (is_signed_int(a) && is_signed_int(b)))
        return eem_dtype_size(a) >= eem_dtype_size(b) ? a : b;
    int a_fits = a == EEM_DT_FLOAT32 || (!eem_dtype_is_float(a) && eem_dtype_size(a) <= 2);
    int b_fits = b == EEM_DT_FLOAT32 || (!eem_dtype_is_float(b) && eem_dtype_size(b) <= 2);
    return (a_fits && b_fits) ? EEM_DT_FLOAT32 : EEM_DT_FLOAT64;
}

/* ------------------------------------------------------------------------- */
/* Band resolution.                                                           */

/* "1 "red", 2 "green", 3 (no description)" for error messages. */
static void describe_bands(GDALDatasetH ds, char *buf, size_t cap)
{
    int n = GDALGetRasterCount(ds);
    buf[0] = '\0';
    for (int i = 1; i <= n && i <= EEM_SOURCE_MAX_LISTED_BANDS; i++) {
        const char *d = GDALGetDescription(GDALGetRasterBand(ds, i));
        if (d && d[0])
            append_text(buf, cap, "%s%d \"%s\"", i > 1 ? ", " : "", i, d);
        else
            append_text(buf, cap, "%s%d (no description)", i > 1 ? ", " : "", i);
    }
    if (n > EEM_SOURCE_MAX_LISTED_BANDS)
        append_text(buf, cap, ", ... (%d bands in all)", n);
}

/* 1 and the value when text is a plain decimal integer. */
static int parse_band_index(const char *text, long *value)
{
    if (!text[0] || strlen(text) > 9)
        return 0;
    for (const char *p = text; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    *value = strtol(text, NULL, 10);
    return 1;
}

static eem_status resolve_band_ref(GDALDatasetH ds, const char *input, const char *ref, int *band,
                                   eem_error *err)
{
    char available[1024];
    int n = GDALGetRasterCount(ds);
    long index;

    if (parse_band_index(ref, &index)) {
        if (index >= 1 && index <= n) {
            *band = (int)index;
            return EEM_OK;
        }
        describe_bands(ds, available, sizeof available);
        return eem_error_set(err, EEM_ERR_INVALID,
                             "BANDS: band %s is out of range: \"%s\" has %d band%s (1..%d); "
                             "available: %s",
                             ref, input, n, n == 1 ? "" : "s", n, available);
    }
    for (int i = 1; i <= n; i++) {
        const char *d = GDALGetDescription(GDALGetRasterBand(ds, i));
        if (d && strcmp(d, ref) == 0) {
            *band = i;
            return EEM_OK;
        }
    }
    int found = 0, matches = 0;
    for (int i = 1; i <= n; i++) {
        const char *d = GDALGetDescription(GDALGetRasterBand(ds, i));
        if (d && d[0] && eem_str_equal_ignoring_case(d, ref)) {
            if (!found)
                found = i;
            matches++;
        }
    }
    if (matches == 1) {
        *band = found;
        return EEM_OK;
    }
    describe_bands(ds, available, sizeof available);
    if (matches > 1)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "BANDS: \"%s\" matches %d bands of \"%s\" when case is ignored; "
                             "write the description exactly or use a band index; available: %s",
                             ref, matches, input, available);
    return eem_error_set(err, EEM_ERR_INVALID,
                         "BANDS: \"%s\" is not a band of \"%s\"; give a 1-based index or a band "
                         "description; available: %s",
                         ref, input, available);
}

/* The tensor key of band b when it is sent alone. */
static char *default_band_key(GDALDatasetH ds, int b)
{
    const char *d = GDALGetDescription(GDALGetRasterBand(ds, b));
    if (d && d[0])
        return eem_strdup(d);
    char name[32];
    snprintf(name, sizeof name, "b%d", b);
    return eem_strdup(name);
}

static void free_keys(eem_source_key *keys, int n)
{
    if (!keys)
        return;
    for (int i = 0; i < n; i++) {
        free(keys[i].key);
        free(keys[i].bands);
    }
    free(keys);
}

/* Fill src->keys from the spec.  bands[] holds the n selected band numbers. */
static eem_status build_keys(eem_source *src, const eem_spec *spec, const int *bands, int n,
                             eem_error *err)
{
    GDALDatasetH ds = src->dataset;
    int n_keys = spec->input_array ? 1 : n;

    src->keys = calloc((size_t)n_keys, sizeof *src->keys);
    if (!src->keys)
        return eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
    src->n_keys = n_keys;

    if (spec->input_array) {
        eem_source_key *k = &src->keys[0];
        k->key = eem_strdup(spec->input_array);
        k->bands = malloc((size_t)n * sizeof *k->bands);
        if (!k->key || !k->bands)
            return eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
        k->n_bands = n;
        memcpy(k->bands, bands, (size_t)n * sizeof *bands);
        k->send_type = EEM_DT_NONE;
        for (int i = 0; i < n; i++) {
            eem_dtype t = band_dtype(GDALGetRasterBand(ds, bands[i]));
            k->send_type = i == 0 ? t : common_dtype(k->send_type, t);
        }
        return EEM_OK;
    }

    for (int i = 0; i < n; i++) {
        eem_source_key *k = &src->keys[i];
        const char *given = spec->n_bands > 0 ? spec->bands[i].key : NULL;
        k->key = given ? eem_strdup(given) : default_band_key(ds, bands[i]);
        k->bands = malloc(sizeof *k->bands);
        if (!k->key || !k->bands)
            return eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
        k->n_bands = 1;
        k->bands[0] = bands[i];
        k->send_type = band_dtype(GDALGetRasterBand(ds, bands[i]));
    }
    for (int i = 0; i < n_keys; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(src->keys[i].key, src->keys[j].key) == 0)
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "BANDS: tensor key \"%s\" is used by band %d and band %d of "
                                     "\"%s\"; keys must be distinct: name them with the JSON form "
                                     "{\"key\": band, ...} or use INPUT_ARRAY",
                                     src->keys[i].key, src->keys[j].bands[0],
                                     src->keys[i].bands[0], spec->input);
    return EEM_OK;
}

static void list_keys(const eem_source *src, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int i = 0; i < src->n_keys; i++)
        append_text(buf, cap, "%s\"%s\"", i ? ", " : "", src->keys[i].key);
}

/* INPUT_TYPE: global overrides first, then per-key ones (a per-key one wins). */
static eem_status apply_type_overrides(eem_source *src, const eem_spec *spec, eem_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        for (int o = 0; o < spec->n_input_types; o++) {
            const eem_type_override *ov = &spec->input_types[o];
            if ((pass == 0) != (ov->key == NULL))
                continue;
            int hit = 0;
            for (int i = 0; i < src->n_keys; i++) {
                if (!ov->key || strcmp(ov->key, src->keys[i].key) == 0) {
                    src->keys[i].send_type = ov->type;
                    hit = 1;
                }
            }
            if (!hit && !eem_spec_lists_input_property(spec, ov->key)) {
                char keys[1024];
                list_keys(src, keys, sizeof keys);
                return eem_error_set(err, EEM_ERR_INVALID,
                                     "INPUT_TYPE: \"%s\" is not an input key; available: %s",
                                     ov->key, keys);
            }
        }
    }
    for (int i = 0; i < src->n_keys; i++)
        if (eem_dtype_size(src->keys[i].send_type) == 0)
            return eem_error_set(err, EEM_ERR_INVALID,
                                 "INPUT_TYPE: key \"%s\" has no element type; accepted: %s",
                                 src->keys[i].key, eem_dtype_accepted_names());
    return EEM_OK;
}

/* ------------------------------------------------------------------------- */
/* The model grid: PROJ / SCALE.                                              */

/* gdalwarp's name of a RESAMPLING value (spec.c keeps GDAL's long names). */
static const char *warp_resampling_name(const char *r)
{
    if (!r || eem_str_equal_ignoring_case(r, "nearest"))
        return "near";
    return r;
}

/* 1 when the source grid already is G: no PROJ or the same CRS, and no SCALE
 * or a north-up grid whose square pixels already have that size. */
static int source_is_model_grid(GDALDatasetH ds, const eem_spec *spec, OGRSpatialReferenceH target)
{
    if (target) {
        const char *wkt = GDALGetProjectionRef(ds);
        if (!wkt || !wkt[0])
            return 0;
        OGRSpatialReferenceH have = OSRNewSpatialReference(wkt);
        int same = have && OSRIsSame(have, target);
        if (have)
            OSRDestroySpatialReference(have);
        if (!same)
            return 0;
    }
    if (spec->scale > 0) {
        double gt[6];
        if (GDALGetGeoTransform(ds, gt) != CE_None || gt[2] != 0 || gt[4] != 0)
            return 0;
        double rel = EEM_SOURCE_SCALE_TOLERANCE * spec->scale;
        if (fabs(gt[1] - spec->scale) > rel || fabs(-gt[5] - spec->scale) > rel)
            return 0;
        /* origin on a multiple of SCALE, as the warp would put it */
        double fx = gt[0] / spec->scale, fy = gt[3] / spec->scale;
        if (fabs(fx - floor(fx + 0.5)) > EEM_SOURCE_SCALE_TOLERANCE ||
            fabs(fy - floor(fy + 0.5)) > EEM_SOURCE_SCALE_TOLERANCE)
            return 0;
    }
    return 1;
}

/* One gdalwarp -of VRT of ds: [-t_srs PROJ] then either -tr SCALE SCALE -tap
 * (te NULL) or the exact extent te = xmin,ymin,xmax,ymax at resolution tr;
 * -r resampling -dstalpha -et 0.  *out is the warped VRT (it holds its own
 * reference to ds). */
static eem_status warp_once(GDALDatasetH ds, const eem_spec *spec, const char *resampling,
                            const double *te, const double *tr, gdal_errors *ge,
                            GDALDatasetH *out, eem_error *err)
{
    eem_status st = EEM_OK;
    char **argv = NULL;
    char num[64];
    *out = NULL;
    argv = CSLAddString(argv, "-of");
    argv = CSLAddString(argv, "VRT");
    if (spec->proj) {
        argv = CSLAddString(argv, "-t_srs");
        argv = CSLAddString(argv, spec->proj);
    }
    if (te) {
        argv = CSLAddString(argv, "-te");
        for (int k = 0; k < 4; k++) {
            snprintf(num, sizeof num, "%.17g", te[k]);
            argv = CSLAddString(argv, num);
        }
        argv = CSLAddString(argv, "-tr");
        for (int k = 0; k < 2; k++) {
            snprintf(num, sizeof num, "%.17g", tr[k]);
            argv = CSLAddString(argv, num);
        }
    } else if (spec->scale > 0) {
        snprintf(num, sizeof num, "%.17g", spec->scale);
        argv = CSLAddString(argv, "-tr");
        argv = CSLAddString(argv, num);
        argv = CSLAddString(argv, num);
        argv = CSLAddString(argv, "-tap");
    }
    argv = CSLAddString(argv, "-r");
    argv = CSLAddString(argv, warp_resampling_name(resampling));
    argv = CSLAddString(argv, "-dstalpha");
    /* exact transformation: the approximate one interpolates across each warp
     * chunk, so a pixel's value would depend on the window being read */
    argv = CSLAddString(argv, "-et");
    argv = CSLAddString(argv, "0");
    gdal_errors_reset(ge);
    GDALWarpAppOptions *opts = GDALWarpAppOptionsNew(argv, NULL);
    if (!opts) {
        st = eem_error_set(err, EEM_ERR_INVALID, "PROJ/SCALE/RESAMPLING: GDAL refused the warp "
                           "options: %s", gdal_errors_text(ge, "no reason given"));
        goto done;
    }
    int usage_error = 0;
    *out = GDALWarp("", NULL, 1, &ds, opts, &usage_error);
    if (!*out)
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "PROJ/SCALE: warping \"%s\" onto PROJ=%s SCALE=%g failed: %s",
                           spec->input, spec->proj ? spec->proj : "(source CRS)", spec->scale,
                           gdal_errors_text(ge, "GDAL gave no reason"));
done:
    GDALWarpAppOptionsFree(opts);
    CSLDestroy(argv);
    return st;
}

/* The extent of grid ds with its top-left corner moved outward onto the tile
 * lattice of the spec (tile_origin.h): te = xmin,ymin,xmax,ymax, tr = pixel
 * size; returns 1 when the corner moved (0: ds already starts on it). */
static int lattice_extent(GDALDatasetH ds, const eem_spec *spec, double te[4], double tr[2])
{
    double gt[6];
    GDALGetGeoTransform(ds, gt);
    double ox = spec->tile_origin_mode == EEM_TILE_ORIGIN_AT ? spec->tile_origin_x : 0;
    double oy = spec->tile_origin_mode == EEM_TILE_ORIGIN_AT ? spec->tile_origin_y : 0;
    double sx, sy;
    eem_tile_origin_snap(ox, oy, gt[1], gt[5], spec->tile_w, spec->tile_h, gt[0], gt[3], &sx, &sy);
    double right = gt[0] + gt[1] * GDALGetRasterXSize(ds);
    double bottom = gt[3] + gt[5] * GDALGetRasterYSize(ds);
    double w = ceil((right - sx) / gt[1] - 1e-9), h = ceil((sy - bottom) / -gt[5] - 1e-9);
    te[0] = sx;
    te[3] = sy;
    te[2] = sx + w * gt[1];
    te[1] = sy + h * gt[5];
    tr[0] = gt[1];
    tr[1] = -gt[5];
    return fabs(sx - gt[0]) > 1e-9 * gt[1] || fabs(sy - gt[3]) > 1e-9 * -gt[5];
}

/* Replace src->dataset by a warped VRT on G when PROJ or SCALE ask for a grid
 * other than the source's, or when the tile lattice (TILE_ORIGIN, or SCALE's
 * default lattice at 0,0) does not start at the source's corner.  The warp is
 * exactly what
 *   gdalwarp -of VRT [-t_srs PROJ] [-tr SCALE SCALE -tap] -r RESAMPLING -dstalpha -et 0
 * does: G covers the source's footprint in PROJ (GDALSuggestedWarpOutput2);
 * with SCALE the pixel size is SCALE x SCALE and the origin snaps outward to a
 * multiple of SCALE (-tap: x0 = floor(minx/S)*S, y0 = ceil(maxy/S)*S); without
 * SCALE GDAL's suggested resolution and the footprint's top-left are used.
 * With a tile lattice, G's top-left corner then moves further out, onto the
 * nearest lattice point (tile_origin.h), and G is that warp redone with the
 * exact extent (-te, -tr), so two scenes with the same PROJ/SCALE/tile size
 * share one tiling; a source already on G is only padded (nearest, pixel for
 * pixel).  Pixels of G outside the footprint (or masked in the source) are
 * masked through the warped alpha band.  Bands keep their numbers (the alpha
 * band is appended), so keys resolved on the source stay valid.  The VRT holds
 * its own reference to the source dataset and releases it when closed. */
static eem_status warp_onto_model_grid(eem_source *src, const eem_spec *spec, gdal_errors *ge,
                                       eem_error *err)
{
    eem_status st = EEM_OK;
    OGRSpatialReferenceH target = NULL;
    GDALDatasetH ds = src->dataset, warped = NULL;
    int lattice = eem_tile_origin_applies((eem_tile_origin_mode)spec->tile_origin_mode,
                                          spec->scale);

    if (!spec->proj && !(spec->scale > 0) && !lattice)
        return EEM_OK;
    if (spec->proj) {
        target = OSRNewSpatialReference(NULL);
        if (!target)
            return eem_error_set(err, EEM_ERR_NOMEM, "PROJ: out of memory");
        gdal_errors_reset(ge);
        if (OSRSetFromUserInput(target, spec->proj) != OGRERR_NONE) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "PROJ: \"%s\" is not a CRS GDAL understands (%s); accepted: "
                               "anything OSRSetFromUserInput takes, e.g. EPSG:4326, a WKT or "
                               "PROJ string",
                               spec->proj, gdal_errors_text(ge, "unknown CRS"));
            goto done;
        }
        const char *wkt = GDALGetProjectionRef(ds);
        if (!wkt || !wkt[0]) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "PROJ: \"%s\" has no CRS, so it cannot be warped to \"%s\"; "
                               "assign one first (gdal_translate -a_srs ...) or leave PROJ out",
                               spec->input, spec->proj);
            goto done;
        }
    }
    double gt[6];
    if (GDALGetGeoTransform(ds, gt) != CE_None) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "%s: \"%s\" has no geotransform, so it cannot be warped onto a model "
                           "grid; georeference it first or leave PROJ, SCALE and TILE_ORIGIN out",
                           spec->proj ? "PROJ" : spec->scale > 0 ? "SCALE" : "TILE_ORIGIN",
                           spec->input);
        goto done;
    }
    int on_grid = source_is_model_grid(ds, spec, target);
    if (on_grid && lattice) {
        if (gt[2] != 0 || gt[4] != 0 || gt[1] <= 0 || gt[5] >= 0) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "TILE_ORIGIN: \"%s\" is not a north-up grid (geotransform "
                               "%g,%g,%g,%g,%g,%g); give PROJ and SCALE to warp it onto one, "
                               "or TILE_ORIGIN=SCENE",
                               spec->input, gt[0], gt[1], gt[2], gt[3], gt[4], gt[5]);
            goto done;
        }
        double ox = spec->tile_origin_mode == EEM_TILE_ORIGIN_AT ? spec->tile_origin_x : 0;
        double oy = spec->tile_origin_mode == EEM_TILE_ORIGIN_AT ? spec->tile_origin_y : 0;
        if (!eem_tile_origin_on_pixel_lattice(ox, gt[1], gt[0]) ||
            !eem_tile_origin_on_pixel_lattice(oy, gt[5], gt[3])) {
            if (!(spec->scale > 0)) {
                st = eem_error_set(err, EEM_ERR_INVALID,
                                   "TILE_ORIGIN: %.17g,%.17g is not on the pixel lattice of "
                                   "\"%s\" (corner %.17g,%.17g, pixel size %.17g,%.17g); give "
                                   "an origin a whole number of pixels away from the corner, or "
                                   "SCALE to resample onto the lattice",
                                   ox, oy, spec->input, gt[0], gt[3], gt[1], gt[5]);
                goto done;
            }
            on_grid = 0; /* resample onto the lattice */
        }
    }
    if (on_grid && !lattice)
        goto done;
    double te[4], tr[2];
    if (on_grid) {
        /* only padding to the lattice corner: pixel for pixel */
        if (!lattice_extent(ds, spec, te, tr))
            goto done;
        eem_spec plain = *spec;
        plain.proj = NULL;
        st = warp_once(ds, &plain, "nearest", te, tr, ge, &warped, err);
    } else {
        st = warp_once(ds, spec, spec->resampling, NULL, NULL, ge, &warped, err);
        if (st == EEM_OK && lattice && lattice_extent(warped, spec, te, tr)) {
            GDALClose(warped);
            warped = NULL;
            st = warp_once(ds, spec, spec->resampling, te, tr, ge, &warped, err);
        }
    }
    if (st != EEM_OK)
        goto done;
    /* the VRT took its own reference to the source: ours stays for the
     * overview levels' warps (warp_level), released by eem_source_close */
    src->input_dataset = ds;
    src->dataset = warped;
    src->warped = 1;
    src->level_datasets = calloc(EEM_SOURCE_MAX_LEVEL + 1, sizeof *src->level_datasets);
    src->warp_crs = spec->proj ? eem_strdup(spec->proj) : NULL;
    if (!src->level_datasets || (spec->proj && !src->warp_crs))
        st = eem_error_set(err, EEM_ERR_NOMEM, "PROJ/SCALE: out of memory");
    /* -dstalpha appends the alpha band; GDAL only exposes a Byte or UInt16
     * alpha as a mask, so read_mask reads it itself */
    src->alpha_band = GDALGetRasterCount(warped);

done:
    if (target)
        OSRDestroySpatialReference(target);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Open / close.                                                              */

eem_status eem_source_open(const eem_spec *spec, eem_source **out, eem_error *err)
{
    eem_status st = EEM_OK;
    eem_source *src = NULL;
    int *bands = NULL;
    gdal_errors ge;

    if (out)
        *out = NULL;
    if (!spec || !out)
        return eem_error_set(err, EEM_ERR_INVALID, "INPUT: no descriptor given");
    if (!spec->input || !spec->input[0])
        return eem_error_set(err, EEM_ERR_INVALID, "INPUT: missing; give the source raster's GDAL name");

    gdal_errors_begin(&ge);

    src = calloc(1, sizeof *src);
    if (!src) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
        goto done;
    }
    src->dataset = GDALOpenEx(spec->input, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                              NULL, NULL, NULL);
    if (!src->dataset) {
        st = eem_error_set(err, EEM_ERR_INVALID, "INPUT: \"%s\" cannot be opened by GDAL: %s",
                           spec->input, gdal_errors_text(&ge, "no driver recognises it"));
        goto done;
    }
    GDALDatasetH ds = src->dataset;
    int n_source = GDALGetRasterCount(ds);
    if (n_source <= 0) {
        st = eem_error_set(err, EEM_ERR_INVALID,
                           "INPUT: \"%s\" has no raster bands; give a raster with at least one band",
                           spec->input);
        goto done;
    }

    int n = spec->n_bands > 0 ? spec->n_bands : n_source;
    bands = malloc((size_t)n * sizeof *bands);
    if (!bands) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (spec->n_bands == 0)
            bands[i] = i + 1;
        else if ((st = resolve_band_ref(ds, spec->input, spec->bands[i].ref ? spec->bands[i].ref : "",
                                        &bands[i], err)) != EEM_OK)
            goto done;
        GDALRasterBandH hb = GDALGetRasterBand(ds, bands[i]);
        if (band_dtype(hb) == EEM_DT_NONE) {
            st = eem_error_set(err, EEM_ERR_INVALID,
                               "INPUT: band %d of \"%s\" has type %s, which cannot be sent; "
                               "select real-valued bands with BANDS",
                               bands[i], spec->input, GDALGetDataTypeName(GDALGetRasterDataType(hb)));
            goto done;
        }
    }

    if ((st = build_keys(src, spec, bands, n, err)) != EEM_OK)
        goto done;
    if ((st = apply_type_overrides(src, spec, err)) != EEM_OK)
        goto done;

    if ((st = warp_onto_model_grid(src, spec, &ge, err)) != EEM_OK)
        goto done;
    ds = src->dataset;

    src->width = GDALGetRasterXSize(ds);
    src->height = GDALGetRasterYSize(ds);
    src->has_gt = GDALGetGeoTransform(ds, src->gt) == CE_None;
    if (!src->has_gt) {
        const double identity[6] = {0, 1, 0, 0, 0, 1};
        memcpy(src->gt, identity, sizeof identity);
    }
    const char *wkt = GDALGetProjectionRef(ds);
    src->wkt = eem_strdup(wkt ? wkt : "");
    if (!src->wkt) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory");
        goto done;
    }
    src->all_valid = src->alpha_band == 0;
    for (int i = 0; i < n; i++)
        if (GDALGetMaskFlags(GDALGetRasterBand(ds, bands[i])) != GMF_ALL_VALID)
            src->all_valid = 0;

done:
    gdal_errors_end();
    free(bands);
    if (st != EEM_OK) {
        eem_source_close(src);
        return st;
    }
    *out = src;
    return EEM_OK;
}

void eem_source_close(eem_source *src)
{
    if (!src)
        return;
    if (src->dataset)
        GDALClose(src->dataset);
    for (int k = 0; src->level_datasets && k <= EEM_SOURCE_MAX_LEVEL; k++)
        if (src->level_datasets[k])
            GDALClose(src->level_datasets[k]);
    free(src->level_datasets);
    free(src->warp_crs);
    if (src->input_dataset && GDALDereferenceDataset(src->input_dataset) <= 0)
        GDALClose(src->input_dataset);
    free_keys(src->keys, src->n_keys);
    free(src->wkt);
    free(src);
}

/* ------------------------------------------------------------------------- */
/* Window reads.                                                              */

/* A run of level pixels [l0, l0+ln) read from source pixels [s0, s0+sn). */
typedef struct span {
    int l0, ln, s0, sn;
} span;

/* Split level pixels [i0,i1) of an axis of source size s at factor f into the
 * runs of whole f-pixel blocks and the last, partial block (at most 2 spans). */
static int split_axis(int i0, int i1, int s, int f, span out[2])
{
    int n = 0, whole = s / f, end = i1 < whole ? i1 : whole;
    if (i0 < end)
        out[n++] = (span){i0, end - i0, i0 * f, (end - i0) * f};
    if (whole * f < s && i0 <= whole && i1 > whole) /* the partial last block */
        out[n++] = (span){whole, 1, whole * f, s - whole * f};
    return n;
}

typedef struct window_plan {
    int level;
    int ix0, iy0, ix1, iy1; /* inside part, level pixels */
    span xs[2], ys[2];
    int nxs, nys;
} window_plan;

/* Read one band into buf laid out as the window (line spacing line, pixel
 * spacing pixel bytes, buf pointing at window pixel (0,0) of this channel). */
static eem_status read_band_spans(GDALRasterBandH band, const window_plan *p, const eem_window *win,
                                  uint8_t *buf, GDALDataType type, size_t pixel, size_t line,
                                  GDALRIOResampleAlg alg, const gdal_errors *ge, const char *what,
                                  eem_error *err)
{
    for (int j = 0; j < p->nys; j++) {
        for (int i = 0; i < p->nxs; i++) {
            const span *sx = &p->xs[i], *sy = &p->ys[j];
            GDALRasterIOExtraArg extra;
            INIT_RASTERIO_EXTRA_ARG(extra);
            extra.eResampleAlg = alg;
            uint8_t *at = buf + (size_t)(sy->l0 - win->y) * line + (size_t)(sx->l0 - win->x) * pixel;
            if (GDALRasterIOEx(band, GF_Read, sx->s0, sy->s0, sx->sn, sy->sn, at, sx->ln, sy->ln, type,
                               (GSpacing)pixel, (GSpacing)line, &extra) != CE_None)
                return eem_error_set(err, EEM_ERR_IO,
                                     "INPUT: reading %s, source pixels (%d,%d) size %dx%d, at level %d "
                                     "failed: %s",
                                     what, sx->s0, sy->s0, sx->sn, sy->sn, p->level,
                                     gdal_errors_text(ge, "GDAL gave no reason"));
        }
    }
    return EEM_OK;
}

static int is_signed_byte_band(GDALRasterBandH band)
{
    return band_dtype(band) == EEM_DT_INT8;
}

/* Channel c of key through a window-sized temporary: read as type rt (GDAL's
 * Byte for a signed-byte band, whose bytes are int8), convert the whole plane
 * to the send type, then interleave it into the tensor. */
static eem_status read_channel_converted(GDALRasterBandH band, eem_dtype rt, eem_tensor *t, int c,
                                         const window_plan *p, const eem_window *win,
                                         GDALRIOResampleAlg alg, const gdal_errors *ge,
                                         const char *what, eem_error *err)
{
    eem_status st = EEM_OK;
    size_t n = (size_t)win->w * win->h, rsz = eem_dtype_size(rt), ssz = eem_dtype_size(t->type);
    size_t pixel = (size_t)t->dims[2] * ssz;
    uint8_t *raw = calloc(n, rsz), *conv = malloc(n * ssz);
    GDALDataType gt = rt == EEM_DT_INT8 ? GDT_Byte : gdal_type_of(rt);

    if (!raw || !conv) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory reading %s", what);
        goto done;
    }
    st = read_band_spans(band, p, win, raw, gt, rsz, (size_t)win->w * rsz, alg, ge, what, err);
    if (st != EEM_OK)
        goto done;
    eem_dtype_convert(raw, rt, conv, t->type, n);
    uint8_t *dst = (uint8_t *)t->data + (size_t)c * ssz;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < ssz; b++)
            dst[i * pixel + b] = conv[i * ssz + b];
done:
    free(raw);
    free(conv);
    return st;
}

/* Every channel of one key.  Fast path: GDAL writes straight into the HWC
 * tensor (pixel spacing C*size, line spacing w*C*size) when the send type is a
 * GDAL type and the band is not signed-byte; otherwise read_channel_converted. */
static eem_status read_key_values(const eem_source *src, const eem_source_key *key, eem_tensor *t,
                                  const window_plan *p, const eem_window *win, const gdal_errors *ge,
                                  eem_error *err)
{
    size_t esz = eem_dtype_size(key->send_type);
    size_t pixel = (size_t)key->n_bands * esz, line = (size_t)win->w * pixel;
    const char *input = GDALGetDescription(src->dataset);
    char what[256];

    for (int c = 0; c < key->n_bands; c++) {
        GDALRasterBandH band = GDALGetRasterBand(src->dataset, key->bands[c]);
        int signed_byte = is_signed_byte_band(band);
        /* GDAL 3.6 averages signed bytes as unsigned: use nearest for them. */
        GDALRIOResampleAlg alg = (p->level > 0 && !signed_byte) ? GRIORA_Average : GRIORA_NearestNeighbour;
        eem_status st;
        snprintf(what, sizeof what, "band %d of \"%s\"", key->bands[c], input);
        if (signed_byte && key->send_type != EEM_DT_INT8)
            st = read_channel_converted(band, EEM_DT_INT8, t, c, p, win, alg, ge, what, err);
        else if (signed_byte)
            st = read_band_spans(band, p, win, (uint8_t *)t->data + (size_t)c * esz, GDT_Byte, pixel, line,
                                 alg, ge, what, err);
        else if (read_dtype(key->send_type) != key->send_type)
            st = read_channel_converted(band, read_dtype(key->send_type), t, c, p, win, alg, ge, what, err);
        else
            st = read_band_spans(band, p, win, (uint8_t *)t->data + (size_t)c * esz,
                                 gdal_type_of(key->send_type), pixel, line, alg, ge, what, err);
        if (st != EEM_OK)
            return st;
    }
    return EEM_OK;
}

/* mask &= valid over the part of the window inside the raster (mask, valid:
 * one byte per window pixel, valid as read by read_band_spans). */
static void and_into_mask(const window_plan *p, const eem_window *win, uint8_t *mask,
                          const uint8_t *valid)
{
    for (int y = p->iy0; y < p->iy1; y++) {
        size_t row = (size_t)(y - win->y) * win->w;
        uint8_t *m = mask + row;
        const uint8_t *v = valid + row;
        for (int x = p->ix0 - win->x; x < p->ix1 - win->x; x++)
            m[x] = (uint8_t)(m[x] && v[x]);
    }
}

/* The mask of each key (key_masks[k], w*h bytes: 1 inside the level raster
 * and the warp's footprint, AND the masks of the key's bands) and the window's
 * (win->mask: AND of every key's). */
static eem_status read_masks(const eem_source *src, const window_plan *p, eem_window *win,
                             uint8_t *const *key_masks, const gdal_errors *ge, eem_error *err)
{
    eem_status st = EEM_OK;
    const size_t n = (size_t)win->w * win->h;
    uint8_t *tmp = NULL, *per_dataset = NULL;
    const char *input = GDALGetDescription(src->dataset);
    char what[256];

    for (int y = p->iy0; y < p->iy1; y++)
        memset(win->mask + (size_t)(y - win->y) * win->w + (p->ix0 - win->x), 1,
               (size_t)(p->ix1 - p->ix0));
    if (src->all_valid)
        return EEM_OK;

    tmp = malloc(n);
    if (!tmp)
        return eem_error_set(err, EEM_ERR_NOMEM, "INPUT: out of memory reading the mask");
    if (src->alpha_band > 0) {
        /* the warp's alpha: 0 outside the source footprint and where it is masked */
        snprintf(what, sizeof what, "the alpha band of the warp of \"%s\"", input);
        st = read_band_spans(GDALGetRasterBand(src->dataset, src->alpha_band), p, win, tmp,
                             GDT_Byte, 1, (size_t)win->w, GRIORA_NearestNeighbour, ge, what, err);
        if (st != EEM_OK)
            goto done;
        and_into_mask(p, win, win->mask, tmp);
    }
    for (int k = 0; k < src->n_keys; k++) {
        uint8_t *km = key_masks[k];
        memcpy(km, win->mask, n);
        for (int c = 0; c < src->keys[k].n_bands; c++) {
            int b = src->keys[k].bands[c];
            GDALRasterBandH band = GDALGetRasterBand(src->dataset, b);
            int flags = GDALGetMaskFlags(band);
            if (flags == GMF_ALL_VALID)
                continue;
            const uint8_t *valid = tmp;
            if ((flags & GMF_PER_DATASET) && per_dataset)
                valid = per_dataset; /* one mask for every band: read once */
            else {
                snprintf(what, sizeof what, "the mask of band %d of \"%s\"", b, input);
                st = read_band_spans(GDALGetMaskBand(band), p, win, tmp, GDT_Byte, 1,
                                     (size_t)win->w, GRIORA_NearestNeighbour, ge, what, err);
                if (st != EEM_OK)
                    goto done;
                if ((flags & GMF_PER_DATASET) && (per_dataset = malloc(n)) != NULL)
                    memcpy(per_dataset, tmp, n), valid = per_dataset;
            }
            and_into_mask(p, win, km, valid);
        }
    }
    for (int k = 0; k < src->n_keys; k++)
        and_into_mask(p, win, win->mask, key_masks[k]);
done:
    free(tmp);
    free(per_dataset);
    return st;
}

/* A key's masked pixels inside the raster are set to 0 in its tensor (outside
 * ones are 0 already). */
static void zero_masked(const window_plan *p, eem_window *win, uint8_t *const *key_masks)
{
    for (int k = 0; k < win->n_keys; k++) {
        eem_tensor *t = win->keys[k];
        const uint8_t *km = key_masks[k];
        size_t pixel = (size_t)t->dims[2] * eem_dtype_size(t->type);
        uint8_t *data = t->data;
        for (int y = p->iy0; y < p->iy1; y++) {
            size_t row = (size_t)(y - win->y) * win->w;
            for (int x = p->ix0 - win->x; x < p->ix1 - win->x; x++) {
                if (km[row + x])
                    continue;
                memset(data + (row + x) * pixel, 0, pixel);
            }
        }
    }
}

/* The warp of the source onto G coarsened by 2^level (lw x lh pixels of
 * 2^level G pixels each, same origin), as gdalwarp -of VRT [-t_srs PROJ]
 * -te ... -ts lw lh -r average -dstalpha -et 0 makes it: the warper reads the
 * source through its overviews and transforms only the level's pixels. */
static eem_status warp_level(const eem_source *src, int level, int lw, int lh, gdal_errors *ge,
                             eem_error *err)
{
    const double f = (double)((int64_t)1 << level);
    const double *gt = src->gt;
    char te[4][64], ts[2][32];
    snprintf(te[0], sizeof te[0], "%.17g", gt[0]);
    snprintf(te[1], sizeof te[1], "%.17g", gt[3] + lh * f * gt[5]);
    snprintf(te[2], sizeof te[2], "%.17g", gt[0] + lw * f * gt[1]);
    snprintf(te[3], sizeof te[3], "%.17g", gt[3]);
    snprintf(ts[0], sizeof ts[0], "%d", lw);
    snprintf(ts[1], sizeof ts[1], "%d", lh);
    char **argv = NULL;
    argv = CSLAddString(argv, "-of");
    argv = CSLAddString(argv, "VRT");
    if (src->warp_crs) {
        argv = CSLAddString(argv, "-t_srs");
        argv = CSLAddString(argv, src->warp_crs);
    }
    argv = CSLAddString(argv, "-te");
    for (int i = 0; i < 4; i++)
        argv = CSLAddString(argv, te[i]);
    argv = CSLAddString(argv, "-ts");
    argv = CSLAddString(argv, ts[0]);
    argv = CSLAddString(argv, ts[1]);
    argv = CSLAddString(argv, "-r");
    argv = CSLAddString(argv, "average");
    argv = CSLAddString(argv, "-dstalpha");
    argv = CSLAddString(argv, "-et");
    argv = CSLAddString(argv, "0");
    gdal_errors_reset(ge);
    GDALWarpAppOptions *opts = GDALWarpAppOptionsNew(argv, NULL);
    CSLDestroy(argv);
    GDALDatasetH in = src->input_dataset;
    GDALDatasetH warped = opts ? GDALWarp("", NULL, 1, &in, opts, NULL) : NULL;
    GDALWarpAppOptionsFree(opts);
    if (!warped)
        return eem_error_set(err, EEM_ERR_IO,
                             "INPUT: warping the source for overview level %d (%dx%d) failed: %s",
                             level, lw, lh, gdal_errors_text(ge, "GDAL gave no reason"));
    src->level_datasets[level] = warped;
    return EEM_OK;
}

static int min_int64(int64_t a, int64_t b) { return (int)(a < b ? a : b); }
static int max_int64(int64_t a, int64_t b) { return (int)(a > b ? a : b); }

/* Bytes of every band of the level-0 source (the dataset read). */
static long long source_bytes(const eem_source *src)
{
    GDALDatasetH ds = src->dataset;
    long long px = 0;
    for (int b = 1; b <= GDALGetRasterCount(ds); b++)
        px += GDALGetDataTypeSizeBytes(GDALGetRasterDataType(GDALGetRasterBand(ds, b)));
    return px * GDALGetRasterXSize(ds) * GDALGetRasterYSize(ds);
}

/* A level-0 read of rows [iy0, iy1) x columns [ix0, ix1): GDAL's cached source
 * blocks entirely above iy0, among those read since the last drop, are
 * dropped (reads go down the raster; one that goes back up re-reads) — when
 * GDAL's cache could hold the source twice over, so that it would never
 * evict them: every block would then cost fresh memory and the process would
 * grow with the raster.  A smaller cache recycles their memory itself (its
 * least recently used blocks go first), and is left to do so. */
static void source_pass(eem_source *src, int ix0, int iy0, int ix1)
{
    if (!src->passed_any) {
        src->passed_any = 1;
        src->passed_top = iy0, src->passed_x0 = ix0, src->passed_x1 = ix1;
        src->bytes = source_bytes(src);
        return;
    }
    src->passed_x0 = ix0 < src->passed_x0 ? ix0 : src->passed_x0;
    src->passed_x1 = ix1 > src->passed_x1 ? ix1 : src->passed_x1;
    if (iy0 > src->passed_top && GDALGetCacheMax64() / 2 >= src->bytes)
        eem_source_blocks_drop(src->dataset, src->passed_x0, src->passed_top, src->passed_x1, iy0);
    src->passed_top = iy0;
}

eem_status eem_source_read_window(eem_source *src_in, int level, int x, int y, int w, int h,
                                  eem_window **out, eem_error *err)
{
    const eem_source *src = src_in;
    eem_status st = EEM_OK;
    eem_window *win = NULL;
    gdal_errors ge;
    int pushed = 0;
    uint8_t **key_masks = NULL; /* per key; only when some band has a mask */

    if (out)
        *out = NULL;
    if (!src || !out)
        return eem_error_set(err, EEM_ERR_INVALID, "source window: no source given");
    if (level < 0 || level > EEM_SOURCE_MAX_LEVEL || w <= 0 || h <= 0)
        return eem_error_set(err, EEM_ERR_INVALID,
                             "source window: level %d, size %dx%d; accepted: level 0..%d and a "
                             "positive size",
                             level, w, h, EEM_SOURCE_MAX_LEVEL);
    for (int k = 0; k < src->n_keys; k++) {
        uint64_t bytes = (uint64_t)w * (uint64_t)h * (uint64_t)src->keys[k].n_bands * 8u;
        if (bytes > (uint64_t)(PTRDIFF_MAX / 4))
            return eem_error_set(err, EEM_ERR_INVALID, "source window: %dx%d is too large", w, h);
    }

    win = calloc(1, sizeof *win);
    if (!win)
        return eem_error_set(err, EEM_ERR_NOMEM, "source window: out of memory");
    win->x = x, win->y = y, win->w = w, win->h = h;
    win->n_keys = src->n_keys;
    win->keys = calloc((size_t)src->n_keys, sizeof *win->keys);
    win->mask = calloc((size_t)w * (size_t)h, 1);
    if (!win->keys || !win->mask) {
        st = eem_error_set(err, EEM_ERR_NOMEM, "source window: out of memory");
        goto done;
    }
    for (int k = 0; k < src->n_keys; k++) {
        int64_t dims[3] = {h, w, src->keys[k].n_bands};
        win->keys[k] = eem_tensor_new(src->keys[k].send_type, 3, dims);
        if (!win->keys[k]) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "source window: out of memory for %dx%d key \"%s\"",
                               w, h, src->keys[k].key);
            goto done;
        }
    }

    /* The part of the window inside the level raster. */
    window_plan p;
    memset(&p, 0, sizeof p);
    int64_t f = (int64_t)1 << level;
    int64_t lw = ((int64_t)src->width + f - 1) / f, lh = ((int64_t)src->height + f - 1) / f;
    eem_source level_view;
    if (level > 0 && src->warped && src->level_datasets) {
        /* a warp at the level's own resolution, read 1:1 */
        gdal_errors_begin(&ge);
        pushed = 1;
        if (!src->level_datasets[level] &&
            (st = warp_level(src, level, (int)lw, (int)lh, &ge, err)) != EEM_OK)
            goto done;
        level_view = *src;
        level_view.dataset = src->level_datasets[level];
        level_view.width = (int)lw;
        level_view.height = (int)lh;
        level_view.alpha_band = GDALGetRasterCount(level_view.dataset);
        src = &level_view;
        f = 1;
    }
    p.level = level;
    p.ix0 = max_int64(x, 0);
    p.iy0 = max_int64(y, 0);
    p.ix1 = min_int64((int64_t)x + w, lw);
    p.iy1 = min_int64((int64_t)y + h, lh);
    if (p.ix0 >= p.ix1 || p.iy0 >= p.iy1)
        goto done; /* entirely outside: zeros, all masked */
    p.nxs = split_axis(p.ix0, p.ix1, src->width, (int)f, p.xs);
    p.nys = split_axis(p.iy0, p.iy1, src->height, (int)f, p.ys);

    if (!pushed)
        gdal_errors_begin(&ge);
    pushed = 1;
    for (int k = 0; k < src->n_keys; k++)
        if ((st = read_key_values(src, &src->keys[k], win->keys[k], &p, win, &ge, err)) != EEM_OK)
            goto done;
    if (!src->all_valid) {
        key_masks = calloc(src->n_keys > 0 ? (size_t)src->n_keys : 1, sizeof *key_masks);
        for (int k = 0; key_masks && k < src->n_keys; k++)
            if (!(key_masks[k] = malloc((size_t)w * (size_t)h)))
                break;
        if (!key_masks || (src->n_keys > 0 && !key_masks[src->n_keys - 1])) {
            st = eem_error_set(err, EEM_ERR_NOMEM, "source window: out of memory for masks");
            goto done;
        }
    }
    if ((st = read_masks(src, &p, win, key_masks, &ge, err)) != EEM_OK)
        goto done;
    if (!src->all_valid)
        zero_masked(&p, win, key_masks);
    if (level == 0)
        source_pass(src_in, (int)p.ix0, (int)p.iy0, (int)p.ix1);

done:
    for (int k = 0; key_masks && k < src->n_keys; k++)
        free(key_masks[k]);
    free(key_masks);
    if (pushed)
        gdal_errors_end();
    if (st != EEM_OK) {
        eem_window_free(win);
        return st;
    }
    *out = win;
    return EEM_OK;
}

void eem_window_free(eem_window *win)
{
    if (!win)
        return;
    if (win->keys)
        for (int k = 0; k < win->n_keys; k++)
            eem_tensor_free(win->keys[k]);
    free(win->keys);
    free(win->mask);
    free(win);
}

eem_status eem_source_zero_tensors_new(const eem_source *src, int64_t h, int64_t w,
                                       eem_tensor ***tensors, const char ***keys, eem_error *err)
{
    *tensors = calloc((size_t)src->n_keys + 1, sizeof **tensors);
    *keys = calloc((size_t)src->n_keys + 1, sizeof **keys);
    for (int k = 0; *tensors && *keys && k < src->n_keys; k++) {
        int64_t dims[3] = {h, w, src->keys[k].n_bands};
        (*keys)[k] = src->keys[k].key;
        if (!((*tensors)[k] = eem_tensor_new(src->keys[k].send_type, 3, dims)))
            break;
    }
    if (*tensors && *keys && (src->n_keys == 0 || (*tensors)[src->n_keys - 1]))
        return EEM_OK;
    eem_source_zero_tensors_free(src, *tensors, *keys);
    *tensors = NULL;
    *keys = NULL;
    return eem_error_set(err, EEM_ERR_NOMEM, "out of memory for a %lldx%lld tile", (long long)w,
                         (long long)h);
}

void eem_source_zero_tensors_free(const eem_source *src, eem_tensor **tensors, const char **keys)
{
    for (int k = 0; tensors && k < src->n_keys; k++)
        eem_tensor_free(tensors[k]);
    free(tensors);
    free(keys);
}
