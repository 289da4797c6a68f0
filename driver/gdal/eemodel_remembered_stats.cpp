/* eemodel_remembered_stats.cpp — band statistics remembered across runs.
 *
 * Statistics GDAL computes (gdalinfo -stats, ComputeStatistics,
 * GetStatistics(approx, force)) or a user sets (SetStatistics) are kept
 *  - in a PAM file, "<input>.eemodel-<digest>.aux.xml" beside the input
 *    file (a connection string is not a file), or where GDAL's PAM proxy
 *    database (GDAL_PAM_PROXY_DIR) puts it; none with GDAL_PAM_ENABLED=NO;
 *  - in the persistent cache when one is configured (CACHE_DIR /
 *    EEMODEL_CACHE_DIR), under the same digest.
 * The digest (core remembered_stats.c) covers everything that shapes the
 * pixels, so another model, endpoint, output layout, geometry or NODATA never
 * finds them.  The PAM file holds the STATISTICS_* items and nothing else: no
 * descriptor, no metadata, so no secret; it is written whole to a temporary
 * file beside it, then renamed over it, so a reader (another process) sees the
 * old file or the new one, never half of one.  Reading pixels writes nothing.
 * A PAM file that cannot be written is a warning saying whether the cache
 * keeps the statistics anyway. */
#include "eemodel_dataset.h"

#include "cpl_minixml.h"
#include "cpl_string.h"
#include "cpl_vsi.h"
#include "gdal_pam.h"

extern "C" {
#include "cache.h"
}

#include <atomic>
#include <cmath>
#include <cstring>

#include <unistd.h>

