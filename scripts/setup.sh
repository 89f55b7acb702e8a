#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test MatrixAI. Idempotent.
set -euo pipefail

apt_packages=()
# protoc for libp2p's protobuf; gcc/g++, make and perl for the C and C++ the node vendors
# (binaryen in wasm-opt, OpenSSL, zstd, ring). No clang: without RocksDB nothing runs bindgen.
command -v protoc >/dev/null || apt_packages+=(protobuf-compiler)
command -v cc >/dev/null || apt_packages+=(gcc)
command -v c++ >/dev/null || apt_packages+=(g++)
command -v make >/dev/null || apt_packages+=(make)
command -v perl >/dev/null || apt_packages+=(perl)
if ((${#apt_packages[@]})); then
	echo "setup: installing ${apt_packages[*]}"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# The runtime compiles to wasm.
rustup target add wasm32-unknown-unknown wasm32v1-none >/dev/null
rustup component add rust-src rustfmt >/dev/null
