#!/bin/sh
# Run the EEMODEL benchmarks (see bench/README.md).  They print figures and never
# fail on time.  EEM_BUILD_DIR: build folder holding gdalplugins/ (default ./build).
#   bash bench/run.sh [bench.py options]              throughput, CPU, RSS, cache
#   bash bench/run.sh pipeline [pipeline.py options]  server shapes, idle share, waste, RSS
set -e
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
  pipeline) shift; exec /usr/bin/python3 "$here/pipeline.py" "$@" ;;
  cpu) shift; exec /usr/bin/python3 "$here/cpu.py" "$@" ;;  # client CPU per GB of tensors
esac
exec /usr/bin/python3 "$here/bench.py" "$@"
