/* eemodel_vector.cpp — the EEMODEL vector dataset and its layer (see
 * eemodel_vector.h): the source layer read in batches with its attribute and
 * spatial filters set on it, so only features that pass are predicted; the
 * cost guard (MAX_PREDICTIONS features per read pass) checked before the
 * first request of a pass; NULL_INPUT=SKIP features left out. */
#include "eemodel_vector.h"

#include "cpl_string.h"

#include <algorithm>

void EEModelReportCoreError(const eem_error &err);
OGRFeature *EEModelVectorLayerOutput(OGRFeatureDefn *defn, OGRFeature *src, int srcFieldCount,
                                     const std::vector<EEModelOutputField> &outputs,
                                     const double *values, bool predicted);

/* Read-ahead: the first batch of a pass is small (a reader wanting a few
 * features pays for a few), later ones grow to the largest. */
static constexpr int kFirstBatch = 16;
static constexpr int kLargestBatch = 256;

EEModelVectorLayer::EEModelVectorLayer(GDALDataset *srcDS, OGRLayer *src,
                                       eem_feature_model *model)
    : m_srcDS(srcDS), m_src(src), m_model(model)
{
}

EEModelVectorLayer::~EEModelVectorLayer()
{
    ClearReady();
    if (m_defn)
        m_defn->Release();
}

bool EEModelVectorLayer::Init()
{
    eem_error err{};
    if (!SetupFields(err))
    {
        EEModelReportCoreError(err);
        return false;
    }
    SetDescription(m_defn->GetName());
    ResetReading();
    return true;
}

void EEModelVectorLayer::ClearReady()
{
    for (auto *f : m_ready)
        delete f;
    m_ready.clear();
}

void EEModelVectorLayer::ResetReading()
{
    ClearReady();
    m_src->ResetReading();
    m_passChecked = false;
    m_sourceDone = false;
    m_passSent = 0;
    m_nextBatch = kFirstBatch;
}

/* Before the first request of a pass: the features this pass would send
 * (source features passing the filters) must not exceed MAX_PREDICTIONS. */
bool EEModelVectorLayer::CheckCost()
{
    if (m_passChecked)
        return true;
    m_passChecked = true;
    long limit = eem_feature_model_max_predictions(m_model);
    GIntBig n = m_src->GetFeatureCount(TRUE);
    m_src->ResetReading();
    if (n > limit)
    {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "EEMODEL: MAX_PREDICTIONS: reading layer \"%s\" would predict " CPL_FRMT_GIB
                 " features, more than the limit of %ld; set an attribute or spatial filter "
                 "(ogr2ogr -where / -spat), or raise MAX_PREDICTIONS (open option) or "
                 "EEMODEL_MAX_PREDICTIONS (config option)",
                 m_defn->GetName(), n, limit);
        return false;
    }
    return true;
}

bool EEModelVectorLayer::Predict(std::vector<OGRFeature *> &src, std::vector<OGRFeature *> &out)
{
    const int ni = eem_feature_model_input_count(m_model);
    const int nv = eem_feature_model_value_count(m_model);
    const size_t n = src.size();
    std::vector<double> values;
    std::vector<eem_feature_value> in(n * ni);
    std::vector<size_t> offsets(n * ni);
    std::vector<long long> fids(n);
    for (size_t f = 0; f < n; f++)
    {
        fids[f] = src[f]->GetFID();
        if (!InputsOf(src[f], values, offsets, in, f * ni))
            return false;
    }
    for (size_t k = 0; k < in.size(); k++) /* values no longer grows */
        in[k].values = values.data() + offsets[k];
    long limit = eem_feature_model_max_predictions(m_model);
    long sending = 0;
    for (size_t f = 0; f < n; f++)
    {
        bool null = false;
        for (int k = 0; k < ni; k++)
            null |= in[f * ni + k].is_null != 0;
        sending += !null;
    }
    if (m_passSent + sending > limit)
    {
        CPLError(CE_Failure, CPLE_AppDefined,
                 "EEMODEL: MAX_PREDICTIONS: this read of layer \"%s\" would predict more than "
                 "%ld features; set a filter or raise MAX_PREDICTIONS",
                 m_defn->GetName(), limit);
        return false;
    }
    m_passSent += sending;
    std::vector<double> outputs(n * static_cast<size_t>(nv > 0 ? nv : 1));
    std::vector<eem_feature_result> results(n);
    eem_error err{};
    if (eem_feature_model_predict(m_model, static_cast<int>(n), fids.data(), in.data(),
                                  outputs.data(), results.data(), nullptr, nullptr,
                                  &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return false;
    }
    int failed = 0;
    for (size_t f = 0; f < n; f++)
    {
        failed += results[f] == EEM_FEATURE_FAILED;
        if (results[f] == EEM_FEATURE_SKIPPED)
            continue;
        out.push_back(EEModelVectorLayerOutput(m_defn, src[f], m_srcFieldCount, m_outputs,
                                               outputs.data() + f * nv,
                                               results[f] == EEM_FEATURE_PREDICTED));
    }
    if (failed > 0)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "EEMODEL: %d feature(s) of layer \"%s\" have null predicted fields "
                 "(ON_ERROR=NODATA): %s",
                 failed, m_defn->GetName(), eem_feature_model_last_failure(m_model));
    return true;
}

