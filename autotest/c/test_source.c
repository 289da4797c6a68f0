/* test_source.c — unit tests of source.c: band resolution, tensor keys, send
 * types, grid, and window reads (edges, HWC order, masks, levels, overviews)
 * against small GeoTIFFs written to /vsimem/ with known pixel values
 * V(band,row,col) = band*1000 + row*10 + col. */
#include "check.h"
#include "source.h"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Building descriptors by hand.                                              */

static char *dup_text(const char *s)
{
    if (!s)
        return NULL;
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static eem_spec *spec_new(const char *input)
{
    eem_spec *s = calloc(1, sizeof *s);
    s->input = dup_text(input);
    return s;
}

static void spec_add_band(eem_spec *s, const char *ref, const char *key)
{
    s->bands = realloc(s->bands, (size_t)(s->n_bands + 1) * sizeof *s->bands);
    s->bands[s->n_bands].ref = dup_text(ref);
    s->bands[s->n_bands].key = dup_text(key);
    s->n_bands++;
}

static void spec_add_type(eem_spec *s, const char *key, eem_dtype t)
{
    s->input_types = realloc(s->input_types, (size_t)(s->n_input_types + 1) * sizeof *s->input_types);
    s->input_types[s->n_input_types].key = dup_text(key);
    s->input_types[s->n_input_types].type = t;
    s->n_input_types++;
}

static void spec_release(eem_spec *s)
{
    for (int i = 0; i < s->n_bands; i++) {
        free(s->bands[i].ref);
        free(s->bands[i].key);
    }
    for (int i = 0; i < s->n_input_types; i++)
        free(s->input_types[i].key);
    free(s->bands);
    free(s->input_types);
    free(s->input_array);
    free(s->input);
    free(s);
}

/* ------------------------------------------------------------------------- */
/* Test rasters.                                                              */

static double V(int band, int row, int col)
{
    return band * 1000.0 + row * 10.0 + col;
}

/* A GTiff in /vsimem/ of W x H, nb bands of type t, filled with V; descriptions
 * may be NULL.  Returned open for update; the caller closes it. */
static GDALDatasetH make_tif(const char *path, int W, int H, int nb, GDALDataType t,
                             const char *const *descs, char **options)
{
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = GDALCreate(drv, path, W, H, nb, t, options);
    double *buf = malloc((size_t)W * H * sizeof *buf);
    for (int b = 1; b <= nb; b++) {
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                buf[r * W + c] = V(b, r, c);
        GDALRasterBandH band = GDALGetRasterBand(ds, b);
        if (GDALRasterIO(band, GF_Write, 0, 0, W, H, buf, W, H, GDT_Float64, 0, 0) != CE_None)
            fprintf(stderr, "writing %s failed\n", path);
        if (descs && descs[b - 1])
            GDALSetDescription(band, descs[b - 1]);
    }
    free(buf);
    return ds;
}

static void write_pixel(GDALDatasetH ds, int b, int row, int col, double v)
{
    CHECK_EQ_INT(GDALRasterIO(GDALGetRasterBand(ds, b), GF_Write, col, row, 1, 1, &v, 1, 1, GDT_Float64, 0, 0),
                 CE_None);
}

static void write_vsimem_text(const char *path, const char *text)
{
    VSILFILE *f = VSIFOpenL(path, "wb");
    VSIFWriteL(text, 1, strlen(text), f);
    VSIFCloseL(f);
}

static eem_source *open_or_report(eem_spec *spec, eem_error *err)
{
    eem_source *src = NULL;
    eem_status st = eem_source_open(spec, &src, err);
    if (st != EEM_OK)
        fprintf(stderr, "eem_source_open(%s): %s\n", spec->input, err->msg);
    CHECK_EQ_INT(st, EEM_OK);
    return src;
}

/* Element (row, col, ch) of a window tensor, as double. */
static double at(const eem_tensor *t, int row, int col, int ch)
{
    size_t i = ((size_t)row * (size_t)t->dims[1] + (size_t)col) * (size_t)t->dims[2] + (size_t)ch;
    return eem_dtype_get(t->data, t->type, i);
}

/* Expected value of a level-k pixel: the mean of V over its (clipped) block. */
static double level_value(int band, int row, int col, int level, int W, int H)
{
    int f = 1 << level;
    int r0 = row * f, r1 = (row + 1) * f < H ? (row + 1) * f : H;
    int c0 = col * f, c1 = (col + 1) * f < W ? (col + 1) * f : W;
    double mean_r = (r0 + r1 - 1) / 2.0, mean_c = (c0 + c1 - 1) / 2.0;
    return band * 1000.0 + mean_r * 10.0 + mean_c;
}

/* Compare a whole window with level_value / outside-zero rules; returns the
 * number of mismatching values or mask entries. */
static int window_mismatches(const eem_source *src, const eem_window *win, int level)
{
    int bad = 0, f = 1 << level;
    int lw = (src->width + f - 1) / f, lh = (src->height + f - 1) / f;
    for (int k = 0; k < win->n_keys; k++) {
        const eem_tensor *t = win->keys[k];
        if (t->ndim != 3 || t->dims[0] != win->h || t->dims[1] != win->w ||
            t->dims[2] != src->keys[k].n_bands || t->type != src->keys[k].send_type) {
            fprintf(stderr, "key %d: bad shape/type\n", k);
            return 1 << 20;
        }
        for (int r = 0; r < win->h; r++) {
            for (int c = 0; c < win->w; c++) {
                int gy = win->y + r, gx = win->x + c;
                int inside = gx >= 0 && gy >= 0 && gx < lw && gy < lh;
                if (k == 0 && win->mask[r * win->w + c] != inside) {
                    if (bad++ < 5)
                        fprintf(stderr, "mask (%d,%d) = %d, expected %d\n", r, c,
                                win->mask[r * win->w + c], inside);
                }
                for (int ch = 0; ch < t->dims[2]; ch++) {
                    double want = inside ? level_value(src->keys[k].bands[ch], gy, gx, level,
                                                       src->width, src->height)
                                         : 0.0;
                    double got = at(t, r, c, ch);
                    if (fabs(got - want) > 1e-3) {
                        if (bad++ < 5)
                            fprintf(stderr, "key %d (%d,%d,%d) level %d = %g, expected %g\n", k, r, c,
                                    ch, level, got, want);
                    }
                }
            }
        }
    }
    return bad;
}

/* ------------------------------------------------------------------------- */

static void test_open_errors(void)
{
    eem_error err = {0};
    eem_source *src = (eem_source *)1;
    eem_spec *spec = spec_new("/vsimem/does_not_exist.tif");
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK(src == NULL);
    CHECK_CONTAINS(err.msg, "INPUT: \"/vsimem/does_not_exist.tif\" cannot be opened by GDAL: ");
    CHECK_CONTAINS(err.msg, "No such file");
    spec_release(spec);

    /* A file GDAL does not recognise: GDAL's own reason is carried over. */
    write_vsimem_text("/vsimem/not_a_raster.txt", "hello, not a raster\n");
    spec = spec_new("/vsimem/not_a_raster.txt");
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "cannot be opened by GDAL: ");
    CHECK_CONTAINS(err.msg, "not recognized");
    spec_release(spec);
    VSIUnlink("/vsimem/not_a_raster.txt");

    /* The quiet handler was popped: GDAL's handler stack is back to normal. */
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    CPLError(CE_Failure, CPLE_AppDefined, "probe");
    CHECK_CONTAINS(CPLGetLastErrorMsg(), "probe");
    CPLPopErrorHandler();
    CPLErrorReset();
}

