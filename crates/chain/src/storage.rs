//! Where orders' datasets, models and Proof-of-Training bundles live, for every off-chain part
//! (the trainer agent uploads, the validator and buyers fetch): one implementation of each URI
//! scheme of DESIGN.md ("Storage URIs"). Content is always checked against a sha256 named next
//! to the URI.
//!
//! - reads, bounded in size before and while reading, resumed after an interruption from what
//!   the previous attempt left: `file:///PATH`; `http(s)://…` (a `Range` request);
//!   `s3://BUCKET/KEY` (S3 or any S3-compatible server, through `object_store`: credentials,
//!   region and endpoint from the usual `AWS_*` variables, the endpoint also from
//!   [`StorageConfig`]; no credentials reads public objects unsigned); `ipfs://CID[/PATH]`
//!   (Kubo's RPC API `cat` with an offset, or an HTTP gateway's `/ipfs/…` when one is set);
//! - uploads of a directory: under `file:///DIR` as `file:///DIR/NAME/`, under `s3://BUCKET/PREFIX`
//!   as `s3://BUCKET/PREFIX/NAME/`, and to `ipfs://` (Kubo's `add`, wrapped in a directory) as
//!   `ipfs://CID/`.

use futures::{Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a transfer failed; every variant names the URI or path.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "{0:?} is not a supported storage URI (file:///PATH, http(s)://…, s3://BUCKET/KEY, ipfs://CID)"
    )]
    Unsupported(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The server or file system could not be reached or answered with an error; trying
    /// again later may work.
    #[error("{uri}: {reason}")]
    Unreachable { uri: String, reason: String },
    /// The storage answered, and it holds nothing at this URI: no file, HTTP 404 or 410, no
    /// such S3 object, no such name in an IPFS directory.
    #[error("{uri}: nothing is stored there")]
    NotFound { uri: String },
    #[error("{uri} is larger than the {limit} bytes allowed")]
    TooLarge { uri: String, limit: u64 },
    #[error("{uri} has sha256 {actual}, not the {expected} it must have")]
    Mismatch {
        uri: String,
        expected: String,
        actual: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unreachable(uri: &str) -> impl Fn(String) -> StorageError + '_ {
    move |reason| StorageError::Unreachable {
        uri: uri.to_string(),
        reason,
    }
}

fn not_found(uri: &str) -> StorageError {
    StorageError::NotFound {
        uri: uri.to_string(),
    }
}

/// Where the S3 and IPFS backends are; the defaults serve a local devnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// An S3-compatible server's URL (MinIO, Ceph, a test server); `None`: `AWS_ENDPOINT_URL`,
    /// else AWS itself.
    pub s3_endpoint: Option<String>,
    /// S3 credentials, over `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub s3_credentials: Option<S3Credentials>,
    /// Kubo's RPC API, for uploads and, without a gateway, for reads.
    pub ipfs_api: String,
    /// An IPFS HTTP gateway for reads (`GATEWAY/ipfs/CID`), instead of the RPC API.
    pub ipfs_gateway: Option<String>,
}

/// An S3 access key; the secret never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<secret>")
            .finish()
    }
}

impl StorageConfig {
    pub const DEFAULT_IPFS_API: &str = "http://127.0.0.1:5001";
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_credentials: None,
            ipfs_api: Self::DEFAULT_IPFS_API.into(),
            ipfs_gateway: None,
        }
    }
}

/// Reads and writes storage URIs.
#[derive(Clone)]
pub struct Storage {
    http: reqwest::Client,
    config: Arc<StorageConfig>,
}

impl Default for Storage {
    fn default() -> Self {
        Self::new(StorageConfig::default())
    }
}

impl Storage {
    pub fn new(config: StorageConfig) -> Self {
        Self {
            http: http_client(),
            config: Arc::new(config),
        }
    }

