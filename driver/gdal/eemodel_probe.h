/* eemodel_probe.h — PROBE=YES at open: run the core probe (probe.c) and put
 * its findings into the dataset's metadata. */
#ifndef EEMODEL_PROBE_H
#define EEMODEL_PROBE_H

#include "gdal_priv.h"

extern "C" {
#include "predictor.h"
}

/* Runs the probe; on failure reports the core error (CPLError) and returns false. */
bool EEModelProbe(GDALDataset *poDS, eem_predictor *pred);

#endif
