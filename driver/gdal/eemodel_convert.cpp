/* eemodel_convert.cpp — the core in GDAL's terms: output data types as
 * GDALDataType, core errors (eem_error) as CPLError. */
#include "eemodel_dataset.h"

#include "cpl_error.h"

GDALDataType EEModelGDALType(eem_dtype t)
{
    switch (t)
    {
        case EEM_DT_UINT8:
        case EEM_DT_INT8:
            return GDT_Byte;
        case EEM_DT_UINT16:
            return GDT_UInt16;
        case EEM_DT_INT16:
            return GDT_Int16;
        case EEM_DT_UINT32:
            return GDT_UInt32;
        case EEM_DT_INT32:
            return GDT_Int32;
        case EEM_DT_UINT64:
            return GDT_UInt64;
        case EEM_DT_INT64:
            return GDT_Int64;
        case EEM_DT_FLOAT64:
            return GDT_Float64;
        default:
            return GDT_Float32;
    }
}

void EEModelReportCoreError(const eem_error &err)
{
    CPLErrorNum num = CPLE_AppDefined;
    switch (err.status)
    {
        case EEM_ERR_INVALID:
            num = CPLE_IllegalArg;
            break;
        case EEM_ERR_IO:
        case EEM_ERR_HTTP:
            num = CPLE_FileIO;
            break;
        case EEM_ERR_NOMEM:
            num = CPLE_OutOfMemory;
            break;
        case EEM_ERR_CANCELLED:
            num = CPLE_UserInterrupt;
            break;
        default:
            break;
    }
    CPLError(CE_Failure, num, "EEMODEL: %s", err.msg);
}

CPLErr EEModelFail(const eem_error &err)
{
    EEModelReportCoreError(err);
    return CE_Failure;
}

CPLErr EEModelReadOnlyError()
{
    CPLError(CE_Failure, CPLE_NotSupported, "EEMODEL: the driver is read-only");
    return CE_Failure;
}
