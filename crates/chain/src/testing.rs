//! Starts `matrixai-node` processes for integration tests (feature `testing`).
//!
//! Each node gets its own temporary base path and ephemeral RPC and P2P ports; the RPC address
//! it actually bound is read from its log. The process is killed and its base path deleted when
//! the [`TestNode`] is dropped.
//!
//! The binary is `$MATRIXAI_NODE`, or else where `scripts/build-node.sh` puts it:
//! `$CARGO_TARGET_DIR/chain/release/matrixai-node` when `CARGO_TARGET_DIR` is set, otherwise
//! `${XDG_CACHE_HOME:-$HOME/.cache}/matrixai/target-chain/release/matrixai-node`.
//!
//! ```no_run
//! # async fn example() -> Result<(), matrixai_chain::testing::NodeError> {
//! use matrixai_chain::testing::TestNode;
//!
//! let node = TestNode::dev().await?; // first block already finalized
//! let client = node.client().await?;
//! # Ok(()) }
//! ```

pub use crate::devnet::MarketTiming;
use crate::{ChainClient, ChainError, ConnectOptions};
use futures::StreamExt;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subxt::rpcs::client::rpc_params;

/// How long a node may take to open its RPC server.
const RPC_STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a dev node may take to finalize its first block once its RPC server is up.
const FIRST_FINALIZED_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines kept for error messages.
const LOG_TAIL_LINES: usize = 200;

/// Why a test node could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(
        "matrixai-node not found at {}: build it with scripts/build-node.sh, or set MATRIXAI_NODE to a built binary",
        .0.display()
    )]
    BinaryMissing(PathBuf),
    #[error("cannot start {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create a base path for the node: {0}")]
    BasePath(std::io::Error),
    #[error(
        "matrixai-node ({name}) exited ({status}) before opening its RPC server; its log ends with:\n{log}"
    )]
    Exited {
        name: String,
        status: String,
        log: String,
    },
    #[error("matrixai-node ({name}) did not {what} within {after:?}; its log ends with:\n{log}")]
    Timeout {
        name: String,
        what: &'static str,
        after: Duration,
        log: String,
    },
    #[error("matrixai-node ({name}) listens on no loopback TCP address, only on {addresses:?}")]
    NoLoopbackAddress {
        name: String,
        addresses: Vec<String>,
    },
    #[error("matrixai-node ({name}): {source}; its log ends with:\n{log}")]
    Chain {
        name: String,
        source: ChainError,
        log: String,
    },
}

/// The path of the `matrixai-node` binary the tests run (see the module docs).
pub fn node_binary() -> Result<PathBuf, NodeError> {
    let path = if let Some(path) = std::env::var_os("MATRIXAI_NODE") {
        PathBuf::from(path)
    } else if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(target).join("chain/release/matrixai-node")
    } else {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        cache.join("matrixai/target-chain/release/matrixai-node")
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(NodeError::BinaryMissing(path))
    }
}

/// Which chain a [`TestNode`] runs and in which role.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    name: String,
    chain_args: Vec<String>,
    bootnodes: Vec<String>,
}

impl NodeOptions {
    /// `--dev`: the single-authority development chain (Alice authors and finalizes).
    pub fn dev() -> Self {
        Self {
            name: "dev".into(),
            chain_args: vec!["--dev".into()],
            bootnodes: Vec::new(),
        }
    }

    /// `--chain local --<authority>`: one of the local testnet's authorities, `alice` or `bob`.
    pub fn local_authority(authority: &str) -> Self {
        Self {
            name: authority.into(),
            chain_args: vec!["--chain".into(), "local".into(), format!("--{authority}")],
            bootnodes: Vec::new(),
        }
    }

    /// Connects to the node at this multiaddress (`/ip4/.../tcp/.../p2p/<peer id>`) at start.
    pub fn bootnode(mut self, multiaddr: impl Into<String>) -> Self {
        self.bootnodes.push(multiaddr.into());
        self
    }
}

/// A running `matrixai-node`, killed when dropped.
pub struct TestNode {
    name: String,
    options: NodeOptions,
    rpc_url: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    // Removed after the process is killed (fields drop after `Drop::drop`).
    base_path: tempfile::TempDir,
}

