//! The agent's configuration: a TOML file, overridden by environment variables, overridden by
//! flags; defaults serve a local devnet (`scripts/run.sh`). The account's secret is read from
//! the configuration or a key file and never printed or logged.

use crate::ClientError;
use clap::Args;
pub use matrixai_chain::keys::AccountSource;
use matrixai_chain::storage::StorageConfig;
use matrixai_chain::{Balance, UNIT};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The secret URI of the dev account a devnet agent signs with when none is configured (Bob:
/// Alice is the chain's sudo, Dave its validator).
pub const DEV_ACCOUNT: &str = "//Bob";
/// The dev account a devnet buyer's commands sign with when none is configured.
pub const DEV_BUYER_ACCOUNT: &str = "//Charlie";
/// The dev chain's sudo key, for `devnet-timing` when no account is configured.
pub const DEV_SUDO_ACCOUNT: &str = "//Alice";

/// Flags shared by every subcommand, each with an environment fallback. Unset ones come from
/// the configuration file, then from the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct Options {
    /// TOML configuration file. Default: $XDG_CONFIG_HOME/matrixai/client.toml or
    /// ~/.config/matrixai/client.toml, when it exists.
    #[arg(long, env = "MATRIXAI_CLIENT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// WebSocket RPC endpoint of a MatrixAI node. Default: ws://127.0.0.1:9944.
    #[arg(long, env = "MATRIXAI_NODE_URL", global = true)]
    pub node: Option<String>,
    /// Base URL of the indexer's HTTP API. Default: http://127.0.0.1:8080.
    #[arg(long, env = "MATRIXAI_INDEXER_URL", global = true)]
    pub indexer: Option<String>,
    /// The account's secret URI (mnemonic or 0x seed, optionally with //junctions). Prefer
    /// --key-file: a flag shows in the process list. Default on a devnet: //Bob.
    #[arg(
        long,
        env = "MATRIXAI_ACCOUNT_URI",
        hide_env_values = true,
        global = true
    )]
    pub account_uri: Option<String>,
    /// A file holding the account's secret URI on its first line (mode 0600 recommended).
    #[arg(long, env = "MATRIXAI_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// Price asked per hour of training, in tokens (decimals allowed). Default: 10.
    #[arg(long, env = "MATRIXAI_PRICE_PER_HOUR", global = true)]
    pub price_per_hour: Option<String>,
    /// Longest order accepted, in hours. Default: 24.
    #[arg(long, env = "MATRIXAI_MAX_DURATION_HOURS", global = true)]
    pub max_duration_hours: Option<u32>,
    /// Disk space offered to an order's data, model and proof, in GB. Default: 10.
    #[arg(long, env = "MATRIXAI_DISK_GB", global = true)]
    pub disk_gb: Option<u32>,
    /// Where the machine is, as the market filters it (e.g. eu-west). Default: local.
    #[arg(long, env = "MATRIXAI_REGION", global = true)]
    pub region: Option<String>,
    /// Where orders' data, checkpoints and state live. Default: the data directory's `client`.
    #[arg(long, env = "MATRIXAI_WORK_DIR", global = true)]
    pub work_dir: Option<PathBuf>,
    /// Where models and proof bundles are uploaded: file:///DIR, s3://BUCKET[/PREFIX] or
    /// ipfs:// (the Kubo node of --ipfs-api). Default: file://WORK_DIR/storage.
    #[arg(long, env = "MATRIXAI_STORAGE", global = true)]
    pub storage: Option<String>,
    /// An S3-compatible server (MinIO, Ceph…) for s3:// URIs. Default: AWS, or
    /// AWS_ENDPOINT_URL. Credentials and region come from the usual AWS_* variables.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    pub s3_endpoint: Option<String>,
    /// Kubo's RPC API, for ipfs:// uploads and reads. Default: http://127.0.0.1:5001.
    #[arg(long, env = "MATRIXAI_IPFS_API", global = true)]
    pub ipfs_api: Option<String>,
    /// An IPFS HTTP gateway to read ipfs:// URIs through instead of the RPC API.
    #[arg(long, env = "MATRIXAI_IPFS_GATEWAY", global = true)]
    pub ipfs_gateway: Option<String>,
    /// Threads for training and measurements. Default: all hardware threads.
    #[arg(long, env = "MATRIXAI_THREADS", global = true)]
    pub threads: Option<usize>,
    /// Where `run` serves the orders' status as JSON. Default: 127.0.0.1:8090.
    #[arg(long, env = "MATRIXAI_CLIENT_STATUS_LISTEN", global = true)]
    pub status_listen: Option<std::net::SocketAddr>,
    /// Where validators reach this agent's drills (`POST URL/drill`), registered with the
    /// machine. Default: http://STATUS_LISTEN, enough for a devnet on one machine; on a real
    /// network, an address validators can reach (docs/validator-guide.md, "Verified
    /// performance").
    #[arg(long, env = "MATRIXAI_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// A cheating trainer, to test validators: skip these segments of every order (their end
    /// moved half-way along the honest update, `matrixai-pot`'s attack code). A validator that
    /// samples one fails the proof and the seller loses collateral. Never set by the
    /// configuration file.
    #[arg(
        long,
        env = "MATRIXAI_DISHONEST_FORGE_SEGMENTS",
        value_delimiter = ',',
        hide = true,
        global = true
    )]
    pub dishonest_forge_segments: Vec<usize>,
    /// A boasting trainer, to test validators' drills: register a machine this many times
    /// faster at training than measured (throughputs and index multiplied, fixed costs
    /// divided). A drill then finds the machine slower than it claims.
    #[arg(
        long,
        env = "MATRIXAI_DISHONEST_PERFORMANCE_FACTOR",
        hide = true,
        global = true
    )]
    pub dishonest_performance_factor: Option<f64>,
}