    /// Fetches `uri` into `dest` and returns its size. At most `max_bytes` are accepted, and
    /// the content must have `sha256` when one is given; otherwise nothing is left at `dest`.
    /// An interrupted download is resumed from `dest` + `.part`; a `dest` that already holds
    /// the content of `sha256` (fetched before a restart) is kept and nothing is fetched.
    pub async fn fetch(
        &self,
        uri: &str,
        dest: &Path,
        max_bytes: u64,
        sha256: Option<&[u8; 32]>,
    ) -> Result<u64, StorageError> {
        if let Some(expected) = sha256
            && let Ok((size, actual)) = sha256_of(dest).await
            && &actual == expected
        {
            return Ok(size);
        }
        let part = partial_path(dest);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(parent))?;
        }
        if let Some(path) = uri.strip_prefix("file://") {
            copy_bounded(uri, Path::new(path), &part, max_bytes).await?;
        } else if uri.starts_with("http://") || uri.starts_with("https://") {
            self.download(uri, uri, &part, max_bytes).await?;
        } else if let Some(location) = uri.strip_prefix("s3://") {
            self.fetch_s3(uri, location, &part, max_bytes).await?;
        } else if let Some(location) = uri.strip_prefix("ipfs://") {
            self.fetch_ipfs(uri, location, &part, max_bytes).await?;
        } else {
            return Err(StorageError::Unsupported(uri.to_string()));
        }
        let (size, actual) = sha256_of(&part).await?;
        if let Some(expected) = sha256
            && &actual != expected
        {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(StorageError::Mismatch {
                uri: uri.to_string(),
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
        tokio::fs::rename(&part, dest).await.map_err(io(dest))?;
        Ok(size)
    }

    /// GETs `url` (the resource `uri` names) into `part`, resuming after what `part` holds.
    async fn download(
        &self,
        uri: &str,
        url: &str,
        part: &Path,
        max_bytes: u64,
    ) -> Result<(), StorageError> {
        let have = partial_len(part).await;
        let mut request = self.http.get(url);
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(uri)(e.to_string()))?;
        let status = response.status();
        if matches!(
            status,
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE
        ) {
            return Err(not_found(uri));
        }
        if !status.is_success() {
            return Err(unreachable(uri)(format!("the server answered {status}")));
        }
        let start = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            have
        } else {
            0
        };
        if let Some(length) = response.content_length()
            && start + length > max_bytes
        {
            return Err(StorageError::TooLarge {
                uri: uri.to_string(),
                limit: max_bytes,
            });
        }
        append_bounded(uri, part, start, response.bytes_stream(), max_bytes).await
    }

    async fn fetch_s3(
        &self,
        uri: &str,
        location: &str,
        part: &Path,
        max_bytes: u64,
    ) -> Result<(), StorageError> {
        let (bucket, key) = s3_location(uri, location)?;
        let store = self.s3(uri, bucket)?;
        let unreachable = unreachable(uri);
        let meta = store.head(&key).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => not_found(uri),
            other => unreachable(other.to_string()),
        })?;
        if meta.size > max_bytes {
            return Err(StorageError::TooLarge {
                uri: uri.to_string(),
                limit: max_bytes,
            });
        }
        // What an earlier read left, unless it is longer than the object (then start over).
        let start = Some(partial_len(part).await)
            .filter(|&have| have <= meta.size)
            .unwrap_or(0);
        if start == meta.size && start > 0 {
            return Ok(());
        }
        let options = GetOptions {
            range: (start > 0).then_some(GetRange::Offset(start)),
            ..GetOptions::default()
        };
        let body = store
            .get_opts(&key, options)
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .into_stream();
        append_bounded(uri, part, start, body, max_bytes).await
    }

    /// The bucket's client: credentials, region and endpoint from `AWS_*`, the configured
    /// endpoint and credentials over them; plain HTTP only when the endpoint says so; without credentials,
    /// unsigned requests (public objects).
    fn s3(&self, uri: &str, bucket: &str) -> Result<AmazonS3, StorageError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &self.config.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let endpoint = self
            .config
            .s3_endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT").ok());
        if endpoint.is_some_and(|endpoint| endpoint.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        if let Some(credentials) = &self.config.s3_credentials {
            builder = builder
                .with_access_key_id(&credentials.access_key_id)
                .with_secret_access_key(&credentials.secret_access_key);
        } else if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            builder = builder.with_skip_signature(true);
        }
        builder.build().map_err(|e| unreachable(uri)(e.to_string()))
    }

    async fn fetch_ipfs(
        &self,
        uri: &str,
        location: &str,
        part: &Path,
        max_bytes: u64,
    ) -> Result<(), StorageError> {
        let path = ipfs_path(uri, location)?;
        if let Some(gateway) = &self.config.ipfs_gateway {
            let url = format!("{}/ipfs/{path}", gateway.trim_end_matches('/'));
            return self.download(uri, &url, part, max_bytes).await;
        }
        let have = partial_len(part).await;
        let response = self
            .http
            .post(self.ipfs_url("cat"))
            .query(&[("arg", path.as_str()), ("offset", &have.to_string())])
            .send()
            .await
            .map_err(|e| unreachable(uri)(e.to_string()))?;
        let response = kubo_ok(uri, response).await?;
        append_bounded(uri, part, have, response.bytes_stream(), max_bytes).await
    }

    fn ipfs_url(&self, command: &str) -> String {
        format!(
            "{}/api/v0/{command}",
            self.config.ipfs_api.trim_end_matches('/')
        )
    }

    /// Uploads the files of directory `dir` (recursively) under `target` as `name`, and
    /// returns the directory's URI (ending in `/`). Symlinks and special files are refused, so
    /// an upload never follows a link out of the directory.
    pub async fn put_dir(
        &self,
        target: &str,
        name: &str,
        dir: &Path,
    ) -> Result<String, StorageError> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(StorageError::Unsupported(format!(
                "{target} with name {name:?}"
            )));
        }
        let files = files_of(dir).await?;
        if let Some(root) = target.strip_prefix("file://") {
            let destination = Path::new(root).join(name);
            let staging = Path::new(root).join(format!(".{name}.uploading"));
            let _ = tokio::fs::remove_dir_all(&staging).await;
            for (relative, path) in &files {
                let copy = staging.join(relative);
                let parent = copy.parent().expect("inside staging");
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(io(parent))?;
                tokio::fs::copy(path, &copy).await.map_err(io(path))?;
            }
            tokio::fs::create_dir_all(&staging)
                .await
                .map_err(io(&staging))?;
            let _ = tokio::fs::remove_dir_all(&destination).await;
            tokio::fs::rename(&staging, &destination)
                .await
                .map_err(io(&destination))?;
            Ok(format!("file://{}/", destination.display()))
        } else if let Some(location) = target.strip_prefix("s3://") {
            let (bucket, prefix) = match location.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
                None => (location, ""),
            };
            if bucket.is_empty() {
                return Err(StorageError::Unsupported(target.to_string()));
            }
            let store: Arc<dyn object_store::ObjectStore> = Arc::new(self.s3(target, bucket)?);
            let directory = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            for (relative, path) in &files {
                let key = object_store::path::Path::parse(format!("{directory}/{relative}"))
                    .map_err(|e| StorageError::Unsupported(format!("{target}: {e}")))?;
                let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
                let mut writer = object_store::buffered::BufWriter::new(store.clone(), key);
                let failed = |e: std::io::Error| unreachable(target)(e.to_string());
                tokio::io::copy(&mut file, &mut writer)
                    .await
                    .map_err(failed)?;
                writer.shutdown().await.map_err(failed)?;
            }
            Ok(format!("s3://{bucket}/{directory}/"))
        } else if target == "ipfs://" {
            self.put_ipfs(target, &files).await
        } else {
            Err(StorageError::Unsupported(target.to_string()))
        }
    }

    /// Kubo's `add` of every file, wrapped in one directory; the directory's CID is the URI.
    async fn put_ipfs(
        &self,
        target: &str,
        files: &[(String, PathBuf)],
    ) -> Result<String, StorageError> {
        let mut form = reqwest::multipart::Form::new();
        let mut directories = std::collections::BTreeSet::new();
        for (relative, _) in files {
            let mut parent = Path::new(relative).parent();
            while let Some(directory) = parent.filter(|p| !p.as_os_str().is_empty()) {
                directories.insert(directory.to_string_lossy().into_owned());
                parent = directory.parent();
            }
        }
        // Parents before their children, as Kubo's own clients send them.
        for directory in &directories {
            let part = reqwest::multipart::Part::bytes(Vec::new())
                .file_name(directory.clone())
                .mime_str("application/x-directory")
                .expect("a valid MIME type");
            form = form.part("file", part);
        }
        for (relative, path) in files {
            let file = tokio::fs::File::open(path).await.map_err(io(path))?;
            let length = file.metadata().await.map_err(io(path))?.len();
            let part = reqwest::multipart::Part::stream_with_length(file, length)
                .file_name(relative.clone())
                .mime_str("application/octet-stream")
                .expect("a valid MIME type");
            form = form.part("file", part);
        }
        let response = self
            .http
            .post(self.ipfs_url("add"))
            .query(&[("wrap-with-directory", "true"), ("pin", "true")])
            .multipart(form)
            .send()
            .await
            .map_err(|e| unreachable(target)(e.to_string()))?;
        let text = kubo_ok(target, response)
            .await?
            .text()
            .await
            .map_err(|e| unreachable(target)(e.to_string()))?;
        #[derive(serde::Deserialize)]
        struct Added {
            #[serde(rename = "Name")]
            name: String,
            #[serde(rename = "Hash")]
            hash: String,
        }
        text.lines()
            .filter_map(|line| serde_json::from_str::<Added>(line).ok())
            .find(|added| added.name.is_empty())
            .map(|wrapper| format!("ipfs://{}/", wrapper.hash))
            .ok_or_else(|| unreachable(target)(format!("Kubo's add named no directory: {text}")))
    }
}

