//! The database: one connection pool over SQLite, PostgreSQL or MySQL/MariaDB (sqlx's `Any`
//! driver, chosen by the URL), queries written once with sea-query and rendered for the
//! backend, and a migration list per backend.

use sea_query::{
    DeleteStatement, InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, SelectStatement,
    SqliteQueryBuilder, UpdateStatement,
};
use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl FromStr for Backend {
    type Err = DbError;

    fn from_str(url: &str) -> Result<Self, DbError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "mysql" | "mariadb" => Ok(Self::MySql),
            _ => Err(DbError::Url(format!(
                "unsupported database URL scheme {scheme:?}: use sqlite://PATH, postgres://USER@HOST/DB or mysql://USER@HOST/DB"
            ))),
        }
    }
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }

    /// The schema migrations, in order: (version, SQL).
    fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            Self::Sqlite => &[
                (1, include_str!("../migrations/sqlite/0001_init.sql")),
                (2, include_str!("../migrations/sqlite/0002_reports.sql")),
                (3, include_str!("../migrations/sqlite/0003_drills.sql")),
            ],
            Self::Postgres => &[
                (1, include_str!("../migrations/postgres/0001_init.sql")),
                (2, include_str!("../migrations/postgres/0002_reports.sql")),
                (3, include_str!("../migrations/postgres/0003_drills.sql")),
            ],
            Self::MySql => &[
                (1, include_str!("../migrations/mysql/0001_init.sql")),
                (2, include_str!("../migrations/mysql/0002_reports.sql")),
                (3, include_str!("../migrations/mysql/0003_drills.sql")),
            ],
        }
    }
}

/// Why the database could not be opened, migrated or queried.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error(
        "the database schema is at version {found}, newer than this indexer's {supported}: run a newer matrixai-indexer or index into a fresh database"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the database holds data this indexer cannot read: {0}")]
    Corrupt(String),
}

/// A pool of connections to the indexer's database.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

/// A transaction on the indexer's database.
pub type Tx = Transaction<'static, Any>;

