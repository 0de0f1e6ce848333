//! Opening the database (SQLite or PostgreSQL through sqlx's `Any`), the schema, the first
//! admin, and the small helpers every query module uses (time, ids, tokens, keys).

use crate::Error;
use groupcast_api::SessionId;
use groupcast_grouping::MetroId;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Transaction};
use std::time::Duration;

/// The schema, one folder for both backends.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Set on every SQLite connection: WAL (readers never block the writer), a generous wait for
/// the write lock instead of failing at once, and foreign keys (off by default in SQLite).
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

/// A transaction on the manager's database.
pub(crate) type Tx = Transaction<'static, Any>;

/// Opens (creating a SQLite file if missing) and migrates the database.
pub(crate) async fn open(url: &str) -> Result<AnyPool, Error> {
    sqlx::any::install_default_drivers();
    let (url, max) = if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() || path.contains(":memory:") {
            return Err(Error::Config(
                "an in-memory SQLite database would be one per connection: use a file".into(),
            ));
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        (format!("sqlite://{path}{sep}mode=rwc"), 8)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (url.to_string(), 16)
    } else {
        return Err(Error::Config(
            "the database URL must start with sqlite:// or postgres://".into(),
        ));
    };
    let sqlite = url.starts_with("sqlite:");
    let pool = AnyPoolOptions::new()
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    for pragma in SQLITE_PRAGMAS {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await?;
    MIGRATOR.run(&pool).await.map_err(Error::Migrate)?;
    Ok(pool)
}

/// A read-only transaction whose statements all see one snapshot of the database: REPEATABLE
/// READ on PostgreSQL (whose default gives each statement its own), and SQLite's own
/// (a read transaction in WAL mode already reads one snapshot from its first statement on).
pub(crate) async fn snapshot(pool: &AnyPool) -> Result<Tx, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Creates user `admin` when no admin exists; returns its token then.
pub(crate) async fn bootstrap_admin(
    pool: &AnyPool,
    token: Option<String>,
) -> Result<Option<String>, Error> {
    let mut tx = pool.begin().await?;
    let (admins,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&mut *tx)
        .await?;
    if admins > 0 {
        return Ok(None);
    }
    let token = token.unwrap_or_else(new_token);
    sqlx::query(
        "INSERT INTO users (name, role, token_hash, created_ms) VALUES ('admin', 'admin', $1, $2)",
    )
    .bind(hash_token(&token))
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// Unix time, ms.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is not something a manager can work around.
    getrandom::fill(&mut b).expect("the OS random source works");
    b
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    groupcast_api::format_hex(bytes)
}

/// A fresh bearer token: 32 random bytes as hex.
pub(crate) fn new_token() -> String {
    hex(&random_bytes::<32>())
}

/// A fresh group key: 32 random bytes as hex.
pub(crate) fn new_key() -> String {
    hex(&random_bytes::<32>())
}

/// A fresh session id, below 2^63 (it is stored as BIGINT) and never 0.
pub(crate) fn new_session_id() -> SessionId {
    SessionId((u64::from_le_bytes(random_bytes::<8>()) >> 1).max(1))
}

/// What is stored for a token: SHA-256 hex. Tokens are 256 random bits, so a fast hash is
/// enough (nothing to brute-force), and it keeps authentication cheap on the heartbeat path.
pub(crate) fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// True when `e` is a unique-key violation (a name or id taken).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether the database rolled the transaction back as the victim of a deadlock (PostgreSQL
/// 40P01) or a serialization failure (40001): nothing of it was written, and running it
/// again from the start is the documented remedy.
pub(crate) fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")))
}

/// The id of metro `name`, registering it if new. New metros get a random id, so that
/// instances registering different metros at once do not contend for the next number.
pub(crate) async fn metro_id(pool: &AnyPool, name: &str) -> Result<MetroId, sqlx::Error> {
    for _ in 0..8 {
        let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM metros WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
        if let Some((id,)) = found {
            return Ok(MetroId(id as u32));
        }
        let id = u32::from_le_bytes(random_bytes::<4>()) >> 1;
        // A taken name (registered meanwhile) or id (rare): nothing inserted, look again.
        sqlx::query("INSERT INTO metros (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(i64::from(id.max(1)))
            .bind(name)
            .execute(pool)
            .await?;
    }
    Err(sqlx::Error::Protocol("could not register a metro".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keys_ids() {
        assert_eq!(new_token().len(), 64);
        assert_ne!(new_key(), new_key());
        assert!(new_session_id().0 < 1 << 63);
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
