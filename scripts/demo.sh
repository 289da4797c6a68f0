#!/usr/bin/env bash
# demo.sh — the main job (README command 1): predict a real Landsat scene through
# the EEMODEL driver with GDAL's own programs.
#
#   bash scripts/demo.sh            # land-cover-like classifier (probabilities + class)
#   bash scripts/demo.sh ndi        # green-red normalised difference index
#
# Installs the Debian dependencies, builds the plugin into build/, starts the local
# stand-in predictor on a free loopback port (stopped on exit), runs gdal_translate
# on an EEMODEL: name over autotest/data/RGB.byte.tif and writes into out/:
#   out/prediction.tif   the prediction (GeoTIFF, DEFLATE, tiled, with its mask)
#   out/prediction.png   a quicklook (classifier: probabilities as RGB; ndi: colour
#                        ramp), transparent where the prediction is masked
#   out/class.png        classifier only: the class map through a colour table
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

MODEL=${1:-classify}
PYTHON=/usr/bin/python3
BUILD_DIR="${EEM_BUILD_DIR:-$repo/build}"   # EEM_BUILD_DIR: use another build tree
OUT_DIR="$repo/out"
INPUT="$repo/autotest/data/RGB.byte.tif"
SERVER_START_TIMEOUT_S=30

case "$MODEL" in
  classify)
    # Brightness-driven 3-class softmax: probs (3 float bands) + argmax class (uint8).
    MODEL_KEYS="output_bands=probs:float32:3,class:uint8;nodata=255" ;;
  ndi)
    # (green - red) / (green + red): bands 2 and 1 of the Landsat RGB subset.
    MODEL_KEYS="bands=2,1;input_array=x;output_bands=output:float32;nodata=-9999" ;;
  *)
    echo "demo.sh: unknown model '$MODEL' (use classify or ndi)" >&2; exit 2 ;;
esac

step() { printf '\n=== demo: %s\n' "$*"; }

step "installing dependencies"
bash "$repo/scripts/install-deps.sh" </dev/null

step "building the plugin into $BUILD_DIR"
bash "$repo/scripts/build.sh" "$BUILD_DIR" </dev/null

# --- the stand-in predictor, on an ephemeral port, stopped on exit ---------------
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

token="demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
step "starting the stand-in predictor"
"$PYTHON" "$repo/autotest/predictor/server.py" --port 0 --port-file "$work/port" \
  --token "$token" --log-file "$work/requests.log" >"$work/server.out" 2>&1 </dev/null &
server_pid=$!

port=""
for _ in $(seq 1 $((SERVER_START_TIMEOUT_S * 10))); do
  if [ -s "$work/port" ]; then port=$(tr -d '[:space:]' <"$work/port"); break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "demo.sh: the stand-in predictor did not start; its output:" >&2
  cat "$work/server.out" >&2
  exit 1
fi
api_root="http://127.0.0.1:$port"
echo "listening on $api_root (model '$MODEL')"

# --- predict ---------------------------------------------------------------------
export GDAL_DRIVER_PATH="$BUILD_DIR/gdalplugins"
export EEMODEL_ACCESS_TOKEN="$token"
NAME="EEMODEL:input=$INPUT;api_root=$api_root;project=demo;model=$MODEL"
NAME="$NAME;input_tile_size=128,128;input_overlap_size=8,8;$MODEL_KEYS"

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/prediction.tif "$OUT_DIR"/prediction.tif.msk "$OUT_DIR"/prediction.png \
      "$OUT_DIR"/class.png "$OUT_DIR"/*.aux.xml

step "the virtual raster (gdalinfo; opening sends no prediction)"
echo "$NAME"
gdalinfo "$NAME" | grep -E '^(Driver|Size|Pixel Size|Origin)|^Band|Description|NoData|Mask'

step "gdal_translate -> out/prediction.tif"
t0=$(date +%s%N)
# One TIFF holds one data type: the classifier's uint8 class band is stored as Float32.
gdal_translate -of GTiff -ot Float32 -co COMPRESS=DEFLATE -co TILED=YES \
  --config GDAL_TIFF_INTERNAL_MASK YES "$NAME" "$OUT_DIR/prediction.tif"
t1=$(date +%s%N)
requests=$(grep -c ':predict' "$work/requests.log" 2>/dev/null || true)
echo "predicted in $(( (t1 - t0) / 1000000 )) ms (${requests:-?} HTTP requests to the stand-in)"

step "quicklooks"
if [ "$MODEL" = classify ]; then
  # Class probabilities as an RGB composite (P(bright), P(dark), P(mid)), masked = transparent.
  gdal_translate -q -of PNG -ot Byte -a_nodata none -b 1 -b 2 -b 3 -b mask \
    -scale_1 0 1 0 255 -scale_2 0 1 0 255 -scale_3 0 1 0 255 \
    "$OUT_DIR/prediction.tif" "$OUT_DIR/prediction.png"
  colors="$work/classes.txt"
  cat >"$colors" <<'EOF'
0 240 220 130
1 30 80 150
2 60 150 60
nv 0 0 0 0
EOF
  gdaldem color-relief -q -of PNG -alpha -nearest_color_entry -b 4 \
    "$OUT_DIR/prediction.tif" "$colors" "$OUT_DIR/class.png"
else
  # Index through a colour ramp (negative: red-brown, ~0: pale, vegetation-like: green,
  # high: blue), masked = transparent.
  ramp="$work/ramp.txt"
  cat >"$ramp" <<'EOF'
-1.0 120 40 20
-0.1 200 120 60
0.0 235 225 190
0.3 90 170 70
0.6 40 110 160
1.0 10 30 110
nv 0 0 0 0
EOF
  gdaldem color-relief -q -of PNG -alpha "$OUT_DIR/prediction.tif" "$ramp" "$OUT_DIR/prediction.png"
fi
rm -f "$OUT_DIR"/*.png.aux.xml

step "summary of out/prediction.tif"
gdalinfo -stats "$OUT_DIR/prediction.tif" \
  | grep -E '^(Driver|Size|Pixel Size|Origin)|^Band|Description|Minimum=|NoData|Mask' || true
rm -f "$OUT_DIR"/prediction.tif.aux.xml

step "done"
for f in "$OUT_DIR"/prediction.tif "$OUT_DIR"/prediction.png "$OUT_DIR"/class.png; do
  [ -f "$f" ] && printf '  %-28s %s\n' "${f#"$repo"/}" "$(du -h "$f" | cut -f1)"
done
echo "Open them with any GIS (QGIS: drag and drop) or an image viewer."
