//! The service's configuration: flags with environment fallbacks; defaults serve a local devnet
//! (`scripts/run.sh`), where Dave is the chain's validator. The account's secret is never
//! printed or logged.

use crate::ValidatorError;
use clap::Args;
use matrixai_chain::keys::AccountSource;
use matrixai_chain::storage::StorageConfig;
use std::path::PathBuf;
use std::time::Duration;

/// The dev chains' validator.
pub const DEV_ACCOUNT: &str = "//Dave";

#[derive(Debug, Clone, Default, Args)]
pub struct Options {
    /// WebSocket RPC endpoint of a MatrixAI node. Default: ws://127.0.0.1:9944.
    #[arg(long, env = "MATRIXAI_NODE_URL")]
    pub node: Option<String>,
    /// Base URL of the indexer's HTTP API, where reports are published. Default:
    /// http://127.0.0.1:8080; `none` publishes them in the work directory only.
    #[arg(long, env = "MATRIXAI_INDEXER_URL")]
    pub indexer: Option<String>,
    /// The validator account's secret URI. Prefer --key-file: a flag shows in the process
    /// list. Default on a devnet: //Dave.
    #[arg(long, env = "MATRIXAI_VALIDATOR_ACCOUNT_URI", hide_env_values = true)]
    pub account_uri: Option<String>,
    /// A file holding the account's secret URI on its first line (mode 0600 recommended).
    #[arg(
        long,
        env = "MATRIXAI_VALIDATOR_KEY_FILE",
        conflicts_with = "account_uri"
    )]
    pub key_file: Option<PathBuf>,
    /// Where fetched bundles, datasets, judgements and reports live. Default: the data
    /// directory's `validator`.
    #[arg(long, env = "MATRIXAI_VALIDATOR_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Segments replayed per proof (the last one always among them). Default: 4.
    #[arg(long, env = "MATRIXAI_VALIDATOR_SEGMENTS", value_parser = clap::value_parser!(u32).range(1..))]
    pub segments: Option<u32>,
    /// Threads of a replay. Default: all hardware threads.
    #[arg(long, env = "MATRIXAI_VALIDATOR_THREADS")]
    pub threads: Option<usize>,
    /// Longest replay, in seconds, before the verifier process is killed. Default: 3600.
    #[arg(long, env = "MATRIXAI_VALIDATOR_TIME_LIMIT_S")]
    pub time_limit_s: Option<u64>,
    /// Address space of the verifier process, in MiB. Default: 16384.
    #[arg(long, env = "MATRIXAI_VALIDATOR_MEMORY_LIMIT_MIB")]
    pub memory_limit_mib: Option<u64>,
    /// Largest CSV dataset fetched, in MB. Default: 10000.
    #[arg(long, env = "MATRIXAI_VALIDATOR_MAX_DATASET_MB")]
    pub max_dataset_mb: Option<u64>,
    /// Read file:// bundles and datasets (a devnet on one machine). Off, a proof whose bundle
    /// is a file:// URI fails (other validators cannot read it either), and a file:// dataset
    /// is not read: URIs from the chain never open this machine's files.
    #[arg(long, env = "MATRIXAI_VALIDATOR_ALLOW_FILE_URIS")]
    pub allow_file_uris: bool,
    /// Drill every listed machine that registered a drill URL once in this many hours, to
    /// verify its claimed speed (docs/validator-guide.md, "Verified performance"); new and
    /// re-measured machines at once. 0: never drill. Default: 24.
    #[arg(long, env = "MATRIXAI_VALIDATOR_DRILL_INTERVAL_H")]
    pub drill_interval_h: Option<u64>,
    /// Verify and publish reports, but never submit a verdict.
    #[arg(long, env = "MATRIXAI_VALIDATOR_DRY_RUN")]
    pub dry_run: bool,
    /// An S3-compatible server for s3:// URIs. Default: AWS, or AWS_ENDPOINT_URL.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub s3_endpoint: Option<String>,
    /// Kubo's RPC API, for ipfs:// reads. Default: http://127.0.0.1:5001.
    #[arg(long, env = "MATRIXAI_IPFS_API")]
    pub ipfs_api: Option<String>,
    /// An IPFS HTTP gateway to read ipfs:// URIs through instead of the RPC API.
    #[arg(long, env = "MATRIXAI_IPFS_GATEWAY")]
    pub ipfs_gateway: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: String,
    /// `None`: reports stay in the work directory.
    pub indexer: Option<String>,
    pub account: AccountSource,
    pub work_dir: PathBuf,
    pub segments: u32,
    pub threads: usize,
    pub time_limit: Duration,
    pub memory_limit_bytes: u64,
    pub max_dataset_bytes: u64,
    pub dry_run: bool,
    pub allow_file_uris: bool,
    pub storage: StorageConfig,
    /// `None`: never drill.
    pub drill_interval: Option<Duration>,
}

