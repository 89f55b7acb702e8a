// Each test crate uses part of this module.
#![allow(dead_code)]

//! What the indexer's integration tests share: databases of each kind, an indexer under test
//! with its HTTP client.

use matrixai_indexer::{Config, Indexer};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A database for one test: an SQLite file, or a fresh database on the PostgreSQL or MariaDB
/// server named by `MATRIXAI_TEST_POSTGRES` / `MATRIXAI_TEST_MYSQL` (`scripts/test-databases.sh`
/// starts both), dropped at the end.
pub struct TestDatabase {
    pub url: String,
    pub kind: &'static str,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        Self {
            url: format!("sqlite://{}/indexer.db", dir.path().display()),
            kind: "sqlite",
            admin: None,
            _dir: Some(dir),
        }
    }

    /// SQLite, and each server database the environment names. With
    /// `MATRIXAI_REQUIRE_ALL_DATABASES=1` (CI) a missing server fails the test.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        for (variable, kind) in [
            ("MATRIXAI_TEST_POSTGRES", "postgres"),
            ("MATRIXAI_TEST_MYSQL", "mysql"),
        ] {
            match std::env::var(variable) {
                Ok(admin_url) => databases.push(Self::server(kind, &admin_url).await),
                Err(_) if std::env::var("MATRIXAI_REQUIRE_ALL_DATABASES").is_ok() => {
                    panic!("{variable} is not set: run scripts/test-databases.sh")
                }
                Err(_) => eprintln!(
                    "{variable} is not set: skipping {kind} (scripts/test-databases.sh starts it)"
                ),
            }
        }
        databases
    }

    async fn server(kind: &'static str, admin_url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let name = format!(
            "matrixai_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let admin = sqlx::AnyPool::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach {kind} at {admin_url}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await;
        let base = admin_url.rsplit_once('/').expect("a database in the URL").0;
        Self {
            url: format!("{base}/{name}"),
            kind,
            admin: Some((admin_url.to_string(), name)),
            _dir: None,
        }
    }

    pub async fn drop_database(self) {
        if let Some((admin_url, name)) = &self.admin
            && let Ok(admin) = sqlx::AnyPool::connect(admin_url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&admin)
                .await;
        }
    }
}

/// A running indexer and an HTTP client for its API.
pub struct TestIndexer {
    pub kind: &'static str,
    pub indexer: Indexer,
    pub base: String,
    pub http: reqwest::Client,
}

impl TestIndexer {
    pub async fn start(node_url: &str, database: &TestDatabase) -> Self {
        let config = Config {
            node: node_url.to_string(),
            database: Some(database.url.clone()),
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: None,
            max_lag: 10,
            batch_blocks: 512,
            ui_dir: None,
            chain_spec: None,
        };
        let indexer = Indexer::start(&config)
            .await
            .unwrap_or_else(|e| panic!("{}: the indexer starts: {e}", database.kind));
        Self {
            kind: database.kind,
            base: format!("http://{}", indexer.address),
            indexer,
            // A fresh connection per request: the bad-input checks send bodies the server
            // refuses mid-upload, after which a pooled connection is broken.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, body: String) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the indexer has committed block `number` (its `/health` says so).
    pub async fn wait_for_block(&self, number: u64, timeout: Duration) {
        let started = Instant::now();
        loop {
            let (_, health) = self.get("/health").await;
            if health["indexed_block"].as_u64().unwrap_or(0) >= number {
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "{}: block #{number} not indexed within {timeout:?}: {health}",
                self.kind
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
