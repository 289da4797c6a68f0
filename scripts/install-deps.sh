#!/usr/bin/env bash
# install-deps.sh — install every Debian 12 package EEMODEL needs to build, test and run the demo.
# Idempotent: when every package is already installed it does nothing (no apt-get update).
# Runs as root (or through sudo when available) with no standard input.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libgdal-dev gdal-bin python3-gdal
  python3-numpy python3-protobuf python3-pytest
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
  libcurl4-openssl-dev libssl-dev libjson-c-dev
  clang libclang-rt-14-dev valgrind
  openssl python3-cryptography
  iproute2 util-linux
  qgis python3-qgis python3-rasterio
  python3-dask python3-distributed python3-rioxarray nodejs python3-grpcio
)
# npm (the S3 cache test installs s3rver with it): Debian's package, unless the nodejs
# installed already brings its own npm (NodeSource's does, and conflicts with Debian's)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null
echo "install-deps: done"