namespace
{
const char *const apszItems[] = {"STATISTICS_MINIMUM", "STATISTICS_MAXIMUM", "STATISTICS_MEAN",
                                 "STATISTICS_STDDEV"};
/* the approximate set, when the exact set takes the default domain */
const char *const pszApproxDomain = "EEMODEL_APPROXIMATE_STATISTICS";

bool PamEnabled()
{
    return CPLTestBool(CPLGetConfigOption("GDAL_PAM_ENABLED", "YES"));
}

/* One set of STATISTICS_* items from a metadata list (GDAL's or a PAM file's). */
eem_band_stats StatsFromItems(const std::function<const char *(const char *)> &fnItem)
{
    eem_band_stats st{};
    double v[4];
    for (int i = 0; i < 4; i++)
    {
        const char *psz = fnItem(apszItems[i]);
        if (psz == nullptr)
            return st;
        v[i] = CPLAtof(psz);
    }
    st.has = 1;
    st.min = v[0];
    st.max = v[1];
    st.mean = v[2];
    st.stddev = v[3];
    const char *pszValid = fnItem("STATISTICS_VALID_PERCENT");
    st.valid_percent = pszValid ? CPLAtof(pszValid) : -1;
    return st;
}

void AddItem(CPLXMLNode *psMetadata, const char *pszKey, const char *pszValue)
{
    CPLXMLNode *psMDI = CPLCreateXMLNode(psMetadata, CXT_Element, "MDI");
    CPLAddXMLAttributeAndValue(psMDI, "key", pszKey);
    CPLCreateXMLNode(psMDI, CXT_Text, pszValue);
}

void AddStats(CPLXMLNode *psBand, const eem_band_stats &st, bool bApprox, const char *pszDomain)
{
    CPLXMLNode *psMetadata = CPLCreateXMLNode(psBand, CXT_Element, "Metadata");
    if (pszDomain)
        CPLAddXMLAttributeAndValue(psMetadata, "domain", pszDomain);
    if (bApprox)
        AddItem(psMetadata, "STATISTICS_APPROXIMATE", "YES");
    const double v[4] = {st.min, st.max, st.mean, st.stddev};
    for (int i = 0; i < 4; i++)
        AddItem(psMetadata, apszItems[i], CPLSPrintf("%.14g", v[i]));
    if (st.valid_percent >= 0)
        AddItem(psMetadata, "STATISTICS_VALID_PERCENT", CPLSPrintf("%.4g", st.valid_percent));
}

/* The items of one <Metadata> element. */
const char *PamItem(CPLXMLNode *psMetadata, const char *pszKey)
{
    for (CPLXMLNode *ps = psMetadata ? psMetadata->psChild : nullptr; ps; ps = ps->psNext)
        if (ps->eType == CXT_Element && EQUAL(ps->pszValue, "MDI") &&
            EQUAL(CPLGetXMLValue(ps, "key", ""), pszKey))
            return CPLGetXMLValue(ps, nullptr, nullptr);
    return nullptr;
}

/* Put one remembered set on a band as GDAL's STATISTICS_* items. */
void SetBandItems(GDALRasterBand *poBand, const eem_band_stats &st, bool bApprox)
{
    const double v[4] = {st.min, st.max, st.mean, st.stddev};
    for (int i = 0; i < 4; i++)
        poBand->GDALRasterBand::SetMetadataItem(apszItems[i], CPLSPrintf("%.14g", v[i]));
    poBand->GDALRasterBand::SetMetadataItem("STATISTICS_APPROXIMATE", bApprox ? "YES" : nullptr);
    poBand->GDALRasterBand::SetMetadataItem(
        "STATISTICS_VALID_PERCENT",
        st.valid_percent >= 0 ? CPLSPrintf("%.4g", st.valid_percent) : nullptr);
}

/* Write the tree to osPath whole: a temporary file in the same folder (so
 * the rename stays within one file system), then renamed over osPath.  False
 * (and no file left behind) when any step fails. */
bool SerializeAtomically(CPLXMLNode *psRoot, const std::string &osPath)
{
    static std::atomic<unsigned> nSerial{0};
    char *pszText = CPLSerializeXMLTree(psRoot);
    if (pszText == nullptr)
        return false;
    const std::string osTmp =
        osPath + CPLSPrintf(".%ld-%u.tmp", static_cast<long>(getpid()), nSerial++);
    CPLPushErrorHandler(CPLQuietErrorHandler);
    VSILFILE *fp = VSIFOpenL(osTmp.c_str(), "wb");
    bool bOk = fp != nullptr;
    if (fp)
    {
        const size_t nLen = strlen(pszText);
        bOk = VSIFWriteL(pszText, 1, nLen, fp) == nLen;
        bOk = VSIFCloseL(fp) == 0 && bOk;
    }
    CPLFree(pszText);
    if (bOk)
        bOk = VSIRename(osTmp.c_str(), osPath.c_str()) == 0;
    if (!bOk && fp)
        VSIUnlink(osTmp.c_str());
    CPLPopErrorHandler();
    return bOk;
}

/* An eem_cache closed with its scope: the descriptor's cache, or none. */
struct ConfiguredCache
{
    eem_cache *c = nullptr;
    explicit ConfiguredCache(const eem_spec *spec)
    {
        eem_error err{};
        if (eem_cache_open_configured(spec->cache_dir, &c, &err) != EEM_OK)
            CPLDebug("EEMODEL", "statistics: the persistent cache could not be opened: %s",
                     err.msg);
    }
    ~ConfiguredCache() { eem_cache_close(c); }
    ConfiguredCache(const ConfiguredCache &) = delete;
    ConfiguredCache &operator=(const ConfiguredCache &) = delete;
};
} // namespace

long EEModelDataset::TilesFailed()
{
    eem_predictor_stats st{};
    eem_predictor_get_stats(m_shared->predictor, &st);
    return st.tiles_failed;
}

/* The PAM file that holds this descriptor's statistics: GDAL's proxy
 * database entry when there is one, else the file beside the input. */
std::string EEModelDataset::PamPathToRead()
{
    if (m_pamName.empty())
        return std::string();
    const char *pszProxy = PamGetProxy(m_pamName.c_str());
    if (pszProxy)
        return pszProxy;
    return m_pamBeside ? m_pamName + ".aux.xml" : std::string();
}

/* Fill the empty sets of pairs from the PAM file (another run's, or another
 * process's since this one opened): true when it had any. */