/// The configuration file: the same settings as [`Options`], snake_case keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node: Option<String>,
    indexer: Option<String>,
    account_uri: Option<String>,
    key_file: Option<PathBuf>,
    price_per_hour: Option<toml::Value>,
    max_duration_hours: Option<u32>,
    disk_gb: Option<u32>,
    region: Option<String>,
    work_dir: Option<PathBuf>,
    storage: Option<String>,
    s3_endpoint: Option<String>,
    ipfs_api: Option<String>,
    ipfs_gateway: Option<String>,
    threads: Option<usize>,
    status_listen: Option<std::net::SocketAddr>,
    public_url: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: String,
    pub indexer: String,
    /// The trainer's account.
    pub account: AccountSource,
    /// The account of the buyer's commands: the configured one, or //Charlie.
    pub buyer_account: AccountSource,
    /// The account of `devnet-timing`: the configured one, or //Alice.
    pub sudo_account: AccountSource,
    pub price_per_hour: Balance,
    pub max_duration_hours: u32,
    pub disk_gb: u32,
    pub region: String,
    pub work_dir: PathBuf,
    pub storage: String,
    /// The S3 endpoint and the IPFS node storage URIs go through.
    pub backends: StorageConfig,
    pub threads: usize,
    pub status_listen: std::net::SocketAddr,
    /// Where validators reach this agent's drills, registered with the machine.
    pub drill_url: String,
    /// Segments the agent forges instead of training ([`Options::dishonest_forge_segments`]).
    pub dishonest_forge_segments: Vec<usize>,
    /// How much the agent inflates its measured training speed
    /// ([`Options::dishonest_performance_factor`]); 1 when honest.
    pub dishonest_performance_factor: f64,
}

