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

/* Runs the probe; on failure reports the core error (CPLError) and returns false. */
bool EEModelProbe(GDALDataset *poDS, eem_predictor *pred);

#endif
