/* eemodel_vector.h — the OGR side of the EEMODEL driver (EE
 * predictProperties): a read-only vector dataset with one layer, the source
 * layer's features each carrying the model's predicted fields.  The C core
 * (feature_model.h) builds instances, batches, sends and decodes; these
 * classes read the source layer (its filters applied there, before anything
 * is predicted), turn field values into core inputs, and core outputs into
 * OGR fields.
 *
 *   eemodel_vector.cpp        dataset, layer: reading, filters, counts
 *   eemodel_vector_fields.cpp output field definitions, inputs from fields,
 *                             outputs into fields */
#ifndef EEMODEL_VECTOR_H
#define EEMODEL_VECTOR_H

#include "gdal_priv.h"
#include "ogrsf_frmts.h"

extern "C" {
#include "feature_model.h"
#include "spec.h"
}

#include <deque>
#include <memory>
#include <vector>

/* Where one model output lands in the output feature definition. */
struct EEModelOutputField
{
    int output = 0;     /* index in spec->outputs */
    int field = 0;      /* first field index in the output definition */
    bool list = false;  /* one list field (else one field per value) */
    int values = 1;     /* values of the output */
    OGRFieldType type = OFTReal;
};

class EEModelVectorLayer final : public OGRLayer
{
    GDALDataset *m_srcDS;     /* owned by the dataset */
    OGRLayer *m_src;          /* layer of m_srcDS */
    eem_feature_model *m_model;
    OGRFeatureDefn *m_defn = nullptr;
    int m_srcFieldCount = 0;
    std::vector<int> m_inputFields;  /* source field index of each input */
    std::vector<bool> m_stringInputs; /* input sent as a scalar string */
    std::vector<EEModelOutputField> m_outputs;
    std::deque<OGRFeature *> m_ready; /* predicted, not yet returned */
    bool m_postFilter = false;       /* attribute filter on predicted fields */
    bool m_passChecked = false;      /* cost guard checked for this pass */
    bool m_sourceDone = false;
    long m_passSent = 0;             /* features sent to the model this pass */
    int m_nextBatch = 0;

    bool SetupFields(eem_error &err);
    bool CheckCost();
    bool FillBatch();
    bool Predict(std::vector<OGRFeature *> &src, std::vector<OGRFeature *> &out);
    bool InputsOf(OGRFeature *f, std::vector<double> &values, std::vector<size_t> &offsets,
                  std::vector<eem_feature_value> &in, size_t first);
    void ClearReady();

  public:
    EEModelVectorLayer(GDALDataset *srcDS, OGRLayer *src, eem_feature_model *model);
    ~EEModelVectorLayer() override;
    bool Init();

    void ResetReading() override;
    OGRFeature *GetNextFeature() override;
    OGRFeature *GetFeature(GIntBig nFID) override;
    OGRFeatureDefn *GetLayerDefn() override { return m_defn; }
    OGRSpatialReference *GetSpatialRef() override { return m_src->GetSpatialRef(); }
    GIntBig GetFeatureCount(int bForce) override;
    OGRErr GetExtent(OGREnvelope *psExtent, int bForce) override;
    OGRErr GetExtent(int iGeomField, OGREnvelope *psExtent, int bForce) override;
    OGRErr SetAttributeFilter(const char *pszQuery) override;
    void SetSpatialFilter(OGRGeometry *poGeom) override;
    void SetSpatialFilter(int iGeomField, OGRGeometry *poGeom) override;
    const char *GetFIDColumn() override { return m_src->GetFIDColumn(); }
    const char *GetGeometryColumn() override { return m_src->GetGeometryColumn(); }
    int TestCapability(const char *pszCap) override;
};

class EEModelVectorDataset final : public GDALDataset
{
    GDALDataset *m_srcDS = nullptr;
    eem_feature_model *m_model = nullptr;
    std::unique_ptr<EEModelVectorLayer> m_layer;

  public:
    ~EEModelVectorDataset() override;
    /* Open from a parsed descriptor with spec->vector set (spec is copied). */
    static GDALDataset *Open(const eem_spec *spec, const char *pszName);
    int GetLayerCount() override { return m_layer ? 1 : 0; }
    OGRLayer *GetLayer(int i) override { return i == 0 ? m_layer.get() : nullptr; }
    int TestCapability(const char *) override { return FALSE; }
};

#endif
