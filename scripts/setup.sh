#!/usr/bin/env bash
# Installs what rotary needs from Debian's archive, builds everything (the CUDA backend too
# when nvcc is present) into build/, and installs the library, headers, CLI and Python package.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
          nlohmann-json3-dev libcli11-dev pybind11-dev libdlpack-dev python3-dev python3-numpy
          python3-torch python3-pytest)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=/usr/bin/python3
cmake --build build -j"$(nproc)"
cmake --install build
