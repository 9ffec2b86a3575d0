#!/usr/bin/env bash
# Installs what rotary needs, builds everything into build/ (the CUDA backend too when nvcc is
# present), installs the library, headers, CMake package and CLI (cmake --install), and the
# Python package into venv/ (pip install . through scikit-build-core; the suite's interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian: the C++ toolchain and libraries, and python3-venv for venv/ (Python packages come
# from PyPI into venv/, not from Debian).
packages=(build-essential cmake pkg-config libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
          nlohmann-json3-dev libcli11-dev libdlpack-dev python3-dev python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# venv/: PyPI's torch, NumPy, MLX, transformers, pytest, hypothesis (pyproject's `test` extra)
# and the build backend. pip is skipped when they are already there at supported versions.
[ -x venv/bin/python ] || /usr/bin/python3 -m venv venv
ready=$(venv/bin/python - <<'PY' 2>/dev/null || echo no
import numpy, torch, mlx.core, transformers, pytest, hypothesis, scikit_build_core, pybind11
major = lambda v: tuple(int(p) for p in v.split("+")[0].split(".")[:2])
print("yes" if major(numpy.__version__) >= (2, 0) and major(torch.__version__) >= (2, 5) else "no")
PY
)
if [ "$ready" != yes ]; then
  venv/bin/pip install -q --upgrade pip
  venv/bin/pip install -q "scikit-build-core>=0.10" "pybind11>=2.13"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cmake --install build

# The Python package, built by scikit-build-core in build/wheel/ (kept between runs, so a
# second run rebuilds nothing); no build isolation: the backend is already in venv/.
if [ "$ready" = yes ]; then
  venv/bin/pip install -q --no-build-isolation --no-deps .
else
  venv/bin/pip install -q --no-build-isolation ".[test]"
fi