/* Read the next batch of source features (filters applied by the source)
 * and predict them into m_ready. */
bool EEModelVectorLayer::FillBatch()
{
    if (m_sourceDone)
        return true;
    if (!CheckCost())
        return false;
    std::vector<OGRFeature *> src;
    while (static_cast<int>(src.size()) < m_nextBatch)
    {
        OGRFeature *f = m_src->GetNextFeature();
        if (!f)
        {
            m_sourceDone = true;
            break;
        }
        src.push_back(f);
    }
    m_nextBatch = std::min(2 * m_nextBatch, kLargestBatch);
    std::vector<OGRFeature *> out;
    bool ok = src.empty() || Predict(src, out);
    for (auto *f : src)
        delete f;
    for (auto *f : out)
        m_ready.push_back(f);
    if (!ok)
        m_sourceDone = true; /* the error is reported; the read ends here */
    return ok;
}

OGRFeature *EEModelVectorLayer::GetNextFeature()
{
    for (;;)
    {
        while (m_ready.empty())
        {
            if (m_sourceDone || !FillBatch())
                return nullptr;
            if (m_ready.empty() && m_sourceDone)
                return nullptr;
        }
        OGRFeature *f = m_ready.front();
        m_ready.pop_front();
        if (!m_postFilter || !m_poAttrQuery || m_poAttrQuery->Evaluate(f))
            return f;
        delete f;
    }
}

OGRFeature *EEModelVectorLayer::GetFeature(GIntBig nFID)
{
    OGRFeature *f = m_src->GetFeature(nFID);
    if (!f)
        return nullptr;
    std::vector<OGRFeature *> src{f}, out;
    long saved = m_passSent;
    m_passSent = 0; /* one feature: its own read */
    bool ok = Predict(src, out);
    m_passSent = saved;
    delete f;
    if (!ok || out.empty())
        return nullptr;
    return out[0];
}

GIntBig EEModelVectorLayer::GetFeatureCount(int bForce)
{
    const eem_spec *spec = eem_feature_model_spec(m_model);
    if (m_postFilter)
        return OGRLayer::GetFeatureCount(bForce); /* predicts: the filter needs predictions */
    if (spec->null_input != EEM_NULL_INPUT_SKIP)
        return m_src->GetFeatureCount(bForce);
    /* SKIP: count the source features with every input set, predicting nothing */
    GIntBig n = 0;
    m_src->ResetReading();
    while (OGRFeature *f = m_src->GetNextFeature())
    {
        bool null = false;
        for (int i : m_inputFields)
            null |= !f->IsFieldSetAndNotNull(i);
        n += !null;
        delete f;
    }
    ResetReading();
    return n;
}

OGRErr EEModelVectorLayer::GetExtent(OGREnvelope *psExtent, int bForce)
{
    return m_src->GetExtent(psExtent, bForce);
}

OGRErr EEModelVectorLayer::GetExtent(int iGeomField, OGREnvelope *psExtent, int bForce)
{
    return m_src->GetExtent(iGeomField, psExtent, bForce);
}

/* A filter on source fields runs in the source, before prediction; one that
 * names a predicted field is evaluated on predicted features (every feature
 * passing the spatial filter is then predicted). */
