#!/usr/bin/env bash
# tools/get_nccl.sh — NCCL for the CUDA build's collectives (SPEC §9, kernels/nccl_comm.h): the
# headers and library of the `nvidia-nccl-cu12` wheel from PyPI (what `pip install` would give),
# unpacked into .nccl/ (ignored by git). The Makefile compiles the NCCL part when it finds
# .nccl/nvidia/nccl/include/nccl.h (or $NCCL_HOME/include/nccl.h) and CUDA is on; without it the
# build passes and the collectives run over MPI on host buffers.
#
#   tools/get_nccl.sh [VERSION]      e.g. tools/get_nccl.sh 2.27.7   (default: the newest)
#   make NCCL_HOME=/path/to/nccl     use an NCCL installed elsewhere (include/ and lib/ below it)
#
# Needs pip (any Python 3) and network access to PyPI; about 320 MB downloaded, 480 MB unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."
spec="nvidia-nccl-cu12${1:+==$1}"
PIP="${PIP:-$(command -v pip3 || command -v pip || true)}"
[ -n "$PIP" ] || { echo "get_nccl: pip not found (install python3-pip, or set PIP=/path/to/pip)" >&2; exit 1; }
mkdir -p .nccl/wheel
"$PIP" download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 -d .nccl/wheel "$spec"
whl=$(ls -t .nccl/wheel/nvidia_nccl_cu12-*.whl | head -n1)
python3 - "$whl" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if n.startswith("nvidia/nccl/")]
z.extractall(".nccl", names)
print("\n".join(names))
PY
# the linker's name for it (the wheel ships only the soname)
ln -sf libnccl.so.2 .nccl/nvidia/nccl/lib/libnccl.so
echo "NCCL unpacked in .nccl/nvidia/nccl ($(basename "$whl")); rebuild with: make -j2"
