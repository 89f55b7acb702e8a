//! # matrixai-e2e
//!
//! The whole marketplace under test, every part a real process started as an operator starts
//! it: `matrixai-node` (one dev node, or the local testnet's two authorities), `matrixai-indexer`
//! on SQLite, `matrixai-validator`s, `matrixai-client run` agents, and the buyer's
//! `matrixai-client order …` commands. The tests live in `tests/`; this library starts the
//! parts, follows the chain's events and keeps the books of every account a test watches.
//!
//! The workspace's binaries are found next to the test binary (`cargo test --workspace` builds
//! them all first); the node as `matrixai_chain::testing` finds it.

use futures::{Stream, StreamExt};
use matrixai_chain::devnet::MarketTiming;
use matrixai_chain::keys::dev;
use matrixai_chain::testing::{NodeOptions, ServiceProcess, TestNode, workspace_binary};
use matrixai_chain::{
    AccountId, Balance, ChainClient, ChainError, MachineId, MarketEvent, OrderId, ids, runtime,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a part may take to say it is ready (an agent measures its machine first).
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// A running marketplace: its nodes, the indexer following the first one, a working directory.
pub struct Network {
    pub nodes: Vec<TestNode>,
    /// A client of the first node.
    pub client: ChainClient,
    /// The indexer's base URL.
    pub api: String,
    pub dir: tempfile::TempDir,
    _indexer: ServiceProcess,
}

impl Network {
    /// One dev node (Alice authors, Dave validates) with the market's clock at `timing`.
    pub async fn dev(timing: MarketTiming) -> Self {
        Self::start(vec![TestNode::dev().await.expect("a dev node")], timing).await
    }

    /// The local testnet: Alice's and Bob's authority nodes peered on loopback.
    pub async fn two_authorities(timing: MarketTiming) -> Self {
        let alice = TestNode::start(NodeOptions::local_authority("alice"))
            .await
            .expect("Alice's node");
        let address = alice.p2p_address().await.expect("Alice's P2P address");
        let bob = TestNode::start(NodeOptions::local_authority("bob").bootnode(address))
            .await
            .expect("Bob's node");
        bob.client()
            .await
            .expect("a client of Bob's node")
            .wait_for_finalized_block(2, Duration::from_secs(120))
            .await
            .expect("Alice and Bob finalize together");
        Self::start(vec![alice, bob], timing).await
    }

    async fn start(nodes: Vec<TestNode>, timing: MarketTiming) -> Self {
        let client = nodes[0].client().await.expect("a client of the first node");
        timing
            .apply(&client, &dev::alice())
            .await
            .expect("the market's clock set with the sudo key");
        let dir = tempfile::tempdir().expect("a working directory");
        let mut command = service_command("matrixai-indexer");
        command
            .args(["--node", nodes[0].rpc_url(), "--listen", "127.0.0.1:0"])
            .arg("--database")
            .arg(format!(
                "sqlite://{}",
                dir.path().join("indexer.db").display()
            ));
        let mut indexer = ServiceProcess::spawn("indexer", command).expect("the indexer starts");
        let line = indexer
            .wait_for_line("indexer API listening", READY_TIMEOUT)
            .await
            .expect("the indexer listens");
        let address = field(&line, "address").expect("the indexer logs its address");
        Self {
            nodes,
            client,
            api: format!("http://{address}"),
            dir,
            _indexer: indexer,
        }
    }

    /// A validator service signing as `account` (a dev URI), connected to node `node`, replaying
    /// `segments` segments per proof; started (its work directory kept across restarts).
    pub async fn validator(&self, node: usize, account: &str, segments: u32) -> ServiceProcess {
        let name = account.trim_start_matches("//").to_lowercase();
        let mut command = service_command("matrixai-validator");
        command
            .args([
                "run",
                "--node",
                self.nodes[node].rpc_url(),
                "--indexer",
                &self.api,
            ])
            .arg("--work-dir")
            .arg(self.validator_dir(account))
            .args(["--segments", &segments.to_string(), "--threads", "2"])
            // Agents store their bundles as files on this machine.
            .arg("--allow-file-uris")
            .env("MATRIXAI_VALIDATOR_ACCOUNT_URI", account);
        let mut process = ServiceProcess::spawn(&format!("validator {name}"), command)
            .expect("the validator starts");
        process
            .wait_for_line("validator started", READY_TIMEOUT)
            .await
            .expect("the validator follows the chain");
        process
    }

    /// The work directory of `account`'s validator.
    pub fn validator_dir(&self, account: &str) -> PathBuf {
        let name = account.trim_start_matches("//").to_lowercase();
        self.dir.path().join(format!("validator-{name}"))
    }

    /// A trainer agent (`matrixai-client run`) for `account`, connected to node `node`, its
    /// machine listed at 1 MAI an hour; `extra` flags are appended. Returns once the machine is
    /// shared, with its id.
    pub async fn agent(
        &self,
        node: usize,
        account: &str,
        extra: &[&str],
    ) -> (ServiceProcess, MachineId) {
        let name = account.trim_start_matches("//").to_lowercase();
        let mut command = service_command("matrixai-client");
        command
            .args(["--node", self.nodes[node].rpc_url(), "--indexer", &self.api])
            .arg("--work-dir")
            .arg(self.dir.path().join(format!("agent-{name}")))
            .args(["--account-uri", account, "--price-per-hour", "1"])
            .args(["--status-listen", "127.0.0.1:0"])
            .args(extra)
            .arg("run");
        let mut process =
            ServiceProcess::spawn(&format!("agent {name}"), command).expect("the agent starts");
        let line = process
            .wait_for_line("machine shared", READY_TIMEOUT)
            .await
            .expect("the agent shares its machine");
        let machine = field(&line, "machine")
            .and_then(ids::parse_uuid)
            .expect("the agent logs its machine id");
        (process, machine)
    }

    /// Runs `matrixai-client ARGS` against the first node and the indexer as the buyer would
    /// (//Charlie unless ARGS name another account); returns its standard output, or panics
    /// with its error output when it fails.
    pub async fn buyer(&self, args: &[&str]) -> String {
        let output = self
            .buyer_command(args)
            .output()
            .await
            .expect("matrixai-client runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "matrixai-client {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `order place` of `spec` on `machine` for `hours` with more `flags` (`--wait`, another
    /// `--account-uri` than //Charlie); returns the command's output.
    pub async fn place_order(
        &self,
        machine: &MachineId,
        hours: u32,
        spec: &Path,
        flags: &[&str],
    ) -> String {
        let (machine, hours) = (ids::uuid(machine), hours.to_string());
        let spec = spec.to_str().expect("a UTF-8 path");
        let args: Vec<&str> = ["order", "place", "--machine", &machine, "--hours", &hours]
            .into_iter()
            .chain(["--spec", spec])
            .chain(flags.iter().copied())
            .collect();
        self.buyer(&args).await
    }

    /// The buyer's command ([`Self::buyer`]), to start in the background.
    pub fn buyer_command(&self, args: &[&str]) -> tokio::process::Command {
        let binary = workspace_binary("matrixai-client").expect("matrixai-client is built");
        let mut command = tokio::process::Command::new(binary);
        command
            .args(["--node", self.nodes[0].rpc_url(), "--indexer", &self.api])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("MATRIXAI_ACCOUNT_URI")
            .env_remove("MATRIXAI_CLIENT_CONFIG")
            // No configuration file of the person running the tests.
            .env("XDG_CONFIG_HOME", self.dir.path())
            .kill_on_drop(true);
        command
    }

    /// Writes `spec` (JSON) to a file for `order place --spec`.
    pub fn spec_file(&self, name: &str, spec: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, spec).expect("the spec file is written");
        path
    }
}

/// A workspace binary as a service: info logs without colours, no configuration file of the
/// person running the tests.
fn service_command(name: &str) -> std::process::Command {
    let binary = workspace_binary(name).unwrap_or_else(|e| panic!("{e}"));
    let mut command = std::process::Command::new(binary);
    command
        .env("RUST_LOG", "info,sqlx=warn")
        .env("NO_COLOR", "1")
        .env_remove("MATRIXAI_CLIENT_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    command
}

/// The value of `key=VALUE` in a log line.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// The order id in `order place`'s first line, `order UUID placed in block #N`.
pub fn placed_order_id(stdout: &str) -> OrderId {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("order ")?.split_whitespace().next())
        .and_then(ids::parse_uuid)
        .unwrap_or_else(|| panic!("no order id in {stdout:?}"))
}

/// Follows `events` until `matcher` returns something (bounded: panics after `timeout`).
pub async fn next_event<T>(
    events: &mut (impl Stream<Item = Result<MarketEvent, ChainError>> + Unpin),
    timeout: Duration,
    mut matcher: impl FnMut(&MarketEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(timeout, async {
        while let Some(event) = events.next().await {
            let event = event.expect("finalized events");
            if let Some(found) = matcher(&event) {
                return found;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .unwrap_or_else(|_| panic!("no awaited event within {timeout:?}"))
}

/// Every balance a test watches, from an opening block: at any later block, an account's total
/// (free and held) must be its opening total plus what the test expects to have moved, minus
/// the fees the chain says it paid in between (`TransactionPayment::TransactionFeePaid`).
pub struct Books {
    client: ChainClient,
    opened_at: u64,
    opening: BTreeMap<AccountId, Balance>,
}

impl Books {
    /// Opens the books at the latest finalized block.
    pub async fn open(client: &ChainClient, accounts: &[AccountId]) -> Self {
        let state = client.finalized_state().await.expect("finalized state");
        let mut opening = BTreeMap::new();
        for account in accounts {
            let balance = state.balance(account).await.expect("a balance");
            opening.insert(account.clone(), balance.total());
        }
        Self {
            client: client.clone(),
            opened_at: state.block_number(),
            opening,
        }
    }

    /// Asserts that `who`'s total at `block` is its opening total plus `moved`, less its fees.
    pub async fn assert_moved(&self, who: &AccountId, block: u64, moved: i128, what: &str) {
        let hash = self
            .client
            .finalized_block_hash(block)
            .await
            .expect("a block hash")
            .expect("the block is finalized");
        let total = self
            .client
            .state_at(hash)
            .await
            .expect("state")
            .balance(who)
            .await
            .expect("a balance")
            .total();
        let fees = self.fees_paid(who, block).await;
        let opening = self.opening[who];
        assert_eq!(
            total as i128,
            opening as i128 + moved - fees as i128,
            "{what}: {} at block #{block} (opened with {opening}, fees {fees})",
            ids::account(who)
        );
    }

    /// The fees `who` paid in the blocks after the opening, up to `block`.
    async fn fees_paid(&self, who: &AccountId, block: u64) -> Balance {
        let mut fees = 0;
        for number in self.opened_at + 1..=block {
            let hash = self
                .client
                .finalized_block_hash(number)
                .await
                .expect("a block hash")
                .expect("the block is finalized");
            let events = self
                .client
                .api()
                .at_block(hash)
                .await
                .expect("the block")
                .events()
                .fetch()
                .await
                .expect("the block's events");
            fees += events
                .find::<runtime::transaction_payment::events::TransactionFeePaid>()
                .filter_map(Result::ok)
                .filter(|fee| &fee.who == who)
                .map(|fee| fee.actual_fee + fee.tip)
                .sum::<Balance>();
        }
        fees
    }
}

/// Files in `dir`, none when it does not exist.
pub fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}
