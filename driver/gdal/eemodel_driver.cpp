/* eemodel_driver.cpp — registration of the EEMODEL driver with GDAL (name,
 * capabilities, connection prefix, open options) and its Identify / Open:
 * the core parses the connection string and opens the predictor. */
#include "eemodel_probe.h" /* PROBE=YES, OVERLAP_MODE=BLEND */
#include "eemodel_dataset.h"

#include "gdal_priv.h"

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
    if (eem_spec_parse(poOpenInfo->pszFilename, poOpenInfo->papszOpenOptions, &shared->spec,
                       &err) != EEM_OK ||
        eem_predictor_open(shared->spec, &shared->predictor, &err) != EEM_OK ||
        eem_cost_check_payload(shared->predictor, &err) != EEM_OK)
    {
        EEModelReportCoreError(err);
        return nullptr;
    }
    auto *poDS = new EEModelDataset(shared, 0, nullptr);
    poDS->SetDescription(poOpenInfo->pszFilename);
    if (!EEModelOpenOverlapAndProbe(poDS, shared->spec, shared->predictor))
    {
        delete poDS;
        return nullptr;
    }
    return poDS;
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
    poDriver->SetMetadataItem(GDAL_DMD_LONGNAME, "Predictions of a hosted model (Earth Engine "
                                                 "ee.Model style)");
    poDriver->SetMetadataItem(GDAL_DMD_HELPTOPIC, "docs/eemodel.md");
    poDriver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, EEM_PREFIX);
    poDriver->SetMetadataItem(GDAL_DMD_EXTENSIONS, "eemodel.json");
    poDriver->SetMetadataItem(GDAL_DMD_OPENOPTIONLIST, eem_spec_open_option_list_xml());
    poDriver->pfnIdentify = EEModelDataset::Identify;
    poDriver->pfnOpen = EEModelDataset::Open;
    GetGDALDriverManager()->RegisterDriver(poDriver);
}

extern "C" void GDALRegisterMe()
{
    GDALRegister_EEMODEL();
}