/// `s3://BUCKET/KEY`'s bucket and key.
fn s3_location<'a>(
    uri: &str,
    location: &'a str,
) -> Result<(&'a str, object_store::path::Path), StorageError> {
    let unsupported = || StorageError::Unsupported(uri.to_string());
    let (bucket, key) = location.split_once('/').ok_or_else(unsupported)?;
    if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
        return Err(unsupported());
    }
    let key = object_store::path::Path::parse(key).map_err(|_| unsupported())?;
    Ok((bucket, key))
}

/// `ipfs://CID[/PATH]`'s `CID[/PATH]`, checked to be nothing else.
fn ipfs_path(uri: &str, location: &str) -> Result<String, StorageError> {
    let path = location.trim_end_matches('/');
    let (cid, rest) = path.split_once('/').unwrap_or((path, ""));
    let plain = |part: &str| {
        !part.is_empty()
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !plain(cid) || !(rest.is_empty() || rest.split('/').all(plain)) {
        return Err(StorageError::Unsupported(uri.to_string()));
    }
    Ok(path.to_string())
}

/// Kubo answers errors as `500 {"Message": …}`.
async fn kubo_ok(
    uri: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, StorageError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|value| value["Message"].as_str().map(str::to_string))
        .unwrap_or(body);
    // The directory was found and has no such name; an unknown CID may still be found later.
    if message.starts_with("no link named") {
        return Err(not_found(uri));
    }
    Err(unreachable(uri)(format!(
        "Kubo answered {status}: {message}"
    )))
}

