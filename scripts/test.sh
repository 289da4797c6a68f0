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
#      (scripts/valgrind.sh, own unsanitized build in build-asan-valgrind/)
#   6. fuzz: a time-boxed libFuzzer run of every fuzz target with clang + ASan +
#      UBSan (scripts/fuzz.sh, EEM_FUZZ_SECONDS per target, default 30)
#   7. tsan: the suites that read one dataset from several threads, or while
#      the prediction pipeline's worker runs, against a ThreadSanitizer build;
#      a report with a stack in the plugin fails it (scripts/tsan.sh, own
#      build in build-asan-tsan/)
#
# Steps 5 to 7 run one after the other in the background while steps 3 and 4
# run (they share nothing but the CPU, and no test depends on the machine's
# speed); their output is printed when they end.  EEM_TEST_SERIAL=1 runs every
# step in turn instead.
#
# Exits non-zero on any failure (pytest finding no test counts as failure).  The
# summary gives each step's status and time, names the steps that failed, and
# ends with one line "test.sh: N passed, N failed, N skipped".
# Extra arguments are passed to pytest (e.g. -k seam, -x).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

BUILD_DIR="${EEM_TEST_BUILD_DIR:-$repo/build-asan}"   # EEM_TEST_BUILD_DIR: another tree
PYTHON=/usr/bin/python3
CTEST_TIMEOUT_S=600      # per C test (a busy machine is slow; a hang still ends)
PYTEST_TIMEOUT_S=2400    # whole pytest run; a hang must not eat the CI budget
REPORT_DIR="$BUILD_DIR/test-reports"
BACKGROUND_LOG="$BUILD_DIR/test-background.log"

start=$(date +%s)
step_names=()     # in the order they ran
step_results=()   # "ok" / "FAILED (why)"
step_times=()     # seconds
failed_steps=()
rm -rf "$REPORT_DIR"   # never count a previous run's results

log() { printf '\n=== test.sh: %s\n' "$*"; }