bool EEModelDataset::FillFromPam(std::vector<eem_band_stats_pair> &pairs)
{
    const std::string osPam = PamPathToRead();
    VSIStatBufL sPamStat;
    if (osPam.empty() || VSIStatL(osPam.c_str(), &sPamStat) != 0)
        return false;
    bool bFound = false;
    CPLXMLNode *psTree = CPLParseXMLFile(osPam.c_str());
    CPLXMLNode *psRoot = psTree ? CPLGetXMLNode(psTree, "=PAMDataset") : nullptr;
    for (CPLXMLNode *ps = psRoot ? psRoot->psChild : nullptr; ps; ps = ps->psNext)
    {
        if (ps->eType != CXT_Element || !EQUAL(ps->pszValue, "PAMRasterBand"))
            continue;
        const int iBand = atoi(CPLGetXMLValue(ps, "band", "0"));
        if (iBand < 1 || iBand > static_cast<int>(pairs.size()))
            continue;
        for (CPLXMLNode *psMD = ps->psChild; psMD; psMD = psMD->psNext)
        {
            if (psMD->eType != CXT_Element || !EQUAL(psMD->pszValue, "Metadata"))
                continue;
            const eem_band_stats st =
                StatsFromItems([psMD](const char *k) { return PamItem(psMD, k); });
            if (!st.has)
                continue;
            const char *pszApprox = PamItem(psMD, "STATISTICS_APPROXIMATE");
            eem_band_stats_pair &pair = pairs[iBand - 1];
            eem_band_stats &slot = pszApprox && CPLTestBool(pszApprox) ? pair.approx : pair.exact;
            if (!slot.has)
                slot = st;
            bFound = true;
        }
    }
    CPLDestroyXMLNode(psTree);
    return bFound;
}

/* The same from the persistent cache's entry, when a cache is configured. */
bool EEModelDataset::FillFromCache(std::vector<eem_band_stats_pair> &pairs)
{
    ConfiguredCache cache(eem_predictor_spec(m_shared->predictor));
    std::vector<eem_band_stats_pair> cached(pairs.size());
    if (!cache.c || !eem_remembered_stats_get(cache.c, m_statsDigest.c_str(), cached.data(),
                                              static_cast<int>(cached.size())))
        return false;
    for (size_t i = 0; i < pairs.size(); i++)
    {
        if (!pairs[i].exact.has)
            pairs[i].exact = cached[i].exact;
        if (!pairs[i].approx.has)
            pairs[i].approx = cached[i].approx;
    }
    return true;
}

void EEModelDataset::RecallStatistics()
{
    const eem_spec *spec = eem_predictor_spec(m_shared->predictor);
    /* what the pixels depend on beyond the descriptor: the raster's size and
     * geotransform, the input file's size and time */
    std::string osExtra = CPLSPrintf("%dx%d|%.17g,%.17g,%.17g,%.17g,%.17g,%.17g", nRasterXSize,
                                     nRasterYSize, m_gt[0], m_gt[1], m_gt[2], m_gt[3], m_gt[4],
                                     m_gt[5]);
    VSIStatBufL sStat;
    const bool bInputIsFile = spec->input && spec->input[0] &&
                              VSIStatExL(spec->input, &sStat, VSI_STAT_EXISTS_FLAG |
                                                                  VSI_STAT_NATURE_FLAG |
                                                                  VSI_STAT_SIZE_FLAG) == 0 &&
                              VSI_ISREG(sStat.st_mode);
    if (bInputIsFile)
        osExtra += CPLSPrintf("|input=%lld,%lld", static_cast<long long>(sStat.st_size),
                              static_cast<long long>(sStat.st_mtime));
    char szDigest[65];
    eem_error err{};
    if (eem_remembered_stats_digest(spec, osExtra.c_str(), szDigest, &err) != EEM_OK)
    {
        CPLDebug("EEMODEL", "statistics will not be remembered: %s", err.msg);
        return;
    }
    m_statsDigest = szDigest;
    m_remembered.assign(nBands, eem_band_stats_pair{});
    /* a file of the input's own name; only plain local files (and /vsimem/)
     * take a side file.  A name that may carry a secret (a URL query or
     * user-info) is never written, not even into the proxy database's index */
    const bool bNameMayHoldSecret = strchr(spec->input, '?') != nullptr ||
                                    (strstr(spec->input, "://") && strchr(spec->input, '@'));
    if (bInputIsFile && !bNameMayHoldSecret)
    {
        m_pamName = std::string(spec->input) + ".eemodel-" + m_statsDigest.substr(0, 16);
        m_pamBeside = !STARTS_WITH_CI(spec->input, "/vsi") ||
                      STARTS_WITH_CI(spec->input, "/vsimem/");
    }

    bool bFound = PamEnabled() && FillFromPam(m_remembered);
    if (!bFound)
        bFound = FillFromCache(m_remembered);
    if (!bFound)
        return;
    for (int i = 0; i < nBands; i++)
    {
        const eem_band_stats_pair &pair = m_remembered[i];
        if (pair.exact.has)
            SetBandItems(GetRasterBand(i + 1), pair.exact, false);
        else if (pair.approx.has)
            SetBandItems(GetRasterBand(i + 1), pair.approx, true);
    }
    CPLDebug("EEMODEL", "statistics remembered from an earlier run");
}

