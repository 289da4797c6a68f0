#!/usr/bin/env bash
# test.sh — the full test run of EEMODEL (README command 2; .ci/run runs exactly this).
#
#   1. install the Debian dependencies (scripts/install-deps.sh; no-op when present)
#   2. build with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/
#   3. ctest: C unit tests and fuzz-corpus replays
#   4. pytest: the autotest/ suites, driving the sanitized plugin through
#      osgeo.gdal and the GDAL programs, with the ASan/UBSan runtimes preloaded
#      into /usr/bin/python3 and every program it spawns
#   5. valgrind: the C tests and corpus replays under memcheck, zero errors
#      (scripts/valgrind.sh, own unsanitized build in build-valgrind/)
#   6. fuzz: a time-boxed libFuzzer run of every fuzz target with clang + ASan +
#      UBSan (scripts/fuzz.sh, EEM_FUZZ_SECONDS per target, default 30)
#
# Exits non-zero on any failure (pytest finding no test counts as failure) and
# ends with one summary line "test.sh: N passed, N failed, N skipped".
# Extra arguments are passed to pytest (e.g. -k seam, -x).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

BUILD_DIR="${EEM_TEST_BUILD_DIR:-$repo/build-asan}"   # EEM_TEST_BUILD_DIR: another tree
PYTHON=/usr/bin/python3
CTEST_TIMEOUT_S=300      # per C test
PYTEST_TIMEOUT_S=2400    # whole pytest run; a hang must not eat the CI budget
REPORT_DIR="$BUILD_DIR/test-reports"

start=$(date +%s)
failed_step=""
ctest_failed=0
extra_failed=""   # valgrind / fuzz steps that failed (run after pytest)
rm -rf "$REPORT_DIR"   # never count a previous run's results

log() { printf '\n=== test.sh: %s\n' "$*"; }

# Counts from a JUnit XML file: prints "tests failures skipped" (failures includes errors).
junit_counts() {
  "$PYTHON" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0"); sys.exit(0)
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", su.get("disabled", 0)) or 0)
print(t, f, s)
PY
}

summary() {
  local rc=$1
  local ct=0 cf=0 cs=0 pt=0 pf=0 ps=0
  [ -f "$REPORT_DIR/ctest.xml" ] && read -r ct cf cs < <(junit_counts "$REPORT_DIR/ctest.xml")
  [ -f "$REPORT_DIR/pytest.xml" ] && read -r pt pf ps < <(junit_counts "$REPORT_DIR/pytest.xml")
  local passed=$(( (ct - cf - cs) + (pt - pf - ps) ))
  local failed=$(( cf + pf ))
  local skipped=$(( cs + ps ))
  # A step that failed without producing counted failures (build error, crash,
  # no tests found) still counts as one failure.
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  local took=$(( $(date +%s) - start ))
  echo
  echo "=== test.sh summary (${took}s): ctest $((ct - cf - cs))/$ct passed, pytest $((pt - pf - ps))/$pt passed ($ps skipped)"
  if [ "$rc" -eq 0 ]; then
    echo "=== test.sh: ALL TESTS PASSED"
  else
    echo "=== test.sh: FAILED at step: $failed_step"
  fi
  echo "test.sh: $passed passed, $failed failed, $skipped skipped"
  exit "$rc"
}

fail() {
  failed_step=$1
  if [ "$ctest_failed" -ne 0 ] && [ "$1" != ctest ]; then failed_step="ctest, $1"; fi
  summary 1
}

# --- 1. dependencies ---------------------------------------------------------
log "installing dependencies"
bash "$repo/scripts/install-deps.sh" </dev/null || fail "install-deps"

# --- 2. sanitized build ------------------------------------------------------
log "building with ASan + UBSan into $BUILD_DIR"
bash "$repo/scripts/build.sh" --sanitize "$BUILD_DIR" </dev/null || fail "build (sanitize)"
PLUGIN="$BUILD_DIR/gdalplugins/gdal_EEMODEL.so"
[ -f "$PLUGIN" ] || { echo "missing $PLUGIN" >&2; fail "build (no plugin)"; }
mkdir -p "$REPORT_DIR"

# --- 3. C unit tests ---------------------------------------------------------
log "ctest (C unit tests, fuzz corpus replays)"
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error \
      --timeout "$CTEST_TIMEOUT_S" --output-junit "$REPORT_DIR/ctest.xml" </dev/null \
  || ctest_failed=1   # remembered; pytest still runs so one run reports everything

# --- 4. pytest against the sanitized plugin ----------------------------------
# The plugin is instrumented; python and the GDAL programs are not, so the
# sanitizer runtimes must be the first libraries loaded: LD_PRELOAD.  Exported,
# so every subprocess (gdalinfo, gdal_translate, the stand-in predictor) gets it.
ASAN_RT=$(gcc -print-file-name=libasan.so)
UBSAN_RT=$(gcc -print-file-name=libubsan.so)
for rt in "$ASAN_RT" "$UBSAN_RT"; do
  [ -f "$rt" ] || { echo "sanitizer runtime not found: $rt" >&2; fail "sanitizer runtime"; }
done

export EEM_BUILD_DIR="$BUILD_DIR"
export GDAL_DRIVER_PATH="$BUILD_DIR/gdalplugins"
export LD_PRELOAD="$ASAN_RT:$UBSAN_RT"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"   # python itself leaks at exit
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONDONTWRITEBYTECODE=1

log "plugin smoke check (gdalinfo --format EEMODEL)"
driver_info=$(gdalinfo --format EEMODEL </dev/null) || fail "plugin does not register with GDAL"
printf '%s\n' "$driver_info" | sed -n '1,3p'
unset driver_info

log "pytest (autotest/) with LD_PRELOAD=$LD_PRELOAD"
timeout --kill-after=30 "$PYTEST_TIMEOUT_S" \
  "$PYTHON" -m pytest autotest -ra -p no:cacheprovider \
  --junitxml="$REPORT_DIR/pytest.xml" "$@" </dev/null
rc=$?

# --- 5./6. valgrind and fuzzing (no sanitizer runtime preloaded) --------------
(
  unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
  log "valgrind (C tests and corpus replays)"
  bash "$repo/scripts/valgrind.sh" "$BUILD_DIR-valgrind" </dev/null || exit 1
) || extra_failed+=" valgrind"
(
  unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
  log "fuzz (${EEM_FUZZ_SECONDS:-30}s per target)"
  EEM_FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" bash "$repo/scripts/fuzz.sh" </dev/null || exit 1
) || extra_failed+=" fuzz"
[ -z "$extra_failed" ] || ctest_failed=1

case "$rc" in
  0) [ "$ctest_failed" -eq 0 ] || fail "ctest/valgrind/fuzz:${extra_failed:- ctest}" ;;
  5) echo "pytest collected no tests" >&2; fail "pytest (no tests collected)" ;;
  124|137) fail "pytest (timed out after ${PYTEST_TIMEOUT_S}s)" ;;
  *) fail "pytest (exit $rc)" ;;
esac

summary 0