static void test_band_resolution(void)
{
    const char *descs[] = {"red", "Green", ""};
    GDALClose(make_tif("/vsimem/desc.tif", 7, 5, 3, GDT_Float32, descs, NULL));
    eem_error err = {0};
    eem_source *src;

    /* All bands: keys from descriptions, else b<index>. */
    eem_spec *spec = spec_new("/vsimem/desc.tif");
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->n_keys, 3);
        CHECK(strcmp(src->keys[0].key, "red") == 0);
        CHECK(strcmp(src->keys[1].key, "Green") == 0);
        CHECK(strcmp(src->keys[2].key, "b3") == 0);
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_INT(src->keys[i].n_bands, 1);
            CHECK_EQ_INT(src->keys[i].bands[0], i + 1);
            CHECK_EQ_INT(src->keys[i].send_type, EEM_DT_FLOAT32);
        }
        CHECK_EQ_INT(src->all_valid, 1);
    }
    eem_source_close(src);
    spec_release(spec);

    /* By index, exact description, case-insensitive description. */
    spec = spec_new("/vsimem/desc.tif");
    spec_add_band(spec, "3", NULL);
    spec_add_band(spec, "GREEN", NULL);
    spec_add_band(spec, "red", NULL);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->n_keys, 3);
        CHECK_EQ_INT(src->keys[0].bands[0], 3);
        CHECK_EQ_INT(src->keys[1].bands[0], 2);
        CHECK_EQ_INT(src->keys[2].bands[0], 1);
        CHECK(strcmp(src->keys[0].key, "b3") == 0);
        CHECK(strcmp(src->keys[1].key, "Green") == 0);
        CHECK(strcmp(src->keys[2].key, "red") == 0);
    }
    eem_source_close(src);
    spec_release(spec);

    /* JSON form: explicit keys. */
    spec = spec_new("/vsimem/desc.tif");
    spec_add_band(spec, "1", "r");
    spec_add_band(spec, "Green", "nir");
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->n_keys, 2);
        CHECK(strcmp(src->keys[0].key, "r") == 0);
        CHECK(strcmp(src->keys[1].key, "nir") == 0);
        CHECK_EQ_INT(src->keys[1].bands[0], 2);
    }
    eem_source_close(src);
    spec_release(spec);

    /* INPUT_ARRAY: one key, channels in BANDS order. */
    spec = spec_new("/vsimem/desc.tif");
    spec->input_array = dup_text("array");
    spec_add_band(spec, "2", NULL);
    spec_add_band(spec, "red", NULL);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->n_keys, 1);
        CHECK(strcmp(src->keys[0].key, "array") == 0);
        CHECK_EQ_INT(src->keys[0].n_bands, 2);
        CHECK_EQ_INT(src->keys[0].bands[0], 2);
        CHECK_EQ_INT(src->keys[0].bands[1], 1);
    }
    eem_source_close(src);
    spec_release(spec);

    /* Unknown band: the message lists what is available. */
    spec = spec_new("/vsimem/desc.tif");
    spec_add_band(spec, "red", NULL);
    spec_add_band(spec, "B9", NULL);
    src = (eem_source *)1;
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK(src == NULL);
    CHECK_CONTAINS(err.msg, "BANDS: \"B9\" is not a band of \"/vsimem/desc.tif\"");
    CHECK_CONTAINS(err.msg, "available: 1 \"red\", 2 \"Green\", 3 (no description)");
    spec_release(spec);

    /* Index out of range (and 0). */
    const char *bad_indices[] = {"4", "0"};
    for (int i = 0; i < 2; i++) {
        spec = spec_new("/vsimem/desc.tif");
        spec_add_band(spec, bad_indices[i], NULL);
        CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "out of range");
        CHECK_CONTAINS(err.msg, "has 3 bands");
        CHECK_CONTAINS(err.msg, "3 (no description)");
        spec_release(spec);
    }

    /* Duplicate keys. */
    spec = spec_new("/vsimem/desc.tif");
    spec_add_band(spec, "1", NULL);
    spec_add_band(spec, "red", NULL);
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "tensor key \"red\"");
    spec_release(spec);
    spec = spec_new("/vsimem/desc.tif");
    spec_add_band(spec, "1", "x");
    spec_add_band(spec, "2", "x");
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "tensor key \"x\"");
    spec_release(spec);
    VSIUnlink("/vsimem/desc.tif");

    /* Case: exact match wins; ambiguous case-insensitive match fails. */
    const char *cased[] = {"nir", "NIR"};
    GDALClose(make_tif("/vsimem/cased.tif", 3, 2, 2, GDT_Byte, cased, NULL));
    spec = spec_new("/vsimem/cased.tif");
    spec_add_band(spec, "NIR", NULL);
    spec_add_band(spec, "nir", NULL);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->keys[0].bands[0], 2);
        CHECK_EQ_INT(src->keys[1].bands[0], 1);
        CHECK_EQ_INT(src->keys[0].send_type, EEM_DT_UINT8);
    }
    eem_source_close(src);
    spec_release(spec);
    spec = spec_new("/vsimem/cased.tif");
    spec_add_band(spec, "Nir", NULL);
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "\"Nir\" matches 2 bands");
    spec_release(spec);
    VSIUnlink("/vsimem/cased.tif");
}

