"""PROJ/SCALE overviews warp the source at the overview's own resolution, through the
source's overviews (issue 12 item 9): zooming out costs what the screen shows."""

import numpy as np
from osgeo import gdal


def source_with_marked_overviews(tmp_path, value=77):
    """512x512 Byte noise at 30 m with overviews 4x and 8x filled with `value`: a read
    that goes through them shows `value`, one that averages full-resolution pixels
    does not."""
    rng = np.random.default_rng(90)
    path = str(tmp_path / "scene.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 512, 512, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0))
    ds.SetProjection("EPSG:32618")
    ds.GetRasterBand(1).WriteArray(rng.integers(0, 256, size=(512, 512)).astype(np.uint8))
    ds.BuildOverviews("AVERAGE", [4, 8])
    band = ds.GetRasterBand(1)
    for i in range(band.GetOverviewCount()):
        band.GetOverview(i).Fill(value)
    ds = None
    return path


def test_warped_overview_reads_source_overviews(predictor, eem_name, tmp_path):
    path = source_with_marked_overviews(tmp_path)
    # G: 60 m pixels (257x257: TILE_ORIGIN=SCENE keeps the scene's own corner rather than
    # the global lattice); overview 1: 120 m, the source's 4x overview
    name = eem_name(path, model="identity", tile=(64, 64), output_bands="output:float32",
                    proj="EPSG:32618", scale=60, tile_origin="SCENE")
    ds = gdal.Open(name)
    assert ds.GetMetadataItem("MODEL_GRID_WARPED", "EEMODEL") == "YES"
    band = ds.GetRasterBand(1)
    assert (band.XSize, band.YSize) == (257, 257)   # -tap snaps the origin outward
    full = band.ReadAsArray()
    full_valid = band.GetMaskBand().ReadAsArray() > 0
    # level 0 comes from full-resolution pixels (noise, not the marked overviews)
    assert full_valid.mean() > 0.9
    assert np.abs(full[full_valid] - 77).mean() > 20
    predictor.reset()
    ov = band.GetOverview(0)
    assert (ov.XSize, ov.YSize) == (129, 129)
    data = ov.ReadAsArray()
    valid = ov.GetMaskBand().ReadAsArray() > 0
    assert valid.mean() > 0.9
    # the overview level warped the source at 120 m, through its 4x overview
    assert (data[valid] == 77).all()
    # and cost the overview's tiles only
    assert 0 < sum(r["n_instances"] for r in predictor.log()) <= 3 * 3
    assert all(r["shapes"]["b1"] == [64, 64, 1] for r in predictor.log())


def test_warped_overview_geometry_matches_gdalwarp(predictor, eem_name, make_raster, tmp_path):
    """Overview k is the model on `gdalwarp -te <G's extent> -ts <level size> -r average`."""
    rng = np.random.default_rng(91)
    path = make_raster(rng.integers(0, 200, size=(1, 300, 260)).astype(np.uint8))
    name = eem_name(path, model="identity", tile=(32, 32), output_bands="output:float32",
                    proj="EPSG:4326", scale=0.0005, resampling="bilinear")
    ds = gdal.Open(name)
    gt = ds.GetGeoTransform()
    ov = ds.GetRasterBand(1).GetOverview(1)   # 1/4
    w, h = ov.XSize, ov.YSize
    want = gdal.Warp("", path, format="MEM", dstSRS="EPSG:4326", outputBounds=(
        gt[0], gt[3] + h * 4 * gt[5], gt[0] + w * 4 * gt[1], gt[3]), width=w, height=h,
        resampleAlg="average", dstAlpha=True, errorThreshold=0)
    got = ov.ReadAsArray()
    valid = ov.GetMaskBand().ReadAsArray() > 0
    assert valid.any()
    np.testing.assert_array_equal(valid, want.GetRasterBand(2).ReadAsArray() > 0)
    np.testing.assert_allclose(got[valid], want.GetRasterBand(1).ReadAsArray()[valid])
