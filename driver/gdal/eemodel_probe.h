/* eemodel_probe.h — PROBE=YES at open: run the core probe (probe.c) and put
 * its findings into the dataset's metadata.  Also brings the core's
 * OVERLAP_MODE=BLEND interface (blend.h) to the glue that selects it. */
#ifndef EEMODEL_PROBE_H
#define EEMODEL_PROBE_H

#include "gdal_priv.h"

extern "C" {
#include "blend.h"
#include "predictor.h"
}

/* At open: OVERLAP_MODE=BLEND's tile-size check, then PROBE=YES when asked;
 * on failure reports the core error (CPLError) and returns false. */
bool EEModelOpenOverlapAndProbe(GDALDataset *poDS, const eem_spec *spec, eem_predictor *pred);

#endif
