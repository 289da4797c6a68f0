#!/bin/sh
# Run the EEMODEL benchmarks (see bench/README.md).  They print figures and never
# fail on time.  EEM_BUILD_DIR: build folder holding gdalplugins/ (default ./build).
set -e
here=$(cd "$(dirname "$0")" && pwd)
# `bash bench/run.sh cpu [options]`: client CPU per GB of tensors (cpu.py, issue 13 item 3)
if [ "${1:-}" = cpu ]; then
  shift
  exec /usr/bin/python3 "$here/cpu.py" "$@"
fi
exec /usr/bin/python3 "$here/bench.py" "$@"
