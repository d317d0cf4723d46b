#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py) as one command under an 8-minute limit, from the source tree:
# for a GPU machine with torch but without this project installed.
#   bash bench/gpu_check.sh [MNIST folder or .npz] [output folder] [more gpu_check.py options]
# Defaults: data/raw/mnist, then $OUT if set, else bench/out/gpu. PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data/raw/mnist}
out=${2:-${OUT:-bench/out/gpu}}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
exec timeout 480 "${PYTHON:-python3}" bench/gpu_check.py --data "$data" --out "$out" "${@:3}"