impl Settings {
    /// Flags and environment over the configuration file over the defaults.
    pub fn resolve(options: &Options) -> Result<Self, ClientError> {
        let file = match &options.config {
            Some(path) => read_file(path)?,
            None => match default_config_path() {
                Some(path) if path.is_file() => read_file(&path)?,
                _ => FileConfig::default(),
            },
        };
        let configured_account = match (&options.account_uri, &options.key_file) {
            (Some(_), Some(_)) => {
                return Err(ClientError::Config(
                    "give either --account-uri or --key-file, not both".into(),
                ));
            }
            (Some(uri), None) => Some(AccountSource::Uri(uri.clone())),
            (None, Some(path)) => Some(AccountSource::KeyFile(path.clone())),
            (None, None) => match (file.account_uri, file.key_file) {
                (Some(_), Some(_)) => {
                    return Err(ClientError::Config(
                        "the configuration file sets both account_uri and key_file; keep one"
                            .into(),
                    ));
                }
                (Some(uri), None) => Some(AccountSource::Uri(uri)),
                (None, Some(path)) => Some(AccountSource::KeyFile(path)),
                (None, None) => None,
            },
        };
        let account_or = |dev: &str| {
            configured_account
                .clone()
                .unwrap_or_else(|| AccountSource::Uri(dev.into()))
        };
        let price_per_hour = match (&options.price_per_hour, &file.price_per_hour) {
            (Some(text), _) => parse_tokens(text)
                .map_err(|e| ClientError::Config(format!("--price-per-hour: {e}")))?,
            (None, Some(value)) => {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Integer(_) | toml::Value::Float(_) => value.to_string(),
                    other => {
                        return Err(ClientError::Config(format!(
                            "price_per_hour must be a number of tokens, got {}",
                            other.type_str()
                        )));
                    }
                };
                parse_tokens(&text)
                    .map_err(|e| ClientError::Config(format!("price_per_hour: {e}")))?
            }
            (None, None) => 10 * UNIT,
        };
        if price_per_hour == 0 {
            return Err(ClientError::Config(
                "price_per_hour must be above zero".into(),
            ));
        }
        let max_duration_hours = options
            .max_duration_hours
            .or(file.max_duration_hours)
            .unwrap_or(24);
        if max_duration_hours == 0 {
            return Err(ClientError::Config(
                "max_duration_hours must be at least 1".into(),
            ));
        }
        let work_dir = options
            .work_dir
            .clone()
            .or(file.work_dir)
            .unwrap_or_else(|| matrixai_chain::default_data_dir().join("client"));
        let storage = options
            .storage
            .clone()
            .or(file.storage)
            .unwrap_or_else(|| format!("file://{}", work_dir.join("storage").display()));
        check_storage(&storage)?;
        let http_url = |key: &str, url: String| {
            if url.starts_with("http://") || url.starts_with("https://") {
                Ok(url)
            } else {
                Err(ClientError::Config(format!(
                    "{key} {url:?} is not an http:// or https:// URL"
                )))
            }
        };
        let backends = StorageConfig {
            s3_endpoint: options
                .s3_endpoint
                .clone()
                .or(file.s3_endpoint)
                .map(|url| http_url("s3_endpoint", url))
                .transpose()?,
            s3_credentials: None,
            ipfs_api: http_url(
                "ipfs_api",
                options
                    .ipfs_api
                    .clone()
                    .or(file.ipfs_api)
                    .unwrap_or_else(|| StorageConfig::DEFAULT_IPFS_API.into()),
            )?,
            ipfs_gateway: options
                .ipfs_gateway
                .clone()
                .or(file.ipfs_gateway)
                .map(|url| http_url("ipfs_gateway", url))
                .transpose()?,
        };
        let threads = options
            .threads
            .or(file.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if threads == 0 {
            return Err(ClientError::Config("threads must be at least 1".into()));
        }
        let region = options
            .region
            .clone()
            .or(file.region)
            .unwrap_or_else(|| "local".into());
        if region.is_empty() || region.len() > matrixai_chain::machine_metadata::MAX_STRING {
            return Err(ClientError::Config(format!(
                "region must be 1 to {} bytes",
                matrixai_chain::machine_metadata::MAX_STRING
            )));
        }
        let status_listen = options
            .status_listen
            .or(file.status_listen)
            .unwrap_or_else(|| "127.0.0.1:8090".parse().expect("an address"));
        let drill_url = match options.public_url.clone().or(file.public_url) {
            Some(url) => http_url("public_url", url.trim_end_matches('/').to_string())?,
            None => format!("http://{status_listen}"),
        };
        Ok(Self {
            node: options
                .node
                .clone()
                .or(file.node)
                .unwrap_or_else(|| "ws://127.0.0.1:9944".into()),
            indexer: options
                .indexer
                .clone()
                .or(file.indexer)
                .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            account: account_or(DEV_ACCOUNT),
            buyer_account: account_or(DEV_BUYER_ACCOUNT),
            sudo_account: account_or(DEV_SUDO_ACCOUNT),
            price_per_hour,
            max_duration_hours,
            disk_gb: options.disk_gb.or(file.disk_gb).unwrap_or(10),
            region,
            work_dir,
            storage,
            backends,
            threads,
            status_listen,
            drill_url,
            dishonest_forge_segments: options.dishonest_forge_segments.clone(),
            dishonest_performance_factor: match options.dishonest_performance_factor {
                Some(factor) if !(factor.is_finite() && factor > 0.0) => {
                    return Err(ClientError::Config(
                        "--dishonest-performance-factor must be a positive number".into(),
                    ));
                }
                Some(factor) => factor,
                None => 1.0,
            },
        })
    }
}

