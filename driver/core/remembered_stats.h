/* remembered_stats.h — band statistics remembered across runs: the identity
 * they belong to (everything that shapes the raster's pixels, hashed) and
 * their entry in the persistent cache.  The GDAL glue keeps them in a PAM
 * .aux.xml as well (eemodel_remembered_stats.cpp); statistics of another
 * model, endpoint, output layout, geometry or nodata never match. */
#ifndef EEM_REMEMBERED_STATS_H
#define EEM_REMEMBERED_STATS_H

#include "cache.h"
#include "error.h"
#include "spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One set of band statistics (GDAL's STATISTICS_* items). */
typedef struct eem_band_stats {
    int has; /* 0: none remembered */
    double min, max, mean, stddev;
    double valid_percent; /* < 0: not known */
} eem_band_stats;

/* What one band remembers: exact statistics and approximate ones (those of the
 * sample overview GDAL picks) apart, so that neither hides the other. */
typedef struct eem_band_stats_pair {
    eem_band_stats exact, approx;
} eem_band_stats_pair;

/* The hex SHA-256 (64 characters and a NUL into hex) of what shapes the
 * pixels of the raster spec opens: the model (CACHE_KEY when set, else the
 * protocol, project, model, version, region, endpoint, URL, API root and
 * static headers — hashed, never written), payload format, signature,
 * outputs, input and its bands, geometry (PROJ, SCALE, RESAMPLING, tile
 * origin and sizes, overlap, FIX_INPUT_PROJ, OVERLAP_MODE) and NODATA, with
 * extra (the glue's raster size, geotransform and the input file's size and
 * time; may be NULL). */
eem_status eem_remembered_stats_digest(const eem_spec *spec, const char *extra, char hex[65],
                                       eem_error *err);

/* Look the n bands' statistics of digest up in the cache: 1 and pairs
 * filled on a hit, 0 when absent or unusable. */
int eem_remembered_stats_get(eem_cache *c, const char *digest, eem_band_stats_pair *pairs, int n);

/* Store the n bands' statistics of digest in the cache (replacing any). */
eem_status eem_remembered_stats_put(eem_cache *c, const char *digest,
                                    const eem_band_stats_pair *pairs, int n, eem_error *err);

#ifdef __cplusplus
}
#endif
#endif
