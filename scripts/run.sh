#!/usr/bin/env bash
# Builds and starts the whole marketplace on this machine: a development chain (Alice authors
# blocks; every block's state is kept, which the indexer reads), the indexer on SQLite, the
# validator service (Dave) and a trainer agent sharing this machine (Bob). It waits until each
# part is ready, prints where everything is, writes each part's log under the run directory and
# stops everything on Ctrl-C.
#
#   scripts/run.sh                 # the marketplace, fresh, under ~/.local/share/matrixai/devnet
#   scripts/run.sh --node-only     # just the development chain, as before
#   MATRIXAI_RUN_DIR=/tmp/mx scripts/run.sh
#
# A devnet is disposable: each start wipes the run directory (chain, index, work directories).
set -euo pipefail
source "$(dirname "$0")/env.sh"

node_only=false
for arg in "$@"; do
	case "$arg" in
	--node-only) node_only=true ;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "run.sh: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/scripts/build-node.sh"
if $node_only; then
	exec "$MATRIXAI_NODE" --dev --state-pruning archive-canonical
fi

echo "== building the indexer, the validator and the trainer agent"
# The whole workspace with its tests, exactly as `scripts/test.sh` builds it: the binaries then
# share that build (building them alone would unify other features and compile the
# dependencies a second time).
(cd "$REPO_ROOT" && CARGO_TARGET_DIR="$ROOT_TARGET_DIR" cargo build --locked --release --workspace --tests)
BIN="$ROOT_TARGET_DIR/release"

RUN_DIR="${MATRIXAI_RUN_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/matrixai/devnet}"
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/storage"
RPC_PORT=9944
API=127.0.0.1:8080
AGENT_STATUS=127.0.0.1:8090

pids=()
stop() {
	# A second Ctrl-C while the parts stop does not cut the stopping short.
	trap '' INT TERM
	trap - EXIT
	echo
	echo "== stopping"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -INT "${pids[i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	echo "stopped; logs are in $RUN_DIR/logs"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# start NAME COMMAND...: runs a part in the background, its output in logs/NAME.log.
start() {
	local name="$1"
	shift
	"$@" >"$RUN_DIR/logs/$name.log" 2>&1 &
	pids+=("$!")
}

# wait_for NAME SECONDS TEST...: polls TEST until it succeeds; fails with the part's log tail
# if the part exits or the time passes.
wait_for() {
	local name="$1" seconds="$2" pid="${pids[-1]}"
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
			echo "run.sh: $name did not become ready; the end of $RUN_DIR/logs/$name.log:" >&2
			tail -n 20 "$RUN_DIR/logs/$name.log" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "   $name ready"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
logged() { grep -q "$2" "$RUN_DIR/logs/$1.log"; }
http_ok() {
	local host="${1%%/*}" path="/${1#*/}"
	exec 3<>"/dev/tcp/${host%:*}/${host#*:}" || return 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$host" >&3
	head -n 1 <&3 | grep -q " 200 "
}

echo "== starting the marketplace under $RUN_DIR"
start node "$MATRIXAI_NODE" --dev --state-pruning archive-canonical --base-path "$RUN_DIR/node" \
	--rpc-port "$RPC_PORT" --no-telemetry --disable-log-color
wait_for node 120 port_open "$RPC_PORT"
# Plain log files: the off-chain parts honour NO_COLOR.
export MATRIXAI_NODE_URL="ws://127.0.0.1:$RPC_PORT" MATRIXAI_INDEXER_URL="http://$API" NO_COLOR=1

start indexer "$BIN/matrixai-indexer" --database "sqlite://$RUN_DIR/indexer.db" --listen "$API"
wait_for indexer 120 http_ok "$API/health"

# One machine: the agent's bundles are files the validator may read.
start validator "$BIN/matrixai-validator" run --work-dir "$RUN_DIR/validator" --allow-file-uris
wait_for validator 120 logged validator "validator started"

start agent "$BIN/matrixai-client" run --work-dir "$RUN_DIR/agent" \
	--storage "file://$RUN_DIR/storage" --status-listen "$AGENT_STATUS"
wait_for agent 600 logged agent "machine shared"

cat <<EOF

MatrixAI is running. Ctrl-C stops every part.

  chain RPC      ws://127.0.0.1:$RPC_PORT   (polkadot-js apps: https://polkadot.js.org/apps/?rpc=ws://127.0.0.1:$RPC_PORT)
  API            http://$API/api/...
  OpenAPI        http://$API/docs
  trainer agent  http://$AGENT_STATUS/status   ($(grep -o 'machine=[0-9a-f-]*' "$RUN_DIR/logs/agent.log" | head -n 1))
  logs           $RUN_DIR/logs/{node,indexer,validator,agent}.log

  dev accounts   Alice (sudo, block author), Bob (the trainer sharing this machine),
                 Charlie and Eve (buyers), Dave (the validator); secret URIs //Alice … //Ferdie

EOF
wait -n "${pids[@]}" || true
echo "run.sh: a part stopped; see $RUN_DIR/logs" >&2
exit 1
