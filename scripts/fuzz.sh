#!/usr/bin/env bash
# fuzz.sh — time-boxed libFuzzer run of every fuzz target (autotest/fuzz/fuzz_*.c).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]      # default 30 (EEM_FUZZ_SECONDS)
#
# Builds the targets with clang + libFuzzer + ASan + UBSan into build-fuzz/
# (EEM_FUZZ_BUILD_DIR), fuzzes each one for the given time starting from its
# seed corpus autotest/fuzz/corpus/<name>/ (the seeds are not modified; new
# inputs go to the build folder), and prints one line per target with the
# executions run.  A crash, leak, timeout or sanitizer report fails the run;
# the reproducer is left as build-fuzz/fuzz-artifacts/<target>/crash-* and can
# be replayed with build-fuzz/<target> <file> (or <target>_replay <file>).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${1:-${EEM_FUZZ_SECONDS:-30}}
BUILD_DIR=${EEM_FUZZ_BUILD_DIR:-$repo/build-fuzz}
RSS_LIMIT_MB=2048        # a decoder must not need more for one answer
MALLOC_LIMIT_MB=64       # nor one allocation this large (inputs are at most 64 KiB)
INPUT_TIMEOUT_S=10       # one input taking longer is a hang
MAX_INPUT_BYTES=65536

cd "$repo"
targets=()
for src in autotest/fuzz/fuzz_*.c; do
  targets+=("$(basename "$src" .c)")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }

echo "fuzz.sh: building ${targets[*]} with clang + libFuzzer + ASan/UBSan into $BUILD_DIR"
mkdir -p "$BUILD_DIR"
CC=clang CXX=clang++ cmake -S "$repo" -B "$BUILD_DIR" -DEEM_FUZZ=ON -DEEM_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo </dev/null >"$BUILD_DIR/fuzz-configure.log" 2>&1 \
  || { cat "$BUILD_DIR/fuzz-configure.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 1; }
cmake --build "$BUILD_DIR" --parallel "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" \
  </dev/null || { echo "fuzz.sh: build failed" >&2; exit 1; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=0
summary=()
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  seeds="$repo/autotest/fuzz/corpus/$name"
  work="$BUILD_DIR/fuzz-corpus/$name"
  artifacts="$BUILD_DIR/fuzz-artifacts/$t"
  mkdir -p "$work" "$artifacts"
  log="$BUILD_DIR/fuzz-$name.log"
  echo "fuzz.sh: $t for ${SECONDS_PER_TARGET}s"
  "$BUILD_DIR/$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb="$RSS_LIMIT_MB" \
    -malloc_limit_mb="$MALLOC_LIMIT_MB" \
    -timeout="$INPUT_TIMEOUT_S" -max_len="$MAX_INPUT_BYTES" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" "$seeds" </dev/null >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz.sh: $t FAILED (exit $rc); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    find "$artifacts" -type f | while read -r repro; do
      echo "fuzz.sh: reproducer: $repro  (replay: $BUILD_DIR/$t $repro)" >&2
    done
  fi
  summary+=("$(printf '%-26s %12s executions  %s' "$t" "${execs:-?}" \
    "$([ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] && echo ok || echo "FAILED ($crashes artifact(s))")")")
done

echo
echo "=== fuzz.sh summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