/// The HTTP client every off-chain part uses (storage, the indexer's API): rustls on ring,
/// since reqwest's default crypto provider compiles C. A server that accepts and then says
/// nothing for two minutes (a stalled download, a CID nobody serves) fails the request
/// instead of holding its caller forever; an interrupted download resumes.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .read_timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("a TLS backend is configured")
}

/// Where a download in progress is kept: beside its destination.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

async fn partial_len(part: &Path) -> u64 {
    tokio::fs::metadata(part).await.map_or(0, |m| m.len())
}

/// Writes `body` into `part` from byte `start` on (what is before it kept), failing as soon as
/// the whole would pass `max_bytes`. A broken transfer leaves what arrived, for the next try.
async fn append_bounded(
    uri: &str,
    part: &Path,
    start: u64,
    body: impl Stream<Item = Result<bytes::Bytes, impl std::fmt::Display>>,
    max_bytes: u64,
) -> Result<(), StorageError> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(start > 0)
        .truncate(start == 0)
        .open(part)
        .await
        .map_err(io(part))?;
    let mut written = start;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(reason) => {
                let _ = file.sync_all().await;
                return Err(unreachable(uri)(reason.to_string()));
            }
        };
        written += chunk.len() as u64;
        if written > max_bytes {
            drop(file);
            let _ = tokio::fs::remove_file(part).await;
            return Err(StorageError::TooLarge {
                uri: uri.to_string(),
                limit: max_bytes,
            });
        }
        file.write_all(&chunk).await.map_err(io(part))?;
    }
    file.sync_all().await.map_err(io(part))
}

