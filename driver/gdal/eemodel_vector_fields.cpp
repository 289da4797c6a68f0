/* eemodel_vector_fields.cpp — fields of the EEMODEL vector layer: the output
 * definition (source fields, then one field per scalar output, one list field
 * per dims-1 output given a length, one field per name of a dims-1 output
 * given names), and the conversion of source field values to core inputs. */
#include "eemodel_vector.h"

#include "cpl_string.h"

#include <cmath>
#include <cstdlib>

void EEModelReportCoreError(const eem_error &err);

static OGRFieldType ScalarFieldType(const eem_output &o, OGRFieldSubType &sub)
{
    sub = OFSTNone;
    if (o.boolean)
    {
        sub = OFSTBoolean;
        return OFTInteger;
    }
    switch (o.type)
    {
        case EEM_DT_UINT8:
        case EEM_DT_INT8:
        case EEM_DT_UINT16:
        case EEM_DT_INT16:
        case EEM_DT_INT32:
            return OFTInteger;
        case EEM_DT_UINT32:
        case EEM_DT_INT64:
        case EEM_DT_UINT64:
            return OFTInteger64;
        case EEM_DT_FLOAT32:
        case EEM_DT_FLOAT16:
        case EEM_DT_BFLOAT16:
            sub = OFSTFloat32;
            return OFTReal;
        default:
            return OFTReal;
    }
}

static OGRFieldType ListOf(OGRFieldType t)
{
    return t == OFTInteger ? OFTIntegerList : t == OFTInteger64 ? OFTInteger64List : OFTRealList;
}

bool EEModelVectorLayer::SetupFields(eem_error &err)
{
    OGRFeatureDefn *src = m_src->GetLayerDefn();
    m_defn = src->Clone();
    m_defn->SetName(m_src->GetName());
    m_defn->Reference();
    m_srcFieldCount = src->GetFieldCount();
    const eem_spec *spec = eem_feature_model_spec(m_model);

    for (int k = 0; k < eem_feature_model_input_count(m_model); k++)
    {
        const char *name = eem_feature_model_input_name(m_model, k);
        int i = src->GetFieldIndex(name);
        if (i < 0)
        {
            CPLString fields;
            for (int j = 0; j < src->GetFieldCount(); j++)
                fields += CPLString(j ? ", " : "") + src->GetFieldDefn(j)->GetNameRef();
            eem_error_set(&err, EEM_ERR_INVALID,
                          "INPUT_PROPERTIES: \"%s\" is not a field of layer \"%s\" (fields: %s)",
                          name, m_src->GetName(), fields.c_str());
            return false;
        }
        OGRFieldType t = src->GetFieldDefn(i)->GetType();
        if (t != OFTInteger && t != OFTInteger64 && t != OFTReal && t != OFTIntegerList &&
            t != OFTInteger64List && t != OFTRealList && t != OFTString)
        {
            eem_error_set(&err, EEM_ERR_INVALID,
                          "INPUT_PROPERTIES: field \"%s\" is of type %s; accepted: integer, "
                          "real, boolean, their lists, or strings holding numbers",
                          name, OGRFieldDefn::GetFieldTypeName(t));
            return false;
        }
        m_inputFields.push_back(i);
        /* a string field is a scalar string input, unless INPUT_TYPE says which
         * number it holds (EE: inputTypeOverride) */
        bool typed = false;
        for (int o = 0; o < spec->n_input_types; o++)
            typed |= !spec->input_types[o].key || EQUAL(spec->input_types[o].key, name);
        m_stringInputs.push_back(t == OFTString && !typed);
        if (m_stringInputs.back() && eem_feature_model_set_string_input(m_model, k, &err) != EEM_OK)
            return false;
    }

    for (int k = 0; k < spec->n_outputs; k++)
    {
        const eem_output &o = spec->outputs[k];
        EEModelOutputField of;
        of.output = k;
        of.field = m_defn->GetFieldCount();
        of.values = o.dims == 1 ? o.length : 1;
        OGRFieldSubType sub;
        of.type = ScalarFieldType(o, sub);
        of.list = o.dims == 1 && !o.names;
        std::vector<CPLString> names;
        if (o.dims == 1 && o.names)
            for (int c = 0; c < o.length; c++)
                names.push_back(o.names[c]);
        else
            names.push_back(o.name);
        for (const auto &n : names)
        {
            if (m_defn->GetFieldIndex(n) >= 0)
            {
                eem_error_set(&err, EEM_ERR_INVALID,
                              "OUTPUT_PROPERTIES: \"%s\" is already a field of layer \"%s\"; "
                              "give the predicted property another name",
                              n.c_str(), m_src->GetName());
                return false;
            }
            OGRFieldDefn fd(n, of.list ? ListOf(of.type) : of.type);
            fd.SetSubType(sub);
            m_defn->AddFieldDefn(&fd);
        }
        m_outputs.push_back(of);
    }
    return true;
}

