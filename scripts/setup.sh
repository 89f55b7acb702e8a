#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test MatrixAI. Idempotent.
set -euo pipefail

apt_packages=()
command -v protoc >/dev/null || apt_packages+=(protobuf-compiler)
command -v clang >/dev/null || apt_packages+=(clang libclang-dev)
if ((${#apt_packages[@]})); then
	echo "setup: installing ${apt_packages[*]}"
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# The runtime compiles to wasm.
rustup target add wasm32-unknown-unknown wasm32v1-none >/dev/null
rustup component add rust-src >/dev/null
