#!/usr/bin/env bash
# Builds the web UI's production bundle into ui/dist. `npm ci` installs the locked packages when
# node_modules is missing or older than the lockfile; either way the chain's descriptors are
# regenerated from artifacts/metadata.scale and the API's types from
# artifacts/indexer-openapi.json (one source of truth with the Rust side), then the type check
# and Vite's build run.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT/ui"
command -v npm >/dev/null || {
	echo "build-ui.sh: Node.js 20.19 or later with npm is needed (Debian: apt-get install nodejs npm)" >&2
	exit 1
}
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
else
	npm run --silent generate >/dev/null
fi
npm run --silent build