impl TestNode {
    /// Starts a `--dev` node and waits until it has finalized its first block.
    pub async fn dev() -> Result<Self, NodeError> {
        let node = Self::start(NodeOptions::dev()).await?;
        let client = node.client().await?;
        client
            .wait_for_finalized_block(1, FIRST_FINALIZED_TIMEOUT)
            .await
            .map_err(|source| node.chain_error(source))?;
        Ok(node)
    }

    /// Starts a node and waits until its RPC server accepts connections.
    pub async fn start(options: NodeOptions) -> Result<Self, NodeError> {
        let base_path = tempfile::Builder::new()
            .prefix(&format!("matrixai-node-{}-", options.name))
            .tempdir()
            .map_err(NodeError::BasePath)?;
        let (child, log, rpc_address) = spawn(&options, base_path.path(), 0)?;
        let mut node = Self {
            name: options.name.clone(),
            options,
            rpc_url: String::new(),
            child,
            log,
            base_path,
        };
        node.await_rpc(rpc_address).await?;
        Ok(node)
    }

    /// Kills the node (SIGKILL, as a crash would), keeping its base path.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the node again (killing it first if it runs) on the same base path and RPC port:
    /// the chain goes on from where it was, at the same URL.
    pub async fn restart(&mut self) -> Result<(), NodeError> {
        self.kill();
        let port = self
            .rpc_url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or(0);
        let (child, log, rpc_address) = spawn(&self.options, self.base_path.path(), port)?;
        self.child = child;
        self.log = log;
        self.await_rpc(rpc_address).await
    }

