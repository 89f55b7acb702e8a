#!/usr/bin/env bash
# Builds and starts the whole marketplace on this machine: a development chain (Alice authors
# blocks; every block's state is kept, which the indexer reads), the indexer on SQLite, the
# validator service (Dave) and a trainer agent sharing this machine (Bob). It waits until each
# part is ready, prints where everything is, writes each part's log under the run directory and
# stops everything on Ctrl-C.
#
#   scripts/run.sh                 # the marketplace, fresh, under ~/.local/share/matrixai/devnet
#   scripts/run.sh --multi-node    # two authorities (Alice, Bob) peered on loopback, two trainer
#                                  # agents (Bob, Eve), one validator (Dave)
#   scripts/run.sh --node-only     # just the development chain
#   MATRIXAI_RUN_DIR=/tmp/mx scripts/run.sh
#
# Ports (environment): MATRIXAI_RPC_PORT (9944), MATRIXAI_P2P_PORT (30333),
# MATRIXAI_P2P_WS_PORT (30433: the first node's p2p over WebSocket, the bootnode of the web UI's
# light client), MATRIXAI_API (127.0.0.1:8080: the API and the web UI), MATRIXAI_AGENT_STATUS
# (127.0.0.1:8090).
#
# A devnet is disposable: each start wipes the run directory (chain, index, work directories).
set -euo pipefail
source "$(dirname "$0")/env.sh"

mode=marketplace
for arg in "$@"; do
	case "$arg" in
	--node-only) mode=node-only ;;
	--multi-node) mode=multi-node ;;
	-h | --help)
		sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
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
if [[ $mode == node-only ]]; then
	exec "$MATRIXAI_NODE" --dev --state-pruning archive-canonical
fi

echo "== building the indexer, the validator and the trainer agent"
# The whole workspace with its tests, exactly as `scripts/test.sh` builds it: the binaries then
# share that build (building them alone would unify other features and compile the
# dependencies a second time).
(cd "$REPO_ROOT" && CARGO_TARGET_DIR="$ROOT_TARGET_DIR" cargo build --locked --release --workspace --tests)
BIN="$ROOT_TARGET_DIR/release"
echo "== building the web UI"
"$REPO_ROOT/scripts/build-ui.sh"

RUN_DIR="${MATRIXAI_RUN_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/matrixai/devnet}"
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/storage"
RPC_PORT="${MATRIXAI_RPC_PORT:-9944}"
P2P_PORT="${MATRIXAI_P2P_PORT:-30333}"
P2P_WS_PORT="${MATRIXAI_P2P_WS_PORT:-30433}"
API="${MATRIXAI_API:-127.0.0.1:8080}"
AGENT_STATUS="${MATRIXAI_AGENT_STATUS:-127.0.0.1:8090}"

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

echo "== starting the marketplace under $RUN_DIR ($mode)"
NODE_FLAGS=(--state-pruning archive-canonical --no-telemetry --no-prometheus --disable-log-color)
# The first node's p2p: TCP for nodes, WebSocket for browsers (smoldot).
LISTEN=(--listen-addr "/ip4/0.0.0.0/tcp/$P2P_PORT" --listen-addr "/ip4/0.0.0.0/tcp/$P2P_WS_PORT/ws")
peer_id() { grep -o 'Local node identity is: [0-9A-Za-z]*' "$RUN_DIR/logs/$1.log" | head -n 1 | awk '{print $NF}'; }
if [[ $mode == multi-node ]]; then
	# The local testnet's two authorities: GRANDPA finalizes only with both, so every finalized
	# block proves they talk. Throw-away network identities, as for a devnet.
	CHAIN=local FIRST_NODE=alice
	start alice "$MATRIXAI_NODE" --chain local --alice --base-path "$RUN_DIR/alice" \
		--rpc-port "$RPC_PORT" "${LISTEN[@]}" --unsafe-force-node-key-generation "${NODE_FLAGS[@]}"
	wait_for alice 120 logged alice "Local node identity is"
	ALICE_PEER=$(peer_id alice)
	start bob "$MATRIXAI_NODE" --chain local --bob --base-path "$RUN_DIR/bob" \
		--rpc-port "$((RPC_PORT + 1))" --port "$((P2P_PORT + 1))" --unsafe-force-node-key-generation \
		--bootnodes "/ip4/127.0.0.1/tcp/$P2P_PORT/p2p/$ALICE_PEER" "${NODE_FLAGS[@]}"
	wait_for bob 120 port_open "$((RPC_PORT + 1))"
	VALIDATOR_NODE="ws://127.0.0.1:$((RPC_PORT + 1))"
else
	CHAIN=dev FIRST_NODE=node
	start node "$MATRIXAI_NODE" --dev --base-path "$RUN_DIR/node" --rpc-port "$RPC_PORT" "${LISTEN[@]}" "${NODE_FLAGS[@]}"
	wait_for node 120 port_open "$RPC_PORT"
	VALIDATOR_NODE="ws://127.0.0.1:$RPC_PORT"