record_step() {   # name seconds status-text
  step_names+=("$1"); step_times+=("$2"); step_results+=("$3")
  case "$3" in ok) ;; *) failed_steps+=("$1") ;; esac
}

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
  local ct=0 cf=0 cs=0 pt=0 pf=0 ps=0
  [ -f "$REPORT_DIR/ctest.xml" ] && read -r ct cf cs < <(junit_counts "$REPORT_DIR/ctest.xml")
  [ -f "$REPORT_DIR/pytest.xml" ] && read -r pt pf ps < <(junit_counts "$REPORT_DIR/pytest.xml")
  local passed=$(( (ct - cf - cs) + (pt - pf - ps) ))
  local failed=$(( cf + pf ))
  local skipped=$(( cs + ps ))
  # A step that failed without producing counted failures (build error, crash,
  # valgrind or fuzz finding, no tests found) still counts as one failure each.
  local i
  for i in "${failed_steps[@]}"; do
    case "$i" in ctest) [ "$cf" -gt 0 ] || failed=$((failed + 1)) ;;
                 pytest) [ "$pf" -gt 0 ] || failed=$((failed + 1)) ;;
                 *) failed=$((failed + 1)) ;; esac
  done
  local took=$(( $(date +%s) - start ))
  echo
  echo "=== test.sh summary (${took}s in all)"
  for i in "${!step_names[@]}"; do
    printf '    %-14s %-40s %5ss\n' "${step_names[$i]}" "${step_results[$i]}" "${step_times[$i]}"
  done
  echo "    ctest $((ct - cf - cs))/$ct passed, pytest $((pt - pf - ps))/$pt passed ($ps skipped)"
  if [ ${#failed_steps[@]} -eq 0 ]; then
    echo "=== test.sh: ALL TESTS PASSED"
  else
    echo "=== test.sh: FAILED at step(s): ${failed_steps[*]}"
  fi
  echo "test.sh: $passed passed, $failed failed, $skipped skipped"
  [ ${#failed_steps[@]} -eq 0 ]
  exit $?
}

# Run "$@" as step $1 (name) in the foreground; records its time and status.
run_step() {
  local name=$1; shift
  local t0=$(date +%s)
  "$@"
  local rc=$?
  local status=ok
  [ "$rc" -eq 0 ] || status="FAILED (exit $rc)"
  record_step "$name" $(( $(date +%s) - t0 )) "$status"
  return "$rc"
}

# --- 1. dependencies ---------------------------------------------------------
log "installing dependencies"
run_step install-deps bash "$repo/scripts/install-deps.sh" </dev/null || summary

# --- 2. sanitized build ------------------------------------------------------
log "building with ASan + UBSan into $BUILD_DIR"
run_step build bash "$repo/scripts/build.sh" --sanitize "$BUILD_DIR" </dev/null || summary
PLUGIN="$BUILD_DIR/gdalplugins/gdal_EEMODEL.so"
if [ ! -f "$PLUGIN" ]; then
  echo "missing $PLUGIN" >&2; record_step "build" 0 "FAILED (no plugin)"; summary
fi
mkdir -p "$REPORT_DIR"

# --- 5.-7. valgrind, fuzzing, tsan in the background (no ASan runtime) -------
background_pid=""
background_steps() {
  (
    unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
    t0=$(date +%s)
    log "valgrind (C tests and corpus replays)"
    bash "$repo/scripts/valgrind.sh" "$BUILD_DIR-valgrind" </dev/null
    echo "valgrind $? $(( $(date +%s) - t0 ))" >"$REPORT_DIR/valgrind.status"
    t0=$(date +%s)
    log "fuzz (${EEM_FUZZ_SECONDS:-30}s per target)"
    EEM_FUZZ_BUILD_DIR="$BUILD_DIR-fuzz" bash "$repo/scripts/fuzz.sh" </dev/null
    echo "fuzz $? $(( $(date +%s) - t0 ))" >"$REPORT_DIR/fuzz.status"
    t0=$(date +%s)
    log "tsan (threaded suites under ThreadSanitizer)"
    bash "$repo/scripts/tsan.sh" "$BUILD_DIR-tsan" </dev/null
    echo "tsan $? $(( $(date +%s) - t0 ))" >"$REPORT_DIR/tsan.status"
  )
}
if [ "${EEM_TEST_SERIAL:-0}" != 1 ]; then
  log "valgrind, fuzz and tsan start in the background (output: $BACKGROUND_LOG)"
  background_steps >"$BACKGROUND_LOG" 2>&1 &
  background_pid=$!
fi

# --- 3. C unit tests ---------------------------------------------------------
log "ctest (C unit tests, fuzz corpus replays)"
run_step ctest ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error \
      --timeout "$CTEST_TIMEOUT_S" --output-junit "$REPORT_DIR/ctest.xml" </dev/null
# remembered; pytest still runs so one run reports everything

# --- 4. pytest against the sanitized plugin ----------------------------------
# The plugin is instrumented; python and the GDAL programs are not, so the
# sanitizer runtimes must be the first libraries loaded: LD_PRELOAD.  Exported,
# so every subprocess (gdalinfo, gdal_translate, the stand-in predictor) gets it.
run_pytest() {
  local ASAN_RT UBSAN_RT rt
  ASAN_RT=$(gcc -print-file-name=libasan.so)
  UBSAN_RT=$(gcc -print-file-name=libubsan.so)
  for rt in "$ASAN_RT" "$UBSAN_RT"; do
    [ -f "$rt" ] || { echo "sanitizer runtime not found: $rt" >&2; return 3; }
  done
  export EEM_BUILD_DIR="$BUILD_DIR"
  export GDAL_DRIVER_PATH="$BUILD_DIR/gdalplugins"
  export LD_PRELOAD="$ASAN_RT:$UBSAN_RT"
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"   # python itself leaks at exit
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export PYTHONDONTWRITEBYTECODE=1

  log "plugin smoke check (gdalinfo --format EEMODEL)"
  local driver_info
  driver_info=$(gdalinfo --format EEMODEL </dev/null) \
    || { echo "the plugin does not register with GDAL" >&2; return 4; }
  printf '%s\n' "$driver_info" | sed -n '1,3p'

  log "pytest (autotest/) with LD_PRELOAD=$LD_PRELOAD"
  timeout --kill-after=30 "$PYTEST_TIMEOUT_S" \
    "$PYTHON" -m pytest autotest -ra -p no:cacheprovider --durations=10 \
    --junitxml="$REPORT_DIR/pytest.xml" "$@" </dev/null
  local rc=$?
  case "$rc" in
    5) echo "pytest collected no tests" >&2 ;;
    124|137) echo "pytest timed out after ${PYTEST_TIMEOUT_S}s" >&2 ;;
  esac
  return "$rc"
}
pytest_t0=$(date +%s)
( run_pytest "$@" )
rc=$?
case "$rc" in
  0) status=ok ;;
  5) status="FAILED (no tests collected)" ;;
  124|137) status="FAILED (timed out)" ;;
  *) status="FAILED (exit $rc)" ;;
esac
record_step pytest "$(( $(date +%s) - pytest_t0 ))" "$status"

# --- 5.-7. collect the background steps (or run them now) --------------------
if [ -n "$background_pid" ]; then
  log "waiting for valgrind, fuzz and tsan (background)"
  wait "$background_pid"
  cat "$BACKGROUND_LOG"
else
  background_steps
fi
for s in valgrind fuzz tsan; do
  if read -r _ src secs <"$REPORT_DIR/$s.status" 2>/dev/null; then
    if [ "$src" -eq 0 ]; then record_step "$s" "$secs" ok
    else record_step "$s" "$secs" "FAILED (exit $src; see above)"; fi
  else
    record_step "$s" 0 "FAILED (did not finish)"
  fi
done

summary