    async fn await_rpc(
        &mut self,
        rpc_address: tokio::sync::oneshot::Receiver<String>,
    ) -> Result<(), NodeError> {
        match tokio::time::timeout(RPC_STARTUP_TIMEOUT, rpc_address).await {
            Ok(Ok(address)) => {
                self.rpc_url = format!("ws://{address}");
                Ok(())
            }
            // The log ended without an RPC address: the process is exiting.
            Ok(Err(_)) => {
                let status = self
                    .child
                    .wait()
                    .map(|status| status.to_string())
                    .unwrap_or_else(|e| e.to_string());
                Err(NodeError::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log_tail(),
                })
            }
            Err(_) => Err(NodeError::Timeout {
                name: self.name.clone(),
                what: "open its RPC server",
                after: RPC_STARTUP_TIMEOUT,
                log: self.log_tail(),
            }),
        }
    }

    /// The node's WebSocket RPC URL, `ws://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// A new client connected to this node.
    pub async fn client(&self) -> Result<ChainClient, NodeError> {
        let options = ConnectOptions {
            attempts: 3,
            ..ConnectOptions::default()
        };
        ChainClient::connect_with(&self.rpc_url, options)
            .await
            .map_err(|source| self.chain_error(source))
    }

    /// The node's loopback P2P address with its peer id, for other nodes' `--bootnodes`.
    pub async fn p2p_address(&self) -> Result<String, NodeError> {
        let client = self.client().await?;
        let rpc_failed = |error: subxt::rpcs::Error| self.chain_error(error.into());
        let addresses: Vec<String> = client
            .rpc()
            .request("system_localListenAddresses", rpc_params![])
            .await
            .map_err(rpc_failed)?;
        let peer_id: String = client
            .rpc()
            .request("system_localPeerId", rpc_params![])
            .await
            .map_err(rpc_failed)?;
        // A wildcard listener (0.0.0.0) is reachable on loopback too.
        let loopback = addresses.iter().find_map(|address| {
            let tcp = address
                .strip_prefix("/ip4/127.0.0.1/tcp/")
                .or_else(|| address.strip_prefix("/ip4/0.0.0.0/tcp/"))?;
            let mut rest = tcp.split('/');
            let port = rest.next()?;
            // Plain TCP only: a WebSocket listener (`.../tcp/PORT/ws`) speaks another transport.
            if rest.next().is_some_and(|protocol| protocol != "p2p") {
                return None;
            }
            Some(format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id}"))
        });
        loopback.ok_or_else(|| NodeError::NoLoopbackAddress {
            name: self.name.clone(),
            addresses,
        })
    }

    /// The last lines the node logged.
    pub fn log_tail(&self) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wraps a client error with the node's name and log, for test failure messages.
    pub fn chain_error(&self, source: ChainError) -> NodeError {
        NodeError::Chain {
            name: self.name.clone(),
            source,
            log: self.log_tail(),
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        // Killing an already exited process fails harmlessly; `wait` reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type NodeLog = Arc<Mutex<VecDeque<String>>>;

/// Appends `line` to a process's log tail, dropping the oldest beyond [`LOG_TAIL_LINES`].
fn keep_in_tail(log: &Mutex<VecDeque<String>>, line: String) {
    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if log.len() == LOG_TAIL_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

/// Starts the node process with its RPC server on `rpc_port` (0: any free port); the receiver
/// gets the address the server bound.
fn spawn(
    options: &NodeOptions,
    base_path: &std::path::Path,
    rpc_port: u16,
) -> Result<(Child, NodeLog, tokio::sync::oneshot::Receiver<String>), NodeError> {
    let binary = node_binary()?;
    let mut command = Command::new(&binary);
    command
        .args(&options.chain_args)
        .arg("--base-path")
        .arg(base_path)
        .args(["--name", &format!("test-{}", options.name)])
        .args(["--rpc-port", &rpc_port.to_string(), "--port", "0"])
        .args([
            "--no-prometheus",
            "--no-telemetry",
            "--no-mdns",
            // Authorities outside --dev refuse to invent a network identity; test nodes are
            // throw-away, so let them.
            "--unsafe-force-node-key-generation",
            // Indexers read every block's events from its state.
            "--state-pruning",
            "archive-canonical",
        ])
        .arg("--disable-log-color");
    for bootnode in &options.bootnodes {
        command.args(["--bootnodes", bootnode]);
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NodeError::Spawn {
            path: binary.clone(),
            source,
        })?;
    let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL_LINES)));
    let (rpc_address_tx, rpc_address_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let reader_log = log.clone();
    let reader_name = options.name.clone();
    std::thread::spawn(move || follow_log(stderr, &reader_name, &reader_log, rpc_address_tx));
    Ok((child, log, rpc_address_rx))
}

/// Reads the node's log until it ends, keeping the last lines and reporting the RPC address
/// from `Running JSON-RPC server: addr=127.0.0.1:PORT,[::1]:PORT`.
fn follow_log(
    stderr: std::process::ChildStderr,
    name: &str,
    log: &Mutex<VecDeque<String>>,
    rpc_address: tokio::sync::oneshot::Sender<String>,
) {
    let mut rpc_address = Some(rpc_address);
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        tracing::debug!(target: "matrixai_node", node = name, "{line}");
        if let Some(address) = line
            .split_once("Running JSON-RPC server: addr=")
            .map(|(_, rest)| rest)
        {
            let first = address
                .split([',', ' '])
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(sender) = rpc_address.take() {
                // The receiver is gone only when the start timed out.
                let _ = sender.send(first);
            }
        }
        keep_in_tail(log, line);
    }
}

/// Signs `calls` with consecutive nonces and hands them all to the node's transaction pool
/// without waiting for blocks: a burst of transactions that fill the next blocks. Returns the
/// nonce the signer's account reaches once every call is in a block.
pub async fn submit_burst<Call: subxt::transactions::Payload>(
    client: &ChainClient,
    signer: &crate::keys::Keypair,
    calls: &[Call],
) -> Result<u64, ChainError> {
    let account = crate::keys::account_id(signer);
    let legacy =
        subxt::rpcs::LegacyRpcMethods::<subxt::config::RpcConfigFor<crate::MatrixAiConfig>>::new(
            client.rpc().clone(),
        );
    let first = legacy.system_account_next_index(&account).await?;
    // Signed offline (immortal, explicit nonces): asking the node for each transaction's nonce
    // would cost a round trip per call.
    let transactions = client.api().at_current_block().await?.transactions();
    let mut signed = Vec::with_capacity(calls.len());
    for (offset, call) in calls.iter().enumerate() {
        let params = crate::TxParamsBuilder::new()
            .nonce(first + offset as u64)
            .build();
        let mut signable = transactions
            .create_signable_offline(call, params)
            .map_err(ChainError::from)?;
        signed.push(signable.sign(signer).map_err(ChainError::from)?);
    }
    let submissions: Vec<_> = futures::stream::iter(signed.iter().map(|tx| tx.submit()))
        .buffer_unordered(32)
        .collect()
        .await;
    for submission in submissions {
        submission.map_err(ChainError::from)?;
    }
    Ok(first + calls.len() as u64)
}

