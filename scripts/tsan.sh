#!/usr/bin/env bash
# tsan.sh — the driver's threads under ThreadSanitizer.
#
#   bash scripts/tsan.sh [BUILD_DIR]     # default build-tsan/; exit 0 when clean
#
# Builds the plugin with -fsanitize=thread (scripts/build.sh --tsan) and runs
# the autotest suites in which one dataset is read from several threads or
# while the prediction pipeline's worker runs: read-ahead, concurrent
# (QGIS-style) reads, direct reads, the tile store, slow start, a server
# going down, Dask.  The TSan runtime is preloaded into python and every GDAL
# program the tests start.
#
# Python, GDAL, PROJ, Qt and the stand-in predictor are not instrumented, so
# TSan sees their own synchronisation only partly and reports races inside
# them that are not ours.  This script counts a report only when one of its
# stacks (accesses, allocation, thread creation) is in the plugin: a race in
# our code, or in GDAL called from our threads.  Any such report fails it.
# Lock-order reports are off: GDAL's CPLCreateOrAcquireMutex takes one global
# mutex around every first acquisition of a static mutex, which draws cycles
# through mutexes that never wait for one another.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${1:-$repo/build-tsan}
PYTHON=${PYTHON:-/usr/bin/python3}
SUITES=(test_read_ahead.py test_concurrency.py test_direct_read.py test_tile_store.py
        test_slow_start.py test_down_server.py test_dask.py)

bash "$repo/scripts/build.sh" --tsan "$build_dir" </dev/null || exit 2

runtime=$(gcc -print-file-name=libtsan.so)
[ -f "$runtime" ] || { echo "tsan.sh: ThreadSanitizer runtime not found ($runtime)" >&2; exit 3; }
reports=$(mktemp -d "${TMPDIR:-/tmp}/eemodel-tsan-XXXXXX")
options="detect_deadlocks=0:exitcode=0:report_signal_unsafe=0:history_size=4"
options="$options:log_path=$reports/tsan:suppressions=$repo/scripts/tsan.supp"
symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -z "$symbolizer" ] || options="$options:external_symbolizer_path=$symbolizer"

suites=()
for s in "${SUITES[@]}"; do suites+=("autotest/$s"); done
echo "tsan.sh: pytest ${SUITES[*]} (reports in $reports)"
(
  cd "$repo" || exit 2
  export EEM_BUILD_DIR="$build_dir" GDAL_DRIVER_PATH="$build_dir/gdalplugins"
  export PYTHONDONTWRITEBYTECODE=1 TSAN_OPTIONS="$options" LD_PRELOAD="$runtime"
  "$PYTHON" -m pytest "${suites[@]}" -q -p no:cacheprovider </dev/null
)
tests_rc=$?

# the reports with a stack in the plugin (symbolized: a driver/ source path)
"$PYTHON" - "$reports" <<'EOF'
import glob, os, sys
ours = 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "tsan*"))):
    with open(path, errors="replace") as f:
        text = f.read()
    for report in text.split("==================\n"):
        if "WARNING: ThreadSanitizer" not in report:
            continue
        if "gdal_EEMODEL.so" in report or "/driver/" in report:
            ours += 1
            print(report.rstrip(), file=sys.stderr)
print("tsan.sh: %d report(s) with a stack in the plugin" % ours)
sys.exit(1 if ours else 0)
EOF
scan_rc=$?
if [ "$tests_rc" -ne 0 ] || [ "$scan_rc" -ne 0 ]; then
  echo "tsan.sh: FAILED (tests exit $tests_rc, reports exit $scan_rc); reports kept in $reports" >&2
  exit 1
fi
rm -rf "$reports"
echo "tsan.sh: clean"