void EEModelDataset::RememberStatistics(GDALRasterBand *poBand, bool bTrusted)
{
    if (m_level != 0 || m_statsDigest.empty())
        return;
    const int iBand = poBand->GetBand();
    if (iBand < 1 || iBand > nBands || static_cast<int>(m_remembered.size()) != nBands)
        return;
    if (!bTrusted)
    {
        CPLDebug("EEMODEL", "statistics of band %d are not remembered: tiles failed "
                            "(ON_ERROR=NODATA) while they were computed", iBand);
        return;
    }
    const eem_band_stats st =
        StatsFromItems([poBand](const char *k) { return poBand->GetMetadataItem(k); });
    if (!st.has)
        return;
    const char *pszApprox = poBand->GetMetadataItem("STATISTICS_APPROXIMATE");
    eem_band_stats_pair &pair = m_remembered[iBand - 1];
    if (pszApprox && CPLTestBool(pszApprox))
        pair.approx = st;
    else
        pair.exact = st;
    /* keep what another process remembered meanwhile (the other set, other
     * bands): this band's new set wins */
    bool bPamFailed = false;
    if (PamEnabled())
    {
        FillFromPam(m_remembered);
        bPamFailed = !m_pamName.empty() && !WritePam();
    }
    FillFromCache(m_remembered);
    const bool bCached = WriteCache();
    if (bPamFailed && bCached)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "EEMODEL: no .aux.xml could be written beside the input; the statistics are "
                 "kept in the persistent cache only (CACHE_DIR / EEMODEL_CACHE_DIR), where runs "
                 "using that cache find them; set GDAL_PAM_PROXY_DIR to a writable folder for "
                 "other programs to see them too");
    else if (bPamFailed)
        CPLError(CE_Warning, CPLE_AppDefined,
                 "EEMODEL: statistics could not be saved in a .aux.xml beside the input; set "
                 "GDAL_PAM_PROXY_DIR to a writable folder (or a persistent cache with CACHE_DIR "
                 "/ EEMODEL_CACHE_DIR) to keep them across runs");
}

bool EEModelDataset::WritePam()
{
    if (m_pamName.empty())
    {
        CPLDebug("EEMODEL", "statistics: the input is not a file, no .aux.xml is written");
        return false;
    }
    CPLXMLNode *psRoot = CPLCreateXMLNode(nullptr, CXT_Element, "PAMDataset");
    for (int i = 0; i < nBands; i++)
    {
        const eem_band_stats_pair &pair = m_remembered[i];
        if (!pair.exact.has && !pair.approx.has)
            continue;
        CPLXMLNode *psBand = CPLCreateXMLNode(psRoot, CXT_Element, "PAMRasterBand");
        CPLAddXMLAttributeAndValue(psBand, "band", CPLSPrintf("%d", i + 1));
        if (pair.exact.has)
            AddStats(psBand, pair.exact, false, nullptr);
        if (pair.approx.has)
            AddStats(psBand, pair.approx, true, pair.exact.has ? pszApproxDomain : nullptr);
    }
    std::string osPath = PamPathToRead();
    bool bSaved = !osPath.empty() && SerializeAtomically(psRoot, osPath);
    if (!bSaved && PamGetProxy(m_pamName.c_str()) == nullptr)
    {
        /* GDAL's rule: where the side file cannot be written, the proxy DB */
        const char *pszProxy = PamAllocateProxy(m_pamName.c_str());
        if (pszProxy)
        {
            osPath = pszProxy;
            bSaved = SerializeAtomically(psRoot, osPath);
        }
    }
    CPLDestroyXMLNode(psRoot);
    return bSaved; /* the caller warns, saying whether the cache keeps them */
}

bool EEModelDataset::WriteCache()
{
    ConfiguredCache cache(eem_predictor_spec(m_shared->predictor));
    if (!cache.c)
        return false;
    eem_error err{};
    if (eem_remembered_stats_put(cache.c, m_statsDigest.c_str(), m_remembered.data(), nBands,
                                 &err) != EEM_OK)
    {
        CPLDebug("EEMODEL", "statistics could not be written to the cache: %s", err.msg);
        return false;
    }
    return true;
}
