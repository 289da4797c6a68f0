"""Set-up shared by the benchmarks (bench.py, cpu.py, pipeline.py, scaleout.py; bench_grpc.py
gets it through bench.py): the repository and build folders, the plugin folder for GDAL
(EEM_BUILD_DIR, default ./build), no persistent cache from the caller's environment, the
stand-in harness on the import path, and GDAL raising exceptions.  Import it before osgeo
or the stand-in:

    from _common import BUILD, REPO, StandIn, gdal, np  # noqa: E402
"""

import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "autotest"))
BUILD = pathlib.Path(os.environ.get("EEM_BUILD_DIR", str(REPO / "build"))).resolve()
os.environ["GDAL_DRIVER_PATH"] = str(BUILD / "gdalplugins")
os.environ.pop("EEMODEL_CACHE_DIR", None)

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

from predictor.harness import StandIn  # noqa: E402

gdal.UseExceptions()

__all__ = ["BUILD", "REPO", "StandIn", "gdal", "np"]