static eem_dtype default_type_of(GDALDataType t, char **options)
{
    eem_error err = {0};
    GDALClose(make_tif("/vsimem/typed.tif", 2, 2, 1, t, NULL, options));
    eem_spec *spec = spec_new("/vsimem/typed.tif");
    eem_source *src = open_or_report(spec, &err);
    eem_dtype got = src ? src->keys[0].send_type : EEM_DT_NONE;
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/typed.tif");
    return got;
}

/* A VRT with two empty bands of the given types, stacked with INPUT_ARRAY. */
static eem_dtype array_type_of(const char *t1, const char *t2)
{
    char xml[512];
    snprintf(xml, sizeof xml,
             "<VRTDataset rasterXSize=\"2\" rasterYSize=\"2\">"
             "<VRTRasterBand dataType=\"%s\" band=\"1\"/><VRTRasterBand dataType=\"%s\" band=\"2\"/>"
             "</VRTDataset>",
             t1, t2);
    write_vsimem_text("/vsimem/mixed.vrt", xml);
    eem_error err = {0};
    eem_spec *spec = spec_new("/vsimem/mixed.vrt");
    spec->input_array = dup_text("array");
    eem_source *src = open_or_report(spec, &err);
    eem_dtype got = src ? src->keys[0].send_type : EEM_DT_NONE;
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/mixed.vrt");
    return got;
}