fn default_config_path() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .map(|dir| dir.join("matrixai/client.toml"))
}

fn read_file(path: &Path) -> Result<FileConfig, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
    toml::from_str(&text)
        .map_err(|e| ClientError::Config(format!("configuration file {}: {e}", path.display())))
}

/// The storage targets the agent uploads to, checked here rather than at the first upload.
fn check_storage(uri: &str) -> Result<(), ClientError> {
    let bucket = uri
        .strip_prefix("s3://")
        .map(|location| location.split('/').next().unwrap_or_default());
    if uri.starts_with("file:///") || uri == "ipfs://" || bucket.is_some_and(|b| !b.is_empty()) {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "storage {uri:?} is none of file:///ABSOLUTE/DIR, s3://BUCKET[/PREFIX], ipfs://"
        )))
    }
}

/// Tokens as written by people (`10`, `0.5`, `1.25`) to the chain's units (12 decimals).
pub fn parse_tokens(text: &str) -> Result<Balance, String> {
    const DECIMALS: usize = 12;
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(format!(
            "{text:?} is not an amount of tokens (digits, optionally with a decimal point)"
        ));
    }
    if fraction.len() > DECIMALS {
        return Err(format!(
            "{text:?} has more than {DECIMALS} decimals, below the chain's smallest unit"
        ));
    }
    let whole: Balance = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?
    };
    let fraction: Balance = format!("{fraction:0<DECIMALS$}")
        .parse()
        .expect("twelve digits");
    whole
        .checked_mul(UNIT)
        .and_then(|units| units.checked_add(fraction))
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, Options) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.toml");
        std::fs::write(&path, text).unwrap();
        let options = Options {
            config: Some(path),
            ..Options::default()
        };
        (dir, options)
    }

    #[test]
    fn tokens_parse_to_units() {
        assert_eq!(parse_tokens("10"), Ok(10 * UNIT));
        assert_eq!(parse_tokens("0.5"), Ok(UNIT / 2));
        assert_eq!(parse_tokens(".25"), Ok(UNIT / 4));
        assert_eq!(parse_tokens("1.000000000001"), Ok(UNIT + 1));
        for bad in ["", ".", "-1", "1e3", "1.2.3", "ten", "1.0000000000001"] {
            assert!(parse_tokens(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_tokens("1000000000000000000000000000000")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn the_file_is_overridden_by_flags() {
        let (_dir, mut options) = with_file(
            "node = \"ws://10.0.0.1:9944\"\nprice_per_hour = 2.5\nregion = \"eu-west\"\ndisk_gb = 40\n",
        );
        let settings = Settings::resolve(&options).unwrap();
        assert_eq!(settings.node, "ws://10.0.0.1:9944");
        assert_eq!(settings.price_per_hour, 5 * UNIT / 2);
        assert_eq!(
            (settings.region.as_str(), settings.disk_gb),
            ("eu-west", 40)
        );
        options.region = Some("us-east".into());
        options.price_per_hour = Some("3".into());
        let settings = Settings::resolve(&options).unwrap();
        assert_eq!(
            (settings.region.as_str(), settings.price_per_hour),
            ("us-east", 3 * UNIT)
        );
        assert_eq!(settings.node, "ws://10.0.0.1:9944");
    }

    #[test]
    fn bad_configuration_names_what_to_fix() {
        let (_dir, options) = with_file("nod = \"typo\"\n");
        let error = Settings::resolve(&options).unwrap_err().to_string();
        assert!(error.contains("unknown field `nod`"), "{error}");

        let (_dir, options) = with_file("price_per_hour = true\n");
        let error = Settings::resolve(&options).unwrap_err().to_string();
        assert!(error.contains("price_per_hour must be a number"), "{error}");

        let (_dir, mut options) = with_file("");
        options.storage = Some("ftp://somewhere".into());
        let error = Settings::resolve(&options).unwrap_err().to_string();
        assert!(error.contains("storage \"ftp://somewhere\""), "{error}");
        options.storage = Some("s3://".into());
        assert!(
            Settings::resolve(&options).is_err(),
            "an S3 target names its bucket"
        );
        for good in ["s3://models", "s3://models/matrixai/bundles", "ipfs://"] {
            options.storage = Some(good.into());
            assert_eq!(Settings::resolve(&options).unwrap().storage, good);
        }
        options.ipfs_api = Some("127.0.0.1:5001".into());
        let error = Settings::resolve(&options).unwrap_err().to_string();
        assert!(error.contains("ipfs_api \"127.0.0.1:5001\""), "{error}");

        let missing = Options {
            config: Some("/nonexistent/client.toml".into()),
            ..Options::default()
        };
        let error = Settings::resolve(&missing).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/client.toml"), "{error}");
    }

    #[test]
    fn secrets_never_show() {
        let secret = "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Bob";
        let (_dir, mut options) = with_file("");
        options.account_uri = Some(secret.into());
        let settings = Settings::resolve(&options).unwrap();
        assert!(!format!("{settings:?}").contains("bottom"));
        assert!(settings.account.keypair().is_ok());
    }

    #[test]
    fn defaults_serve_a_devnet() {
        let (_dir, options) = with_file("");
        let settings = Settings::resolve(&options).unwrap();
        assert_eq!(settings.node, "ws://127.0.0.1:9944");
        assert_eq!(settings.indexer, "http://127.0.0.1:8080");
        assert_eq!(settings.price_per_hour, 10 * UNIT);
        assert!(settings.storage.starts_with("file:///"));
        assert!(matches!(settings.account, AccountSource::Uri(ref uri) if uri == DEV_ACCOUNT));
        assert!(
            matches!(settings.buyer_account, AccountSource::Uri(ref uri) if uri == DEV_BUYER_ACCOUNT)
        );
        assert!(
            matches!(settings.sudo_account, AccountSource::Uri(ref uri) if uri == DEV_SUDO_ACCOUNT)
        );
    }

    #[test]
    fn a_configured_account_signs_every_command() {
        let (_dir, options) = with_file("account_uri = \"//Eve\"\n");
        let settings = Settings::resolve(&options).unwrap();
        for account in [
            &settings.account,
            &settings.buyer_account,
            &settings.sudo_account,
        ] {
            assert!(matches!(account, AccountSource::Uri(uri) if uri == "//Eve"));
        }
    }
}