/// Waits until a finalized block shows `who`'s nonce at `nonce` or above (all its transactions
/// up to there are final); returns that block's number.
pub async fn wait_for_nonce(
    client: &ChainClient,
    who: &crate::AccountId,
    nonce: u64,
    timeout: Duration,
) -> Result<u64, ChainError> {
    let wait = async {
        let mut blocks = client.api().stream_blocks().await?;
        while let Some(block) = blocks.next().await {
            let block = block?;
            let state = client.state_at(block.hash()).await?;
            let entry = state
                .at()
                .storage()
                .try_fetch(crate::runtime::storage().system().account(), (*who,))
                .await?;
            let reached = match entry {
                Some(entry) => u64::from(entry.decode()?.nonce),
                None => 0,
            };
            if reached >= nonce {
                return Ok(block.number());
            }
        }
        Err(ChainError::SubscriptionEnded("finalized blocks"))
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| ChainError::Timeout {
            what: format!("nonce {nonce} of {who} to be final"),
            after: timeout,
        })?
}

/// A binary of the root workspace (`matrixai-indexer`, `matrixai-validator`, `matrixai-client`)
/// next to the running test's directory: `cargo test --workspace` builds them all before any
/// test runs.
pub fn workspace_binary(name: &str) -> Result<PathBuf, ServiceError> {
    let exe = std::env::current_exe().map_err(|e| ServiceError::Spawn {
        name: name.into(),
        source: e,
    })?;
    // target/PROFILE/deps/TEST-HASH → target/PROFILE/NAME
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    if path.is_file() {
        Ok(path)
    } else {
        Err(ServiceError::BinaryMissing(path))
    }
}

/// Why a service process could not be started or did not say what it was waited for.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(
        "{} not found: build the workspace's binaries (cargo build --release --workspace)",
        .0.display()
    )]
    BinaryMissing(PathBuf),
    #[error("cannot start {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} did not log {text:?} within {after:?}; its log ends with:\n{log}")]
    Silent {
        name: String,
        text: String,
        after: Duration,
        log: String,
    },
}

/// A service under test (indexer, validator, agent) in its own process: its stdout and stderr
/// followed line by line and echoed to the test's output under its name, a tail kept for error
/// messages, killed when dropped.
pub struct ServiceProcess {
    name: String,
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    log: NodeLog,
}

impl ServiceProcess {
    /// Starts `command` (its stdin closed, its output piped) as `name`.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self, ServiceError> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ServiceError::Spawn {
                name: name.into(),
                source,
            })?;
        let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
        let log: NodeLog = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL_LINES)));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers: [Box<dyn std::io::Read + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
        for reader in readers {
            let (sender, log, name) = (sender.clone(), log.clone(), name.to_string());
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[{name}] {line}");
                    keep_in_tail(&log, line.clone());
                    let _ = sender.send(line);
                }
            });
        }
        Ok(Self {
            name: name.into(),
            child,
            lines,
            log,
        })
    }

    /// Waits up to `after` for the next line containing `text` (earlier lines are passed over)
    /// and returns it.
    pub async fn wait_for_line(
        &mut self,
        text: &str,
        after: Duration,
    ) -> Result<String, ServiceError> {
        let found = tokio::time::timeout(after, async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(text) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => Ok(line),
            _ => Err(ServiceError::Silent {
                name: self.name.clone(),
                text: text.into(),
                after,
                log: self.log_tail(),
            }),
        }
    }

    /// The last lines it logged.
    pub fn log_tail(&self) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Kills it at once (SIGKILL: no clean-up, as a crash or a power cut).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
