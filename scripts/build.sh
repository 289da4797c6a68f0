#!/usr/bin/env bash
# build.sh — configure and build EEMODEL (core library, GDAL plugin, C tests).
#
#   bash scripts/build.sh                 # optimised build with debug info into build/
#   bash scripts/build.sh --sanitize      # ASan + UBSan debug build into build-asan/
#   bash scripts/build.sh --tsan          # ThreadSanitizer build into build-tsan/ (scripts/tsan.sh)
#   bash scripts/build.sh [--sanitize|--tsan] DIR  # into DIR instead
#
# The plugin ends up in DIR/gdalplugins/gdal_EEMODEL.so.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=0
tsan=0
build_dir=""
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    *) [ -z "$build_dir" ] || { echo "build.sh: only one build directory" >&2; exit 2; }
       build_dir=$arg ;;
  esac
done

if [ "$sanitize" -eq 1 ] && [ "$tsan" -eq 1 ]; then
  echo "build.sh: --sanitize and --tsan cannot be combined" >&2; exit 2
elif [ "$tsan" -eq 1 ]; then
  build_dir=${build_dir:-$repo/build-tsan}
  cmake_args=(-DEEM_SANITIZE=OFF -DEEM_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
elif [ "$sanitize" -eq 1 ]; then
  build_dir=${build_dir:-$repo/build-asan}
  cmake_args=(-DEEM_SANITIZE=ON -DEEM_TSAN=OFF -DCMAKE_BUILD_TYPE=Debug)
else
  build_dir=${build_dir:-$repo/build}
  cmake_args=(-DEEM_SANITIZE=OFF -DEEM_TSAN=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "build.sh: configuring $build_dir (${cmake_args[*]})"
cmake -S "$repo" -B "$build_dir" "${cmake_args[@]}" </dev/null
echo "build.sh: building with $jobs jobs"
cmake --build "$build_dir" --parallel "$jobs" </dev/null
echo "build.sh: plugin at $build_dir/gdalplugins/gdal_EEMODEL.so"