static void test_types(void)
{
    CHECK_EQ_INT(default_type_of(GDT_Byte, NULL), EEM_DT_UINT8);
    CHECK_EQ_INT(default_type_of(GDT_UInt16, NULL), EEM_DT_UINT16);
    CHECK_EQ_INT(default_type_of(GDT_Int16, NULL), EEM_DT_INT16);
    CHECK_EQ_INT(default_type_of(GDT_UInt32, NULL), EEM_DT_UINT32);
    CHECK_EQ_INT(default_type_of(GDT_Int32, NULL), EEM_DT_INT32);
    CHECK_EQ_INT(default_type_of(GDT_UInt64, NULL), EEM_DT_UINT64);
    CHECK_EQ_INT(default_type_of(GDT_Int64, NULL), EEM_DT_INT64);
    CHECK_EQ_INT(default_type_of(GDT_Float32, NULL), EEM_DT_FLOAT32);
    CHECK_EQ_INT(default_type_of(GDT_Float64, NULL), EEM_DT_FLOAT64);
    char *signed_byte[] = {"PIXELTYPE=SIGNEDBYTE", NULL};
    CHECK_EQ_INT(default_type_of(GDT_Byte, signed_byte), EEM_DT_INT8);

    /* Complex bands are refused. */
    eem_error err = {0};
    eem_source *src = NULL;
    GDALClose(make_tif("/vsimem/complex.tif", 2, 2, 1, GDT_CInt16, NULL, NULL));
    eem_spec *spec = spec_new("/vsimem/complex.tif");
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "CInt16");
    CHECK_CONTAINS(err.msg, "band 1");
    spec_release(spec);
    VSIUnlink("/vsimem/complex.tif");

    /* INPUT_ARRAY over bands of different types. */
    CHECK_EQ_INT(array_type_of("Int16", "Int16"), EEM_DT_INT16);
    CHECK_EQ_INT(array_type_of("Byte", "UInt16"), EEM_DT_UINT16);
    CHECK_EQ_INT(array_type_of("Int32", "Int16"), EEM_DT_INT32);
    CHECK_EQ_INT(array_type_of("Byte", "Int16"), EEM_DT_FLOAT32);
    CHECK_EQ_INT(array_type_of("Int16", "Float32"), EEM_DT_FLOAT32);
    CHECK_EQ_INT(array_type_of("Int32", "Float32"), EEM_DT_FLOAT64);
    CHECK_EQ_INT(array_type_of("UInt32", "Int32"), EEM_DT_FLOAT64);
    CHECK_EQ_INT(array_type_of("Float32", "Float64"), EEM_DT_FLOAT64);

    /* INPUT_TYPE overrides: global, per key (wins whatever the order), unknown key. */
    GDALClose(make_tif("/vsimem/u16.tif", 3, 2, 3, GDT_UInt16, NULL, NULL));
    spec = spec_new("/vsimem/u16.tif");
    spec_add_type(spec, "b2", EEM_DT_UINT8);
    spec_add_type(spec, NULL, EEM_DT_FLOAT64);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->keys[0].send_type, EEM_DT_FLOAT64);
        CHECK_EQ_INT(src->keys[1].send_type, EEM_DT_UINT8);
        CHECK_EQ_INT(src->keys[2].send_type, EEM_DT_FLOAT64);
    }
    eem_source_close(src);
    spec_release(spec);

    spec = spec_new("/vsimem/u16.tif");
    spec_add_type(spec, "b3", EEM_DT_INT32);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->keys[0].send_type, EEM_DT_UINT16);
        CHECK_EQ_INT(src->keys[2].send_type, EEM_DT_INT32);
    }
    eem_source_close(src);
    spec_release(spec);

    spec = spec_new("/vsimem/u16.tif");
    spec_add_type(spec, "nope", EEM_DT_FLOAT32);
    CHECK_EQ_INT(eem_source_open(spec, &src, &err), EEM_ERR_INVALID);
    CHECK_CONTAINS(err.msg, "INPUT_TYPE: \"nope\" is not an input key; available: \"b1\", \"b2\", \"b3\"");
    spec_release(spec);

    spec = spec_new("/vsimem/u16.tif");
    spec->input_array = dup_text("x");
    spec_add_type(spec, "x", EEM_DT_FLOAT16);
    src = open_or_report(spec, &err);
    if (src)
        CHECK_EQ_INT(src->keys[0].send_type, EEM_DT_FLOAT16);
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/u16.tif");
}

static const char *data_dir(void)
{
    const char *d = getenv("EEM_TEST_DATA");
    return d ? d : "../data";
}

static void test_grid(void)
{
    char path[1024];
    eem_error err = {0};
    snprintf(path, sizeof path, "%s/RGB.byte.tif", data_dir());
    eem_spec *spec = spec_new(path);
    eem_source *src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->width, 791);
        CHECK_EQ_INT(src->height, 718);
        CHECK_EQ_INT(src->has_gt, 1);
        CHECK_NEAR(src->gt[0], 101985.0, 1e-6);
        CHECK_NEAR(src->gt[1], 300.037926675094809, 1e-9);
        CHECK_NEAR(src->gt[5], -300.041782729804993, 1e-9);
        CHECK_CONTAINS(src->wkt, "32618");
        CHECK_EQ_INT(src->n_keys, 3);
        CHECK_EQ_INT(src->keys[0].send_type, EEM_DT_UINT8);
        CHECK_EQ_INT(src->all_valid, 0); /* nodata 0 */

        /* Corner is nodata: masked and 0; the centre is valid data. */
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, -1, -1, 3, 3, &win, &err), EEM_OK);
        if (win) {
            int masked = 0;
            for (int i = 0; i < 9; i++)
                masked += win->mask[i] == 0;
            CHECK_EQ_INT(masked, 9);
        }
        eem_window_free(win);
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 395, 359, 2, 2, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[0] + win->mask[1] + win->mask[2] + win->mask[3], 4);
            double sum = 0;
            for (int k = 0; k < 3; k++)
                sum += at(win->keys[k], 0, 0, 0);
            CHECK(sum > 0);
        }
        eem_window_free(win);
        win = NULL;
        /* Level 1 of a Byte source: the right edge (791 is odd) is a 1-pixel block. */
        CHECK_EQ_INT(eem_source_read_window(src, 1, 390, 355, 10, 10, &win, &err), EEM_OK);
        if (win) {
            /* ceil(791/2) = 396 columns, ceil(718/2) = 359 rows. */
            CHECK_EQ_INT(win->mask[0 * 10 + 6], 0); /* column 396 is outside */
            CHECK_EQ_INT(win->mask[4 * 10 + 0], 0); /* row 359 is outside */
            CHECK_NEAR(at(win->keys[0], 0, 6, 0), 0, 0);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);

    snprintf(path, sizeof path, "%s/RGBA.uint16.tif", data_dir());
    spec = spec_new(path);
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->width, 634);
        CHECK_EQ_INT(src->height, 411);
        CHECK_EQ_INT(src->n_keys, 4);
        CHECK_EQ_INT(src->keys[3].send_type, EEM_DT_UINT16);
    }
    eem_source_close(src);
    spec_release(spec);

    /* No geotransform, no CRS. */
    GDALClose(make_tif("/vsimem/nogt.tif", 4, 3, 1, GDT_Byte, NULL, NULL));
    spec = spec_new("/vsimem/nogt.tif");
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->has_gt, 0);
        CHECK_NEAR(src->gt[0], 0, 0);
        CHECK_NEAR(src->gt[1], 1, 0);
        CHECK_NEAR(src->gt[5], 1, 0);
        CHECK(src->wkt && src->wkt[0] == '\0');
        CHECK_EQ_INT(src->width, 4);
        CHECK_EQ_INT(src->height, 3);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/nogt.tif");
}