OGRErr EEModelVectorLayer::SetAttributeFilter(const char *pszQuery)
{
    ResetReading();
    m_postFilter = false;
    OGRLayer::SetAttributeFilter(nullptr);
    if (!pszQuery || !*pszQuery)
        return m_src->SetAttributeFilter(nullptr);
    bool sourceOnly;
    {
        /* does the query name only source fields? (a source may accept any
         * query text and fail only when read, as GeoPackage does) */
        CPLErrorStateBackuper state;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        OGRFeatureQuery query;
        sourceOnly = query.Compile(m_src->GetLayerDefn(), pszQuery) == OGRERR_NONE;
        CPLPopErrorHandler();
    }
    if (sourceOnly)
        return m_src->SetAttributeFilter(pszQuery);
    m_src->SetAttributeFilter(nullptr);
    OGRErr e = OGRLayer::SetAttributeFilter(pszQuery);
    m_postFilter = e == OGRERR_NONE;
    return e;
}

void EEModelVectorLayer::SetSpatialFilter(OGRGeometry *poGeom)
{
    SetSpatialFilter(0, poGeom);
}

void EEModelVectorLayer::SetSpatialFilter(int iGeomField, OGRGeometry *poGeom)
{
    ResetReading();
    /* kept here too, so GetSpatialFilter() answers; the source applies it */
    InstallFilter(poGeom);
    m_iGeomFieldFilter = iGeomField;
    m_src->SetSpatialFilter(iGeomField, poGeom);
}

int EEModelVectorLayer::TestCapability(const char *pszCap)
{
    if (EQUAL(pszCap, OLCFastFeatureCount))
        return !m_postFilter &&
               eem_feature_model_spec(m_model)->null_input != EEM_NULL_INPUT_SKIP &&
               m_src->TestCapability(pszCap);
    if (EQUAL(pszCap, OLCRandomRead) || EQUAL(pszCap, OLCFastSpatialFilter) ||
        EQUAL(pszCap, OLCFastGetExtent) || EQUAL(pszCap, OLCStringsAsUTF8))
        return m_src->TestCapability(pszCap);
    return FALSE;
}

/* ---------------------------------------------------------------- dataset -- */

EEModelVectorDataset::~EEModelVectorDataset()
{
    m_layer.reset();
    eem_feature_model_close(m_model);
    if (m_srcDS)
        GDALClose(m_srcDS);
}

GDALDataset *EEModelVectorDataset::Open(const eem_spec *spec, const char *pszName)
{
    auto ds = std::make_unique<EEModelVectorDataset>();
    ds->m_srcDS = GDALDataset::Open(spec->input, GDAL_OF_VECTOR | GDAL_OF_READONLY |
                                                     GDAL_OF_VERBOSE_ERROR);
    if (!ds->m_srcDS)
    {
        CPLError(CE_Failure, CPLE_OpenFailed,
                 "EEMODEL: INPUT: \"%s\" does not open as a vector dataset (OUTPUT_PROPERTIES "
                 "makes INPUT a vector source, EE predictProperties)",
                 spec->input);
        return nullptr;
    }
    OGRLayer *src = nullptr;
    if (spec->layer)
    {
        src = ds->m_srcDS->GetLayerByName(spec->layer);
        if (!src)
        {
            CPLString names;
            for (int i = 0; i < ds->m_srcDS->GetLayerCount(); i++)
                names += CPLString(i ? ", " : "") + ds->m_srcDS->GetLayer(i)->GetName();
            CPLError(CE_Failure, CPLE_IllegalArg,
                     "EEMODEL: LAYER: \"%s\" is not a layer of INPUT (layers: %s)", spec->layer,
                     names.c_str());
            return nullptr;
        }
    }
    else
    {
        if (ds->m_srcDS->GetLayerCount() < 1)
        {
            CPLError(CE_Failure, CPLE_IllegalArg, "EEMODEL: INPUT \"%s\" has no layer",
                     spec->input);
            return nullptr;
        }
        src = ds->m_srcDS->GetLayer(0);
    }
    eem_error err{};
    if (eem_feature_model_open(spec, &ds->m_model, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return nullptr;
    }
    ds->m_layer = std::make_unique<EEModelVectorLayer>(ds->m_srcDS, src, ds->m_model);
    if (!ds->m_layer->Init())
        return nullptr;
    ds->SetDescription(pszName);
    return ds.release();
}
