#!/bin/sh
# Run the EEMODEL benchmarks (see bench/README.md).  They print figures and never
# fail on time.  EEM_BUILD_DIR: build folder holding gdalplugins/ (default ./build).
set -e
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/bench.py" "$@"