fi
# The chain spec a browser's light client starts from: the running chain's, with the first
# node's WebSocket p2p listener as its bootnode (the indexer serves it at /api/chain-spec).
wait_for "$FIRST_NODE" 120 logged "$FIRST_NODE" "Local node identity is"
BOOTNODE="/ip4/127.0.0.1/tcp/$P2P_WS_PORT/ws/p2p/$(peer_id "$FIRST_NODE")"
"$MATRIXAI_NODE" build-spec --chain "$CHAIN" --raw --disable-default-bootnode 2>"$RUN_DIR/logs/build-spec.log" |
	sed "s|\"bootNodes\": \[\]|\"bootNodes\": [\"$BOOTNODE\"]|" >"$RUN_DIR/chain-spec.json"
grep -q "$BOOTNODE" "$RUN_DIR/chain-spec.json" || {
	echo "run.sh: could not write the light client's chain spec; see $RUN_DIR/logs/build-spec.log" >&2
	exit 1
}
# Plain log files: the off-chain parts honour NO_COLOR.
export MATRIXAI_NODE_URL="ws://127.0.0.1:$RPC_PORT" MATRIXAI_INDEXER_URL="http://$API" NO_COLOR=1

# Real hours (1 200 blocks), 5-minute judging rounds and a 2-minute dispute window, so that an
# order is paid minutes after its proof (a day on a real network). Final only once the
# authorities finalize together.
if ! "$BIN/matrixai-client" devnet-timing >"$RUN_DIR/logs/devnet-timing.log" 2>&1; then
	echo "run.sh: setting the devnet's market clock failed:" >&2
	cat "$RUN_DIR/logs/devnet-timing.log" >&2
	exit 1
fi
echo "   $(tail -n 1 "$RUN_DIR/logs/devnet-timing.log")"

start indexer "$BIN/matrixai-indexer" --database "sqlite://$RUN_DIR/indexer.db" --listen "$API" \
	--ui-dir "$REPO_ROOT/ui/dist" --chain-spec "$RUN_DIR/chain-spec.json"
wait_for indexer 120 http_ok "$API/health"

# One machine: the agents' bundles are files the validator may read.
start validator "$BIN/matrixai-validator" run --node "$VALIDATOR_NODE" \
	--work-dir "$RUN_DIR/validator" --allow-file-uris
wait_for validator 120 logged validator "validator started"

# start_agent NAME ACCOUNT NODE STATUS_ADDRESS: a trainer agent sharing this machine at 1 MAI an
# hour, its bundles in the run directory's storage.
AGENTS=()
start_agent() {
	start "agent-$1" "$BIN/matrixai-client" run --account-uri "$2" --node "$3" \
		--work-dir "$RUN_DIR/agent-$1" --storage "file://$RUN_DIR/storage" --status-listen "$4" \
		--price-per-hour 1
	AGENTS+=("$1")
}
start_agent bob //Bob "ws://127.0.0.1:$RPC_PORT" "$AGENT_STATUS"
if [[ $mode == multi-node ]]; then
	start_agent eve //Eve "ws://127.0.0.1:$((RPC_PORT + 1))" "${AGENT_STATUS%:*}:$((${AGENT_STATUS##*:} + 1))"
fi
for agent in "${AGENTS[@]}"; do
	wait_for "agent-$agent" 600 logged "agent-$agent" "machine shared"
done
machine_of() { grep -o 'machine=[0-9a-f-]*' "$RUN_DIR/logs/agent-$1.log" | head -n 1 | cut -d= -f2; }

echo
echo "MatrixAI is running ($mode). Ctrl-C stops every part."
echo
echo "  web UI         http://$API/"
echo "  chain RPC      ws://127.0.0.1:$RPC_PORT   (polkadot-js apps: https://polkadot.js.org/apps/?rpc=ws://127.0.0.1:$RPC_PORT)"
if [[ $mode == multi-node ]]; then
	echo "                 ws://127.0.0.1:$((RPC_PORT + 1))   (Bob's node, which the validator follows)"
fi
echo "  API            http://$API/api/...   (OpenAPI page: http://$API/docs)"
echo "  light client   chain spec http://$API/api/chain-spec, bootnode $BOOTNODE"
for agent in "${AGENTS[@]}"; do
	echo "  agent $agent      machine $(machine_of "$agent")"
done
echo "  agent status   http://$AGENT_STATUS/status"
echo "  logs           $RUN_DIR/logs/"
echo
echo "  dev accounts   Alice (sudo), Bob$([[ $mode == multi-node ]] && echo " and Eve") (trainer agents on this machine), Dave (the validator),"
echo "                 Charlie and Ferdie (buyers); secret URIs //Alice … //Ferdie"
echo
echo "  Place an order from a second terminal (it signs as //Charlie; docs/tutorial.md):"
echo "    $BIN/matrixai-client market"
echo "    $BIN/matrixai-client order place --machine $(machine_of bob) --hours 1 \\"
echo "        --spec crates/pot/specs/iris-softmax.json --wait"
echo
wait -n "${pids[@]}" || true
echo "run.sh: a part stopped; see $RUN_DIR/logs" >&2
exit 1