static void test_windows_level0(void)
{
    GDALClose(make_tif("/vsimem/win.tif", 7, 5, 3, GDT_Float32, NULL, NULL));
    eem_error err = {0};
    eem_spec *spec = spec_new("/vsimem/win.tif");
    spec->input_array = dup_text("array");
    spec_add_band(spec, "3", NULL);
    spec_add_band(spec, "1", NULL);
    eem_source *src = open_or_report(spec, &err);
    if (!src) {
        spec_release(spec);
        return;
    }

    /* Inside, non-square: explicit (row, col, channel) checks. */
    eem_window *win = NULL;
    CHECK_EQ_INT(eem_source_read_window(src, 0, 1, 2, 4, 2, &win, &err), EEM_OK);
    if (win) {
        CHECK_EQ_INT(win->n_keys, 1);
        CHECK_EQ_INT(win->keys[0]->dims[0], 2);
        CHECK_EQ_INT(win->keys[0]->dims[1], 4);
        CHECK_EQ_INT(win->keys[0]->dims[2], 2);
        CHECK_NEAR(at(win->keys[0], 0, 0, 0), 3021, 0);
        CHECK_NEAR(at(win->keys[0], 1, 3, 0), 3034, 0);
        CHECK_NEAR(at(win->keys[0], 1, 3, 1), 1034, 0);
        CHECK_NEAR(at(win->keys[0], 0, 2, 1), 1023, 0);
        CHECK_EQ_INT(window_mismatches(src, win, 0), 0);
    }
    eem_window_free(win);

    /* Straddling each edge, all four at once, and fully outside. */
    const int windows[][4] = {
        {-2, 1, 4, 2}, {2, -3, 3, 4}, {5, 0, 4, 3}, {0, 4, 3, 3}, {-1, -1, 9, 7},
        {-3, -2, 20, 1}, {7, 0, 2, 2}, {-3, -3, 3, 3}, {0, 5, 1, 1}, {-100, 50, 6, 2},
    };
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, windows[i][0], windows[i][1], windows[i][2],
                                            windows[i][3], &win, &err),
                     EEM_OK);
        if (win)
            CHECK_EQ_INT(window_mismatches(src, win, 0), 0);
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);

    /* One key per band, send types converted by GDAL (uint16) and by dtype.c
     * (float16 via float32, int8 via int16). */
    spec = spec_new("/vsimem/win.tif");
    spec_add_type(spec, "b1", EEM_DT_FLOAT16);
    spec_add_type(spec, "b2", EEM_DT_UINT16);
    spec_add_type(spec, "b3", EEM_DT_INT8);
    src = open_or_report(spec, &err);
    if (src) {
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, -1, 1, 5, 3, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->n_keys, 3);
            CHECK_EQ_INT(win->keys[0]->type, EEM_DT_FLOAT16);
            CHECK_EQ_INT(win->keys[0]->dims[2], 1);
            CHECK_NEAR(at(win->keys[0], 2, 4, 0), 1033, 0);
            CHECK_NEAR(at(win->keys[0], 0, 0, 0), 0, 0);
            CHECK_NEAR(at(win->keys[1], 1, 2, 0), 2021, 0);
            CHECK_NEAR(at(win->keys[2], 1, 2, 0), 127, 0); /* 3021 clamped */
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/win.tif");

    /* Small values: int8 from int16 keeps negatives. */
    GDALDatasetH ds = make_tif("/vsimem/small.tif", 4, 3, 1, GDT_Int16, NULL, NULL);
    write_pixel(ds, 1, 1, 2, -77);
    GDALClose(ds);
    spec = spec_new("/vsimem/small.tif");
    spec_add_type(spec, NULL, EEM_DT_INT8);
    src = open_or_report(spec, &err);
    if (src) {
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 4, 3, &win, &err), EEM_OK);
        if (win) {
            CHECK_NEAR(at(win->keys[0], 1, 2, 0), -77, 0);
            CHECK_NEAR(at(win->keys[0], 0, 1, 0), 127, 0);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/small.tif");
}

/* Signed-byte GeoTIFF: bytes are int8 values. */
/* A reading that goes down the raster leaves only the block rows it still
 * needs in GDAL's block cache (source_blocks.h); one that goes back up reads
 * the dropped blocks again, with the same values. */