impl Settings {
    pub fn resolve(options: &Options) -> Result<Self, ValidatorError> {
        let account = match (&options.account_uri, &options.key_file) {
            (Some(uri), _) => AccountSource::Uri(uri.clone()),
            (None, Some(path)) => AccountSource::KeyFile(path.clone()),
            (None, None) => AccountSource::Uri(DEV_ACCOUNT.into()),
        };
        let node = options
            .node
            .clone()
            .unwrap_or_else(|| "ws://127.0.0.1:9944".into());
        if !(node.starts_with("ws://") || node.starts_with("wss://")) {
            return Err(ValidatorError::Config(format!(
                "--node {node:?} is not a ws:// or wss:// URL"
            )));
        }
        let indexer = match options.indexer.as_deref() {
            Some("none") => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(url.trim_end_matches('/').to_string())
            }
            Some(other) => {
                return Err(ValidatorError::Config(format!(
                    "--indexer {other:?} is not an http(s):// URL or `none`"
                )));
            }
            None => Some("http://127.0.0.1:8080".into()),
        };
        let positive = |name: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(ValidatorError::Config(format!("{name} must be above 0"))),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let threads = match options.threads {
            Some(0) => return Err(ValidatorError::Config("--threads must be above 0".into())),
            Some(threads) => threads,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        Ok(Self {
            node,
            indexer,
            account,
            work_dir: options
                .work_dir
                .clone()
                .unwrap_or_else(|| matrixai_chain::default_data_dir().join("validator")),
            segments: options.segments.unwrap_or(4),
            threads,
            time_limit: Duration::from_secs(positive(
                "--time-limit-s",
                options.time_limit_s,
                3600,
            )?),
            memory_limit_bytes: positive(
                "--memory-limit-mib",
                options.memory_limit_mib,
                16 * 1024,
            )?
            .saturating_mul(1 << 20),
            max_dataset_bytes: positive("--max-dataset-mb", options.max_dataset_mb, 10_000)?
                .saturating_mul(1_000_000),
            dry_run: options.dry_run,
            allow_file_uris: options.allow_file_uris,
            drill_interval: match options.drill_interval_h.unwrap_or(24) {
                0 => None,
                hours => Some(Duration::from_secs(hours.saturating_mul(3600))),
            },
            storage: StorageConfig {
                s3_endpoint: options.s3_endpoint.clone(),
                s3_credentials: None,
                ipfs_api: options
                    .ipfs_api
                    .clone()
                    .unwrap_or_else(|| StorageConfig::DEFAULT_IPFS_API.into()),
                ipfs_gateway: options.ipfs_gateway.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_a_devnet_and_hide_the_secret() {
        let settings = Settings::resolve(&Options::default()).unwrap();
        assert_eq!(settings.node, "ws://127.0.0.1:9944");
        assert_eq!(settings.indexer.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(settings.segments, 4);
        assert!(!format!("{settings:?}").contains("Dave"));
        let dave = matrixai_chain::keys::account_id(&settings.account.keypair().unwrap());
        assert_eq!(
            dave,
            matrixai_chain::keys::account_id(&matrixai_chain::keys::dev_validator())
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (options, flag) in [
            (
                Options {
                    node: Some("http://127.0.0.1:9944".into()),
                    ..Options::default()
                },
                "--node",
            ),
            (
                Options {
                    indexer: Some("127.0.0.1:8080".into()),
                    ..Options::default()
                },
                "--indexer",
            ),
            (
                Options {
                    time_limit_s: Some(0),
                    ..Options::default()
                },
                "--time-limit-s",
            ),
            (
                Options {
                    threads: Some(0),
                    ..Options::default()
                },
                "--threads",
            ),
        ] {
            let error = Settings::resolve(&options).unwrap_err().to_string();
            assert!(error.contains(flag), "{error}");
        }
        let none = Settings::resolve(&Options {
            indexer: Some("none".into()),
            ..Options::default()
        })
        .unwrap();
        assert_eq!(none.indexer, None);
    }
}
