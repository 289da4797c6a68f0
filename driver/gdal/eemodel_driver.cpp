/* eemodel_driver.cpp — registration of the EEMODEL driver with GDAL (name,
 * capabilities, connection prefix, open options) and its Identify / Open:
 * the core parses the connection string and opens the predictor. */
#include "eemodel_probe.h" /* PROBE=YES, OVERLAP_MODE=BLEND */
#include "eemodel_dataset.h"
#include "eemodel_vector.h"

#include "cpl_string.h"
#include "gdal_priv.h"

extern "C" {
#include "notice.h"
}
#include <cstring>
#include <string>

extern "C" void CPL_DLL GDALRegister_EEMODEL();
extern "C" void CPL_DLL GDALRegisterMe();

int EEModelDataset::Identify(GDALOpenInfo *poOpenInfo)
{
    return eem_spec_identify(poOpenInfo->pszFilename);
}

GDALDataset *EEModelDataset::Open(GDALOpenInfo *poOpenInfo)
{
    if (!Identify(poOpenInfo))
        return nullptr;
    if (poOpenInfo->eAccess == GA_Update)
    {
        CPLError(CE_Failure, CPLE_NotSupported,
                 "EEMODEL: the driver is read-only; open without update access");
        return nullptr;
    }
    auto shared = std::make_shared<EEModelShared>();
    eem_error err{};
    /* ogr2ogr to GeoJSON asks every source for NATIVE_DATA=YES (OGR's native
     * data passthrough): nothing the driver has, so it is not a descriptor key */
    CPLStringList options;
    for (CSLConstList o = poOpenInfo->papszOpenOptions; o && *o; o++)
        if (!STARTS_WITH_CI(*o, "NATIVE_DATA="))
            options.AddString(*o);
    if (eem_spec_parse(poOpenInfo->pszFilename, options.List(), &shared->spec, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return nullptr;
    }
    /* OUTPUT_PROPERTIES (EE predictProperties) makes a vector layer,
     * OUTPUT_BANDS (predictImage) a raster */
    const bool wantRaster = (poOpenInfo->nOpenFlags & GDAL_OF_RASTER) != 0;
    const bool wantVector = (poOpenInfo->nOpenFlags & GDAL_OF_VECTOR) != 0;
    if (shared->spec->vector)
    {
        if (!wantVector)
        {
            CPLError(CE_Failure, CPLE_OpenFailed,
                     "EEMODEL: this descriptor has OUTPUT_PROPERTIES: it opens as a vector "
                     "layer (ogrinfo, ogr2ogr, gdal.OpenEx(..., gdal.OF_VECTOR))");
            return nullptr;
        }
        return EEModelVectorDataset::Open(shared->spec, poOpenInfo->pszFilename);
    }
    if (!wantRaster)
    {
        CPLError(CE_Failure, CPLE_OpenFailed,
                 "EEMODEL: this descriptor has OUTPUT_BANDS: it opens as a raster (gdalinfo, "
                 "gdal_translate); give OUTPUT_PROPERTIES and INPUT_PROPERTIES for a vector layer");
        return nullptr;
    }
    if (eem_predictor_open(shared->spec, &shared->predictor, &err) != EEM_OK ||
        eem_cost_check_payload(shared->predictor, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return nullptr;
    }
    auto *poDS = new EEModelDataset(shared, 0, nullptr);
    /* the description is shown and saved (gdalinfo, VRT SourceFilename, QGIS
     * projects): HEADERS values and URL secrets are redacted in it */
    const char *pszName = poOpenInfo->pszFilename;
    std::string osShown(eem_spec_name_for_display(pszName, nullptr, 0) + 1, '\0');
    eem_spec_name_for_display(pszName, &osShown[0], osShown.size());
    osShown.resize(strlen(osShown.c_str()));
    poDS->SetDescription(osShown.c_str());
    if (!EEModelOpenOverlapAndProbe(poDS, shared->spec, shared->predictor))
    {
        delete poDS;
        return nullptr;
    }
    /* statistics of an earlier run (PAM .aux.xml, persistent cache) */
    poDS->RecallStatistics();
    return poDS;
}

/* The core's notices (notice.h), as warnings in the calling thread. */
static void EEModelNotice(const char *pszMessage)
{
    CPLError(CE_Warning, CPLE_AppDefined, "EEMODEL: %s", pszMessage);
}

extern "C" void GDALRegister_EEMODEL()
{
    if (!GDAL_CHECK_VERSION("EEMODEL"))
        return;
    if (GDALGetDriverByName("EEMODEL") != nullptr)
        return;

    auto *poDriver = new GDALDriver();
    poDriver->SetDescription("EEMODEL");
    poDriver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    /* JSON descriptors and inputs are read through VSI (/vsimem/, /vsicurl/, ...) */
    poDriver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
    poDriver->SetMetadataItem(GDAL_DCAP_VECTOR, "YES");
    poDriver->SetMetadataItem(GDAL_DMD_LONGNAME, "Predictions of a hosted model (Earth Engine "
                                                 "ee.Model style)");
    poDriver->SetMetadataItem(GDAL_DMD_HELPTOPIC, "docs/eemodel.md");
    poDriver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, EEM_PREFIX);
    poDriver->SetMetadataItem(GDAL_DMD_EXTENSIONS, "eemodel.json");
    poDriver->SetMetadataItem(GDAL_DMD_OPENOPTIONLIST, eem_spec_open_option_list_xml());
    poDriver->pfnIdentify = EEModelDataset::Identify;
    poDriver->pfnOpen = EEModelDataset::Open;
    eem_notice_set_handler(EEModelNotice);
    GetGDALDriverManager()->RegisterDriver(poDriver);
}

extern "C" void GDALRegisterMe()
{
    GDALRegister_EEMODEL();
}