static void test_passed_blocks(void)
{
    char **co = CSLSetNameValue(NULL, "TILED", "YES");
    co = CSLSetNameValue(co, "BLOCKXSIZE", "64");
    co = CSLSetNameValue(co, "BLOCKYSIZE", "64");
    GDALClose(make_tif("/vsimem/passed.tif", 64, 512, 3, GDT_Float32, NULL, co));
    CSLDestroy(co);
    eem_error err = {0};
    eem_spec *spec = spec_new("/vsimem/passed.tif");
    eem_source *src = open_or_report(spec, &err);
    if (!src) {
        spec_release(spec);
        return;
    }
    const GIntBig block_row = 3 * 64 * 64 * 4; /* one row of blocks, every band */
    const GIntBig before = GDALGetCacheUsed64();
    GIntBig most = 0;
    int bad = 0;
    for (int y = 0; y < 512; y += 16) { /* 16-row tiles with 4 rows of overlap */
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, y - 4, 64, 24, &win, &err), EEM_OK);
        if (win)
            bad += window_mismatches(src, win, 0);
        eem_window_free(win);
        GIntBig used = GDALGetCacheUsed64() - before;
        most = used > most ? used : most;
    }
    CHECK_EQ_INT(bad, 0);
    /* at most the two block rows a window straddles (and GDAL's bookkeeping
     * of their blocks); without dropping, all 8 would stay cached */
    CHECK(most > 0);
    if (most >= 3 * block_row)
        fprintf(stderr, "cached: %lld bytes, %lld per block row\n", (long long)most,
                (long long)block_row);
    CHECK(most < 3 * block_row);
    eem_window *win = NULL;
    CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 64, 300, &win, &err), EEM_OK);
    if (win)
        CHECK_EQ_INT(window_mismatches(src, win, 0), 0);
    eem_window_free(win);
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/passed.tif");
}

static void test_signed_byte(void)
{
    char *options[] = {"PIXELTYPE=SIGNEDBYTE", NULL};
    GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), "/vsimem/sb.tif", 3, 2, 1, GDT_Byte, options);
    int8_t values[6] = {-128, -5, 0, 7, 100, 127};
    CHECK_EQ_INT(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, 3, 2, values, 3, 2, GDT_Byte, 0, 0),
                 CE_None);
    GDALClose(ds);
    eem_error err = {0};
    for (int pass = 0; pass < 2; pass++) {
        eem_spec *spec = spec_new("/vsimem/sb.tif");
        if (pass == 1)
            spec_add_type(spec, NULL, EEM_DT_FLOAT32);
        eem_source *src = open_or_report(spec, &err);
        if (src) {
            CHECK_EQ_INT(src->keys[0].send_type, pass ? EEM_DT_FLOAT32 : EEM_DT_INT8);
            eem_window *win = NULL;
            CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 3, 3, &win, &err), EEM_OK);
            if (win) {
                for (int i = 0; i < 6; i++)
                    CHECK_NEAR(at(win->keys[0], i / 3, i % 3, 0), values[i], 0);
                CHECK_NEAR(at(win->keys[0], 2, 1, 0), 0, 0);
                CHECK_EQ_INT(win->mask[7], 0);
            }
            eem_window_free(win);
        }
        eem_source_close(src);
        spec_release(spec);
    }
    VSIUnlink("/vsimem/sb.tif");
}

