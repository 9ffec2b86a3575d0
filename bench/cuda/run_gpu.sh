#!/bin/bash
# One GPU session: build only the CUDA targets, run the GPU tests, then the benchmarks.
# Logs land in $OUT (the device tool brings them back). Dependencies the GPU image may lack
# (Highway, nlohmann-json, GoogleTest, pkg-config) travel in .devdeps, copied from this
# machine's Debian packages (see docs/PERFORMANCE.md, CUDA, "Reproducing").
set -u
OUT=${OUT:-/tmp/rotary-gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
START=$SECONDS
echo "== machine"; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
$NVCC --version | tail -1; cmake --version | head -1; g++ --version | head -1; python3 -c 'import torch; print("torch", torch.__version__)'
DEPS=$PWD/.devdeps/usr
for t in pkg-config; do command -v $t >/dev/null || { echo "missing $t: using carried"; export PATH=$DEPS/bin:$PATH LD_LIBRARY_PATH=$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}; }; done
export PKG_CONFIG_PATH=$DEPS/lib/x86_64-linux-gnu/pkgconfig:$DEPS/share/pkgconfig:${PKG_CONFIG_PATH:-}
pkg-config --exists libhwy && echo "libhwy: $(pkg-config --modversion libhwy)"

echo "== configure + build ($((SECONDS - START)) s)"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DROTARY_BUILD_PYTHON=OFF -DROTARY_BUILD_TOOLS=OFF \
  -DROTARY_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_PREFIX_PATH="$DEPS" \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
grep -E "CUDA backend|GTest" "$OUT/configure.log"
cmake --build build-gpu -j16 --target rotary_cuda_tests rope_cuda_bench fused_cuda_bench > "$OUT/build.log" 2>&1 ||
  { grep -E "error|Error" -A3 "$OUT/build.log" | head -60; exit 1; }
export LD_LIBRARY_PATH=$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}

echo "== GPU tests ($((SECONDS - START)) s)"
timeout 240 ./build-gpu/tests/cuda/rotary_cuda_tests --gtest_brief=1 2>&1 | tail -60
echo "tests exit: ${PIPESTATUS[0]}"

if [ -z "${SKIP_BENCH:-}" ]; then  # SKIP_BENCH=1: tests only
  echo "== benchmark ($((SECONDS - START)) s)"
  timeout 150 ./build-gpu/bench/cuda/rope_cuda_bench 2>&1 | tee "$OUT/bench.md"
  echo "== fused paths ($((SECONDS - START)) s)"
  timeout 150 ./build-gpu/bench/cuda/fused_cuda_bench 2>&1 | tee "$OUT/fused_bench.md"
  echo "== PyTorch eager HF-style ($((SECONDS - START)) s)"
  PYTHONUNBUFFERED=1 timeout 120 python3 bench/cuda/torch_hf_bench.py 2>&1 | tee "$OUT/torch.md"
fi
echo "== Python package with CUDA torch tensors ($((SECONDS - START)) s)"
PY=$(command -v python3)
cmake -S . -B build-gpu -DROTARY_BUILD_PYTHON=ON -DPython3_EXECUTABLE="$PY" \
  -Dpybind11_DIR="$($PY -m pybind11 --cmakedir)" -DDLPACK_INCLUDE_DIR="$DEPS/include" \
  > "$OUT/configure-py.log" 2>&1 || tail -20 "$OUT/configure-py.log"
cmake --build build-gpu -j16 --target _rotary > "$OUT/build-py.log" 2>&1 ||
  grep -E "error" -A3 "$OUT/build-py.log" | head -30
PYTHONPATH=build-gpu/python timeout 150 $PY -m pytest -q -p no:cacheprovider -rs python/tests 2>&1 | tail -25
echo "== done ($((SECONDS - START)) s)"