impl Database {
    /// Connects (creating an SQLite file and its folder when missing) and migrates the schema.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend: Backend = url.parse()?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres if !url.contains("statement-cache-capacity") => {
                // sqlx's Any driver declares a NULL's parameter type loosely (a NULL double as
                // float4), and a cached statement keeps the types of its first execution: a
                // later non-NULL value would then be sent in the wrong format. Statements are
                // prepared per execution instead.
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}statement-cache-capacity=0")
            }
            _ => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            connection
                                .execute(
                                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
                                )
                                .await?;
                        }
                        Backend::MySql => {
                            connection
                                .execute("SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'")
                                .await?;
                        }
                        Backend::Postgres => {}
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await?;
        let database = Self { pool, backend };
        database.migrate().await?;
        Ok(database)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(self.pool.begin().await?)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        let applied = applied.unwrap_or(0);
        let migrations = self.backend.migrations();
        let supported = migrations.last().map_or(0, |(version, _)| *version);
        if applied > supported {
            return Err(DbError::SchemaTooNew {
                found: applied,
                supported,
            });
        }
        for (version, sql) in migrations.iter().filter(|(v, _)| *v > applied) {
            let mut tx = self.pool.begin().await?;
            for statement in statements(sql) {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await?;
            }
            let record = format!("INSERT INTO schema_migrations (version) VALUES ({version})");
            sqlx::query(sqlx::AssertSqlSafe(record))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(
                version,
                backend = self.backend.name(),
                "database schema migrated"
            );
        }
        Ok(())
    }

    /// Refreshes the query planner's statistics where the backend does not do it by itself
    /// (SQLite: `PRAGMA optimize=0x10002`, which analyzes every table whose size changed a lot
    /// since its last analysis; PostgreSQL's autovacuum and InnoDB's persistent statistics keep
    /// theirs). Without statistics SQLite may sort a whole filtered range instead of walking
    /// the sort key's index.
    pub async fn optimize(&self) -> Result<(), DbError> {
        if self.backend == Backend::Sqlite {
            self.pool.execute("PRAGMA optimize=0x10002").await?;
        }
        Ok(())
    }

    /// Renders a sea-query statement for this backend.
    pub fn render<S: Renderable>(&self, statement: &S) -> (String, SqlxValues) {
        statement.render(self.backend)
    }

    pub async fn fetch_all(&self, statement: &SelectStatement) -> Result<Vec<AnyRow>, DbError> {
        let (sql, values) = self.render(statement);
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_all(&self.pool)
            .await?)
    }

    pub async fn fetch_optional(
        &self,
        statement: &SelectStatement,
    ) -> Result<Option<AnyRow>, DbError> {
        let (sql, values) = self.render(statement);
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// Runs a statement in a transaction.
pub async fn execute<S: Renderable>(
    tx: &mut Tx,
    backend: Backend,
    statement: &S,
) -> Result<u64, DbError> {
    let (sql, values) = statement.render(backend);
    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Fetches at most one row in a transaction.
pub async fn fetch_optional(
    tx: &mut Tx,
    backend: Backend,
    statement: &SelectStatement,
) -> Result<Option<AnyRow>, DbError> {
    let (sql, values) = statement.render(backend);
    Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_optional(&mut **tx)
        .await?)
}

/// A sea-query statement that can be rendered for any of the three backends.
pub trait Renderable {
    fn render(&self, backend: Backend) -> (String, SqlxValues);
}

macro_rules! renderable {
    ($($statement:ty),*) => {$(
        impl Renderable for $statement {
            fn render(&self, backend: Backend) -> (String, SqlxValues) {
                match backend {
                    Backend::Sqlite => self.build_sqlx(SqliteQueryBuilder),
                    Backend::Postgres => self.build_sqlx(PostgresQueryBuilder),
                    Backend::MySql => self.build_sqlx(MysqlQueryBuilder),
                }
            }
        }
    )*};
}
renderable!(
    SelectStatement,
    InsertStatement,
    UpdateStatement,
    DeleteStatement
);

/// The SQL statements of a migration file: split on `;` at line ends, comments dropped.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(";\n")
        .map(|statement| statement.trim().trim_end_matches(';').trim().to_string())
        .filter(|statement| !statement.is_empty())
        .collect()
}

/// `sqlite://PATH` with the file (and its folder) created when missing.
fn sqlite_url(url: &str) -> Result<String, DbError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(DbError::Url(
            "an SQLite URL names a file, e.g. sqlite://data/indexer.db (an in-memory database would lose the index on restart)".into(),
        ));
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| {
            DbError::Url(format!(
                "cannot create the folder {}: {error}",
                parent.display()
            ))
        })?;
    }
    let mode = if query.contains("mode=") {
        ""
    } else {
        "mode=rwc"
    };
    let joined = [query, mode]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!("sqlite://{path}?{joined}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_chosen_by_scheme() {
        assert_eq!("sqlite://a.db".parse::<Backend>().unwrap(), Backend::Sqlite);
        assert_eq!(
            "postgres://u@h/d".parse::<Backend>().unwrap(),
            Backend::Postgres
        );
        assert_eq!("mysql://u@h/d".parse::<Backend>().unwrap(), Backend::MySql);
        assert!(matches!(
            "redis://h".parse::<Backend>(),
            Err(DbError::Url(_))
        ));
    }

    #[test]
    fn migrations_split_into_statements() {
        let parsed =
            statements("-- a comment\nCREATE TABLE a (x BIGINT);\nCREATE INDEX b ON a (x);\n");
        assert_eq!(
            parsed,
            ["CREATE TABLE a (x BIGINT)", "CREATE INDEX b ON a (x)"]
        );
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            assert!(statements(backend.migrations()[0].1).len() > 10);
        }
    }

    #[tokio::test]
    async fn an_sqlite_file_is_created_migrated_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/index.db", dir.path().display());
        let database = Database::open(&url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(database.pool())
            .await
            .unwrap();
        assert_eq!(applied, 3);
        drop(database);
        Database::open(&url).await.unwrap();
        assert!(matches!(
            Database::open("sqlite://:memory:").await,
            Err(DbError::Url(_))
        ));
    }
}