static void test_masks(void)
{
    eem_error err = {0};
    char *options[] = {NULL};
    GDALDatasetH ds = make_tif("/vsimem/nd.tif", 7, 5, 3, GDT_Float32, NULL, options);
    for (int b = 1; b <= 3; b++)
        GDALSetRasterNoDataValue(GDALGetRasterBand(ds, b), -9999);
    write_pixel(ds, 1, 1, 2, -9999);
    write_pixel(ds, 2, 3, 4, -9999);
    GDALClose(ds);

    /* Array of all three bands: a pixel is masked when any band is nodata. */
    eem_spec *spec = spec_new("/vsimem/nd.tif");
    spec->input_array = dup_text("array");
    eem_source *src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->all_valid, 0);
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 8, 5, &win, &err), EEM_OK);
        if (win) {
            int valid = 0;
            for (int i = 0; i < 40; i++)
                valid += win->mask[i];
            CHECK_EQ_INT(valid, 33); /* 35 inside minus 2 nodata */
            CHECK_EQ_INT(win->mask[1 * 8 + 2], 0);
            CHECK_EQ_INT(win->mask[3 * 8 + 4], 0);
            CHECK_EQ_INT(win->mask[1 * 8 + 7], 0); /* outside */
            CHECK_EQ_INT(win->mask[3 * 8 + 3], 1);
            for (int ch = 0; ch < 3; ch++) {
                CHECK_NEAR(at(win->keys[0], 1, 2, ch), 0, 0);
                CHECK_NEAR(at(win->keys[0], 3, 4, ch), 0, 0);
            }
            CHECK_NEAR(at(win->keys[0], 3, 3, 1), V(2, 3, 3), 0);
            CHECK_NEAR(at(win->keys[0], 1, 3, 0), V(1, 1, 3), 0);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);

    /* One tensor per band (Earth Engine's per-band masks): a band keeps its value
     * where only another band is masked; the window mask is the minimum. */
    spec = spec_new("/vsimem/nd.tif");
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->n_keys, 3);
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 8, 5, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[1 * 8 + 2], 0);
            CHECK_EQ_INT(win->mask[3 * 8 + 4], 0);
            CHECK_EQ_INT(win->mask[3 * 8 + 3], 1);
            CHECK_NEAR(at(win->keys[0], 1, 2, 0), 0, 0);         /* band 1 masked there */
            CHECK_NEAR(at(win->keys[1], 1, 2, 0), V(2, 1, 2), 0); /* band 2 is not */
            CHECK_NEAR(at(win->keys[2], 1, 2, 0), V(3, 1, 2), 0);
            CHECK_NEAR(at(win->keys[0], 3, 4, 0), V(1, 3, 4), 0);
            CHECK_NEAR(at(win->keys[1], 3, 4, 0), 0, 0);         /* band 2 masked there */
            CHECK_NEAR(at(win->keys[2], 3, 4, 0), V(3, 3, 4), 0);
            CHECK_NEAR(at(win->keys[0], 1, 7, 0), 0, 0);         /* outside: 0 everywhere */
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);

    /* Only band 3 selected: its nodata-free pixels are all valid. */
    spec = spec_new("/vsimem/nd.tif");
    spec_add_band(spec, "3", NULL);
    src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 7, 5, &win, &err), EEM_OK);
        if (win) {
            int valid = 0;
            for (int i = 0; i < 35; i++)
                valid += win->mask[i];
            CHECK_EQ_INT(valid, 35);
            CHECK_EQ_INT(window_mismatches(src, win, 0), 0);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/nd.tif");

    /* A per-dataset mask band. */
    ds = make_tif("/vsimem/msk.tif", 7, 5, 2, GDT_Int16, NULL, NULL);
    GDALCreateDatasetMaskBand(ds, GMF_PER_DATASET);
    GDALRasterBandH mb = GDALGetMaskBand(GDALGetRasterBand(ds, 1));
    uint8_t mask[35];
    memset(mask, 255, sizeof mask);
    mask[0] = 0;
    mask[4 * 7 + 6] = 0;
    CHECK_EQ_INT(GDALRasterIO(mb, GF_Write, 0, 0, 7, 5, mask, 7, 5, GDT_Byte, 0, 0), CE_None);
    GDALClose(ds);
    spec = spec_new("/vsimem/msk.tif");
    src = open_or_report(spec, &err);
    if (src) {
        CHECK_EQ_INT(src->all_valid, 0);
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 5, 3, 2, 2, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[0], 1);
            CHECK_EQ_INT(win->mask[3], 0);
            CHECK_NEAR(at(win->keys[1], 1, 1, 0), 0, 0);
            CHECK_NEAR(at(win->keys[1], 1, 0, 0), V(2, 4, 5), 0);
            CHECK_NEAR(at(win->keys[0], 0, 1, 0), V(1, 3, 6), 0);
        }
        eem_window_free(win);
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 1, 1, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[0], 0);
            CHECK_NEAR(at(win->keys[0], 0, 0, 0), 0, 0);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/msk.tif");
    VSIUnlink("/vsimem/msk.tif.msk");
}

