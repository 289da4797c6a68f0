/* eemodel_driver.cpp — registration of the EEMODEL driver with GDAL: name,
 * capabilities, connection prefix, open options, Identify/Open. */
#include "eemodel_dataset.h"

#include "gdal_priv.h"

extern "C" void CPL_DLL GDALRegister_EEMODEL();
extern "C" void CPL_DLL GDALRegisterMe();

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
