/* tile_origin.c — the global tile lattice: TILE_ORIGIN parsing and the snap
 * of a grid's corner onto it (see tile_origin.h). */
#include "tile_origin.h"
#include "str.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A corner this close (in tiles or pixels) to a lattice point is on it: the
 * corners come from decimal text and products of doubles. */
#define EEM_TILE_ORIGIN_TOLERANCE 1e-9

static int parse_one(const char *s, char **end, double *v)
{
    errno = 0;
    *v = strtod(s, end);
    return *end != s && errno == 0 && isfinite(*v);
}

eem_status eem_tile_origin_parse(const char *text, eem_tile_origin_mode *mode, double *x,
                                 double *y, eem_error *err)
{
    const char *accepted = "accepted: X,Y (two numbers in the model grid's CRS, e.g. 0,0) or "
                           "SCENE (tiles start at the scene's own corner)";
    if (!text)
        text = "";
    if (eem_str_equal_ignoring_case(text, "SCENE")) {
        *mode = EEM_TILE_ORIGIN_SCENE;
        *x = *y = 0;
        return EEM_OK;
    }
    char *end = NULL;
    double a = 0, b = 0;
    int ok = parse_one(text, &end, &a);
    if (ok) {
        while (*end == ' ')
            end++;
        ok = *end == ',';
    }
    if (ok)
        ok = parse_one(end + 1, &end, &b);
    if (ok) {
        while (*end == ' ')
            end++;
        ok = *end == '\0';
    }
    if (!ok)
        return eem_error_set(err, EEM_ERR_INVALID, "TILE_ORIGIN: \"%.120s\" is not a point; %s",
                             text, accepted);
    *mode = EEM_TILE_ORIGIN_AT;
    *x = a;
    *y = b;
    return EEM_OK;
}

int eem_tile_origin_applies(eem_tile_origin_mode mode, double scale)
{
    return mode == EEM_TILE_ORIGIN_AT || (mode == EEM_TILE_ORIGIN_DEFAULT && scale > 0);
}

/* floor(v), counting v within the tolerance below an integer as that integer */
static double floor_tolerant(double v)
{
    return floor(v + EEM_TILE_ORIGIN_TOLERANCE);
}

void eem_tile_origin_snap(double ox, double oy, double px, double py, int tw, int th, double x0,
                          double y0, double *sx, double *sy)
{
    double step_x = (double)tw * px, step_y = (double)th * -py;
    *sx = ox + floor_tolerant((x0 - ox) / step_x) * step_x;
    /* north-up: the top edge moves up, to the next lattice row at or above y0 */
    *sy = oy - floor_tolerant((oy - y0) / step_y) * step_y;
}

int eem_tile_origin_on_pixel_lattice(double origin, double px, double x0)
{
    double k = (x0 - origin) / px;
    return fabs(k - floor(k + 0.5)) <= 1e-6;
}
