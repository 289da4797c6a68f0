/* eemodel_probe.cpp — issue 17 glue at open: OVERLAP_MODE=BLEND's check
 * (core blend.c) and PROBE=YES: the core measures (probe.c), this file only
 * copies its report into the metadata: readable lines in the default domain
 * (plain gdalinfo shows them), numbers in the EEMODEL domain. */
#include "eemodel_probe.h"

#include "eemodel_dataset.h"

extern "C" {
#include "probe.h"
}

static void EEModelProbeEmit(void *user, const char *domain, const char *key, const char *value)
{
    static_cast<GDALDataset *>(user)->SetMetadataItem(key, value, domain);
}

bool EEModelOpenOverlapAndProbe(GDALDataset *poDS, const eem_spec *spec, eem_predictor *pred)
{
    eem_probe_result result{};
    eem_error err{};
    if (spec->overlap_mode == EEM_OVERLAP_BLEND &&
        eem_blend_check(eem_predictor_grid(pred, 0), &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return false;
    }
    if (!spec->probe)
        return true;
    eem_probe_plan plan{};
    if (eem_probe_plan_of(pred, &plan, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return false;
    }
    CPLDebug("EEMODEL", "PROBE=YES: %lld predictions of tile (%d,%d) and its neighbours in %lld "
             "requests, about %lld request bytes",
             plan.predictions, plan.tx, plan.ty, plan.requests, plan.request_bytes);
    if (eem_probe_run(pred, &result, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return false;
    }
    eem_probe_report(pred, &result, EEModelProbeEmit, poDS);
    eem_probe_result_clear(&result);
    return true;
}
