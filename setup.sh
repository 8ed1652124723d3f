#!/usr/bin/env bash
# Set up vecsearch on a fresh Debian/Ubuntu machine: the system data package the harness and
# tests read (Fashion-MNIST), a virtualenv in .venv, the project with every extra, and its
# compiled search kernels.
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "setup: installing Debian package dataset-fashion-mnist"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python 3.11+ is required ($PYTHON is $("$PYTHON" -V 2>&1))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "setup: installing vecsearch and its dependencies into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# Compile the search kernels into Numba's on-disk cache (__pycache__ beside the sources), so the
# first `vecsearch serve` loads them instead of compiling them: ready in seconds, not minutes.
# A few minutes the first time, seconds on a second run. VECSEARCH_SETUP_WARMUP=0 skips it.
if [ "${VECSEARCH_SETUP_WARMUP:-1}" != "0" ]; then
  echo "setup: compiling the search kernels (VECSEARCH_SETUP_WARMUP=0 skips this)"
  .venv/bin/python -m service.warmup --quiet --jobs 0
fi
echo "setup: done"
