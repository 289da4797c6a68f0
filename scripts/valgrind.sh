#!/usr/bin/env bash
# valgrind.sh — the C unit tests and fuzz-corpus replays under valgrind memcheck.
#
#   bash scripts/valgrind.sh [BUILD_DIR]     # default build-valgrind/ (EEM_VALGRIND_BUILD_DIR)
#
# Builds without sanitizers (valgrind cannot run ASan binaries) and runs every
# ctest test (same command, folder and environment as ctest) under
# `valgrind --error-exitcode`: any invalid read/write, use of uninitialised
# memory, bad free or definite leak fails the run.  Libraries' one-time
# allocations that stay reachable at exit are not errors.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${1:-${EEM_VALGRIND_BUILD_DIR:-$repo/build-valgrind}}
VALGRIND_ERROR_EXIT=99
PER_TEST_TIMEOUT_S=900

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
mkdir -p "$BUILD_DIR"
bash "$repo/scripts/build.sh" "$BUILD_DIR" </dev/null >"$BUILD_DIR/valgrind-build.log" 2>&1 \
  || { tail -40 "$BUILD_DIR/valgrind-build.log" >&2; echo "valgrind.sh: build failed" >&2; exit 1; }

export GDAL_DRIVER_PATH="$BUILD_DIR/gdalplugins"
export EEM_TEST_DATA="$repo/autotest/data"
VALGRIND=(valgrind --tool=memcheck --error-exitcode="$VALGRIND_ERROR_EXIT" --leak-check=full
          --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes
          --num-callers=30 --quiet)

# The tests ctest knows, with their command lines (ctest --show-only=json-v1).
mapfile -t tests < <(ctest --test-dir "$BUILD_DIR" --show-only=json-v1 | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin)["tests"]:
    wd = next((p["value"] for p in t.get("properties", []) if p["name"] == "WORKING_DIRECTORY"), ".")
    if t.get("command"):
        print("\t".join([t["name"], wd] + t["command"]))
')
[ ${#tests[@]} -gt 0 ] || { echo "valgrind.sh: ctest lists no test" >&2; exit 1; }

failed=()
for line in "${tests[@]}"; do
  IFS=$'\t' read -r -a fields <<<"$line"
  name=${fields[0]} wd=${fields[1]}
  cmd=("${fields[@]:2}")
  log="$BUILD_DIR/valgrind-$name.log"
  start=$(date +%s)
  (cd "$wd" && timeout "$PER_TEST_TIMEOUT_S" "${VALGRIND[@]}" --log-file="$log" "${cmd[@]}" \
     >"$log.out" 2>&1 </dev/null)
  rc=$?
  took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    printf 'valgrind.sh: %-34s ok (%ds)\n' "$name" "$took"
  else
    failed+=("$name")
    if [ "$rc" -eq "$VALGRIND_ERROR_EXIT" ]; then why="memory errors"; else why="exit $rc"; fi
    printf 'valgrind.sh: %-34s FAILED: %s (%ds)\n' "$name" "$why" "$took" >&2
    for f in "$log" "$log.out"; do   # the valgrind report, then the test's own output
      echo "--- last lines of $f" >&2
      tail -n 60 "$f" >&2
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "valgrind.sh: ${#failed[@]} of ${#tests[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "valgrind.sh: all ${#tests[@]} tests clean under valgrind"
