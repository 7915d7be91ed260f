#!/usr/bin/env bash
# Builds every routing plugin in plugins/ as a WebAssembly component
# (wasm32-wasip2, release) and prints where the .wasm files are:
#   ${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/<crate_name>.wasm
# The target is installed by rust-toolchain.toml. Pass crate names to build
# only those, e.g. scripts/build-plugins.sh route-by-modality.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then
  packages=("$@")
else
  packages=()
  for manifest in plugins/*/Cargo.toml; do
    packages+=("$(basename "$(dirname "$manifest")")")
  done
fi

args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --quiet --target wasm32-wasip2 --release "${args[@]}"

out="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release"
for p in "${packages[@]}"; do
  echo "$out/${p//-/_}.wasm"
done