static void test_levels(void)
{
    eem_error err = {0};
    /* Odd sizes: 7x5 → level 1 is 4x3 with a 1-pixel-wide last column/row. */
    GDALClose(make_tif("/vsimem/lvl.tif", 7, 5, 3, GDT_Float32, NULL, NULL));
    eem_spec *spec = spec_new("/vsimem/lvl.tif");
    spec->input_array = dup_text("array");
    spec_add_band(spec, "2", NULL);
    spec_add_band(spec, "3", NULL);
    eem_source *src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 1, 0, 0, 4, 3, &win, &err), EEM_OK);
        if (win) {
            CHECK_NEAR(at(win->keys[0], 0, 0, 0), 2005.5, 1e-4);  /* mean of 2000,2001,2010,2011 */
            CHECK_NEAR(at(win->keys[0], 1, 2, 1), 3029.5, 1e-4);  /* rows 2-3, cols 4-5 */
            CHECK_NEAR(at(win->keys[0], 0, 3, 0), 2011, 1e-4);    /* col 6 only, rows 0-1 */
            CHECK_NEAR(at(win->keys[0], 2, 1, 0), 2042.5, 1e-4);  /* row 4 only, cols 2-3 */
            CHECK_NEAR(at(win->keys[0], 2, 3, 1), 3046, 1e-4);    /* corner: one pixel */
            CHECK_EQ_INT(window_mismatches(src, win, 1), 0);
        }
        eem_window_free(win);

        const int windows[][5] = {
            {1, -1, -1, 6, 5}, {1, 3, 2, 2, 2}, {1, 2, 0, 1, 3}, {1, 4, 0, 2, 2},
            {2, 0, 0, 3, 3}, {2, -1, 1, 2, 2}, {3, 0, 0, 2, 2}, {5, -1, -1, 3, 3},
        };
        for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
            win = NULL;
            CHECK_EQ_INT(eem_source_read_window(src, windows[i][0], windows[i][1], windows[i][2],
                                                windows[i][3], windows[i][4], &win, &err),
                         EEM_OK);
            if (win)
                CHECK_EQ_INT(window_mismatches(src, win, windows[i][0]), 0);
            eem_window_free(win);
        }
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/lvl.tif");

    /* With nodata at level 1: the mask is GDAL's nearest pick inside each block,
     * and every masked value is 0. */
    GDALDatasetH ds = make_tif("/vsimem/lvlnd.tif", 8, 6, 1, GDT_Float32, NULL, NULL);
    GDALSetRasterNoDataValue(GDALGetRasterBand(ds, 1), -1);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 2; c++)
            write_pixel(ds, 1, r, c, -1);
    GDALClose(ds);
    spec = spec_new("/vsimem/lvlnd.tif");
    src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 1, 0, 0, 4, 3, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[0], 0);
            CHECK_NEAR(at(win->keys[0], 0, 0, 0), 0, 0);
            CHECK_EQ_INT(win->mask[1], 1);
            CHECK_NEAR(at(win->keys[0], 0, 1, 0), level_value(1, 0, 1, 1, 8, 6), 1e-4);
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/lvlnd.tif");

    /* The source's own overviews are used: overwrite the overview with 7777. */
    ds = make_tif("/vsimem/ovr.tif", 8, 6, 1, GDT_Float32, NULL, NULL);
    int factors[] = {2};
    CHECK_EQ_INT(GDALBuildOverviews(ds, "AVERAGE", 1, factors, 0, NULL, NULL, NULL), CE_None);
    GDALRasterBandH ovr = GDALGetOverview(GDALGetRasterBand(ds, 1), 0);
    CHECK(ovr != NULL);
    if (ovr) {
        float fill[12];
        for (int i = 0; i < 12; i++)
            fill[i] = 7777;
        CHECK_EQ_INT(GDALRasterIO(ovr, GF_Write, 0, 0, 4, 3, fill, 4, 3, GDT_Float32, 0, 0), CE_None);
    }
    GDALClose(ds);
    spec = spec_new("/vsimem/ovr.tif");
    src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 1, 1, 1, 2, 2, &win, &err), EEM_OK);
        if (win)
            CHECK_NEAR(at(win->keys[0], 1, 1, 0), 7777, 0);
        eem_window_free(win);
        win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 1, 1, 2, 2, &win, &err), EEM_OK);
        if (win)
            CHECK_NEAR(at(win->keys[0], 1, 1, 0), V(1, 2, 2), 0);
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/ovr.tif");
}

static void test_read_errors(void)
{
    eem_error err = {0};
    /* A VRT whose source file is missing opens, but its reads fail. */
    write_vsimem_text("/vsimem/broken.vrt",
                      "<VRTDataset rasterXSize=\"4\" rasterYSize=\"3\">"
                      "<VRTRasterBand dataType=\"Float32\" band=\"1\"><SimpleSource>"
                      "<SourceFilename>/vsimem/missing_source.tif</SourceFilename>"
                      "<SourceBand>1</SourceBand>"
                      "<SourceProperties RasterXSize=\"4\" RasterYSize=\"3\" DataType=\"Float32\" "
                      "BlockXSize=\"4\" BlockYSize=\"1\"/>"
                      "</SimpleSource></VRTRasterBand></VRTDataset>");
    eem_spec *spec = spec_new("/vsimem/broken.vrt");
    eem_source *src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = (eem_window *)1;
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 4, 3, &win, &err), EEM_ERR_IO);
        CHECK(win == NULL);
        CHECK_CONTAINS(err.msg, "band 1 of \"/vsimem/broken.vrt\"");
        CHECK_CONTAINS(err.msg, "No such file");
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/broken.vrt");

    /* Bad arguments. */
    GDALClose(make_tif("/vsimem/args.tif", 4, 3, 1, GDT_Float32, NULL, NULL));
    spec = spec_new("/vsimem/args.tif");
    src = open_or_report(spec, &err);
    if (src) {
        eem_window *win = NULL;
        CHECK_EQ_INT(eem_source_read_window(src, -1, 0, 0, 4, 3, &win, &err), EEM_ERR_INVALID);
        CHECK_EQ_INT(eem_source_read_window(src, 0, 0, 0, 0, 3, &win, &err), EEM_ERR_INVALID);
        CHECK_EQ_INT(eem_source_read_window(src, 31, 0, 0, 1, 1, &win, &err), EEM_ERR_INVALID);
        CHECK_CONTAINS(err.msg, "level 31");
        CHECK(win == NULL);
        /* A level far beyond the raster: one valid pixel averaging everything. */
        CHECK_EQ_INT(eem_source_read_window(src, 10, 0, 0, 2, 1, &win, &err), EEM_OK);
        if (win) {
            CHECK_EQ_INT(win->mask[0], 1);
            CHECK_EQ_INT(win->mask[1], 0);
            CHECK_NEAR(at(win->keys[0], 0, 0, 0), 1011.5, 1e-4); /* mean of all 4x3 pixels */
        }
        eem_window_free(win);
    }
    eem_source_close(src);
    spec_release(spec);
    VSIUnlink("/vsimem/args.tif");
}

int main(void)
{
    GDALAllRegister();
    test_open_errors();
    test_band_resolution();
    test_types();
    test_grid();
    test_windows_level0();
    test_passed_blocks();
    test_signed_byte();
    test_masks();
    test_levels();
    test_read_errors();
    GDALDestroyDriverManager();
    return check_report();
}