async fn copy_bounded(
    uri: &str,
    from: &Path,
    to: &Path,
    max_bytes: u64,
) -> Result<(), StorageError> {
    let metadata = tokio::fs::metadata(from).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            not_found(uri)
        } else {
            unreachable(uri)(e.to_string())
        }
    })?;
    if !metadata.is_file() {
        return Err(StorageError::Unreachable {
            uri: uri.to_string(),
            reason: "not a regular file".into(),
        });
    }
    if metadata.len() > max_bytes {
        return Err(StorageError::TooLarge {
            uri: uri.to_string(),
            limit: max_bytes,
        });
    }
    let source = tokio::fs::File::open(from).await.map_err(io(from))?;
    let mut limited = source.take(max_bytes + 1);
    let mut target = tokio::fs::File::create(to).await.map_err(io(to))?;
    let copied = tokio::io::copy(&mut limited, &mut target)
        .await
        .map_err(io(to))?;
    if copied > max_bytes {
        drop(target);
        let _ = tokio::fs::remove_file(to).await;
        return Err(StorageError::TooLarge {
            uri: uri.to_string(),
            limit: max_bytes,
        });
    }
    target.sync_all().await.map_err(io(to))
}

/// Size and sha256 of a file, read in 1 MiB blocks.
pub async fn sha256_of(path: &Path) -> Result<(u64, [u8; 32]), StorageError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await.map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// The regular files under `dir`, as (path relative to `dir` with `/` separators, path),
/// sorted; anything but a regular file or a directory (a symlink, a device) is an error.
async fn files_of(dir: &Path) -> Result<Vec<(String, PathBuf)>, StorageError> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((directory, prefix)) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&directory)
            .await
            .map_err(io(&directory))?;
        while let Some(entry) = entries.next_entry().await.map_err(io(&directory))? {
            let path = entry.path();
            let kind = entry.file_type().await.map_err(io(&path))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(StorageError::Io {
                    path,
                    source: std::io::Error::other("a file name that is not UTF-8"),
                });
            };
            let relative = format!("{prefix}{name}");
            if kind.is_dir() {
                pending.push((path, format!("{relative}/")));
            } else if kind.is_file() {
                files.push((relative, path));
            } else {
                return Err(StorageError::Io {
                    path,
                    source: std::io::Error::other("neither a regular file nor a directory"),
                });
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn file_uri(dir: &Path, name: &str, bytes: &[u8]) -> (String, [u8; 32]) {
        let path = dir.join(name);
        tokio::fs::write(&path, bytes).await.unwrap();
        (
            format!("file://{}", path.display()),
            Sha256::digest(bytes).into(),
        )
    }

    #[tokio::test]
    async fn file_fetches_are_bounded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (uri, sha) = file_uri(dir.path(), "data.csv", b"1,2,3\n").await;
        let dest = dir.path().join("out/data.csv");
        let storage = Storage::default();
        assert_eq!(storage.fetch(&uri, &dest, 6, Some(&sha)).await.unwrap(), 6);
        assert_eq!(tokio::fs::read(&dest).await.unwrap(), b"1,2,3\n");

        let other = dir.path().join("other.csv");
        let error = storage.fetch(&uri, &other, 5, None).await.unwrap_err();
        assert!(
            matches!(error, StorageError::TooLarge { limit: 5, .. }),
            "{error}"
        );
        let error = storage
            .fetch(&uri, &other, 100, Some(&[0; 32]))
            .await
            .unwrap_err();
        assert!(error.to_string().contains(&hex::encode(sha)), "{error}");
        assert!(
            !other.exists() && !partial_path(&other).exists(),
            "nothing left behind"
        );
        let error = storage
            .fetch("ftp://example.org/x", &other, 100, None)
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Unsupported(_)));

        let absent = format!("file://{}", dir.path().join("absent.csv").display());
        let error = storage.fetch(&absent, &other, 100, None).await.unwrap_err();
        assert!(matches!(error, StorageError::NotFound { .. }), "{error}");
    }

    /// An HTTP server on loopback that serves `content`, honours `Range: bytes=N-`, and drops
    /// its first response halfway through the body.
    async fn flaky_server(content: &'static [u8]) -> String {
        use tokio::io::AsyncBufReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for attempt in 0.. {
                let (socket, _) = listener.accept().await.unwrap();
                let mut socket = tokio::io::BufReader::new(socket);
                let mut from = 0usize;
                loop {
                    let mut line = String::new();
                    socket.read_line(&mut line).await.unwrap();
                    if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = range.trim().trim_end_matches('-').parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let rest = &content[from..];
                let head = if from > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                        rest.len(),
                        content.len() - 1,
                        content.len()
                    )
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len())
                };
                let socket = socket.get_mut();
                socket.write_all(head.as_bytes()).await.unwrap();
                let sent = if attempt == 0 {
                    rest.len() / 2
                } else {
                    rest.len()
                };
                socket.write_all(&rest[..sent]).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        format!("http://{address}/data.csv")
    }

    #[tokio::test]
    async fn an_interrupted_download_resumes_where_it_stopped() {
        static CONTENT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let uri = flaky_server(CONTENT).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("data.csv");
        let sha: [u8; 32] = Sha256::digest(CONTENT).into();
        let storage = Storage::default();
        let error = storage
            .fetch(&uri, &dest, 1000, Some(&sha))
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Unreachable { .. }), "{error}");
        assert_eq!(
            tokio::fs::metadata(partial_path(&dest))
                .await
                .unwrap()
                .len(),
            CONTENT.len() as u64 / 2
        );
        assert_eq!(
            storage.fetch(&uri, &dest, 1000, Some(&sha)).await.unwrap(),
            CONTENT.len() as u64
        );
        assert_eq!(tokio::fs::read(&dest).await.unwrap(), CONTENT);
        let error = storage
            .fetch(&uri, &dir.path().join("small"), 10, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::TooLarge { limit: 10, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn directories_upload_whole_and_refuse_links() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        tokio::fs::create_dir_all(bundle.join("checkpoints"))
            .await
            .unwrap();
        tokio::fs::write(bundle.join("model.bin"), b"model")
            .await
            .unwrap();
        tokio::fs::write(bundle.join("checkpoints/step-0.ckpt"), b"ckpt")
            .await
            .unwrap();
        let target = dir.path().join("store");
        tokio::fs::create_dir_all(&target).await.unwrap();
        let target = format!("file://{}", target.display());
        let storage = Storage::default();
        let uri = storage.put_dir(&target, "order-1", &bundle).await.unwrap();
        assert_eq!(uri, format!("{target}/order-1/"));
        let uploaded = Path::new(uri.strip_prefix("file://").unwrap());
        assert_eq!(
            tokio::fs::read(uploaded.join("checkpoints/step-0.ckpt"))
                .await
                .unwrap(),
            b"ckpt"
        );
        // Again: replaced, not merged or failed.
        tokio::fs::remove_file(bundle.join("model.bin"))
            .await
            .unwrap();
        storage.put_dir(&target, "order-1", &bundle).await.unwrap();
        assert!(!uploaded.join("model.bin").exists());

        std::os::unix::fs::symlink("/etc/passwd", bundle.join("passwd")).unwrap();
        assert!(storage.put_dir(&target, "order-2", &bundle).await.is_err());
        assert!(
            storage
                .put_dir(&target, "../escape", &bundle)
                .await
                .is_err()
        );
    }
}