/* Append feature f's inputs: values into `values` (doubles), one
 * eem_feature_value per input into in[first..] and the offset of its first
 * value into offsets[first..]; the caller points each value into `values`
 * once it stops growing. */
bool EEModelVectorLayer::InputsOf(OGRFeature *f, std::vector<double> &values,
                                  std::vector<size_t> &offsets,
                                  std::vector<eem_feature_value> &in, size_t first)
{
    for (size_t k = 0; k < m_inputFields.size(); k++)
    {
        int i = m_inputFields[k];
        eem_feature_value &v = in[first + k];
        v = eem_feature_value{};
        offsets[first + k] = values.size();
        if (!f->IsFieldSetAndNotNull(i))
        {
            v.is_null = 1;
            continue;
        }
        switch (f->GetFieldDefnRef(i)->GetType())
        {
            case OFTIntegerList:
            case OFTInteger64List:
            case OFTRealList:
            {
                int n = 0;
                const double *d = nullptr;
                std::vector<double> tmp;
                if (f->GetFieldDefnRef(i)->GetType() == OFTRealList)
                    d = f->GetFieldAsDoubleList(i, &n);
                else if (f->GetFieldDefnRef(i)->GetType() == OFTIntegerList)
                {
                    const int *l = f->GetFieldAsIntegerList(i, &n);
                    for (int j = 0; j < n; j++)
                        tmp.push_back(static_cast<double>(l[j]));
                    d = tmp.data();
                }
                else
                {
                    const GIntBig *l = f->GetFieldAsInteger64List(i, &n);
                    for (int j = 0; j < n; j++)
                        tmp.push_back(static_cast<double>(l[j]));
                    d = tmp.data();
                }
                v.is_list = 1;
                v.n = n;
                values.insert(values.end(), d, d + n);
                break;
            }
            case OFTString:
            {
                const char *s = f->GetFieldAsString(i);
                if (m_stringInputs[k])
                {
                    v.n = 1;
                    v.text = s; /* lives as long as the source feature */
                    break;
                }
                char *end = nullptr;
                double d = CPLStrtod(s, &end);
                while (end && *end == ' ')
                    end++;
                if (end == s || !end || *end)
                {
                    CPLError(CE_Failure, CPLE_AppDefined,
                             "EEMODEL: feature " CPL_FRMT_GIB ": property \"%s\" is \"%.80s\", "
                             "not a number (INPUT_TYPE gives it a numeric type)",
                             f->GetFID(), f->GetFieldDefnRef(i)->GetNameRef(), s);
                    return false;
                }
                v.n = 1;
                values.push_back(d);
                break;
            }
            case OFTInteger64:
            case OFTInteger:
                v.n = 1;
                values.push_back(static_cast<double>(f->GetFieldAsInteger64(i)));
                break;
            default:
                v.n = 1;
                values.push_back(f->GetFieldAsDouble(i));
                break;
        }
    }
    return true;
}

/* Output feature: the source feature (FID, geometry, fields) plus the
 * predicted fields (null when result is not PREDICTED). */
OGRFeature *EEModelVectorLayerOutput(OGRFeatureDefn *defn, OGRFeature *src, int srcFieldCount,
                                     const std::vector<EEModelOutputField> &outputs,
                                     const double *values, bool predicted)
{
    auto *f = new OGRFeature(defn);
    std::vector<int> map(srcFieldCount);
    for (int i = 0; i < srcFieldCount; i++)
        map[i] = i;
    f->SetFrom(src, map.data(), TRUE);
    f->SetFID(src->GetFID());
    int at = 0;
    for (const auto &o : outputs)
    {
        const double *v = values + at;
        at += o.values;
        if (!predicted)
        {
            for (int c = 0; c < (o.list ? 1 : o.values); c++)
                f->SetFieldNull(o.field + c);
            continue;
        }
        if (o.list)
        {
            if (o.type == OFTReal)
                f->SetField(o.field, o.values, v);
            else
            {
                std::vector<GIntBig> l(o.values);
                for (int c = 0; c < o.values; c++)
                    l[c] = static_cast<GIntBig>(std::llround(v[c]));
                f->SetField(o.field, o.values, l.data());
            }
            continue;
        }
        for (int c = 0; c < o.values; c++)
        {
            if (std::isnan(v[c]) && o.type != OFTReal)
                f->SetFieldNull(o.field + c);
            else if (o.type == OFTReal)
                f->SetField(o.field + c, v[c]);
            else
                f->SetField(o.field + c, static_cast<GIntBig>(std::llround(v[c])));
        }
    }
    return f;
}
