//! Shared by the manager's tests: databases to test on, a manager per test, an HTTP client,
//! and an SSE reader.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use groupcast_api::{Assignment, SessionId, SessionInfo};
use groupcast_manager::{Config, Handle};
use serde_json::{Value, json};
use std::io::BufRead;
use std::sync::mpsc;
use std::time::Duration;

/// The admin token every test manager starts with.
pub const ADMIN: &str = "test-admin-token-0123456789abcdef";

/// A fresh SQLite database file for `test`.
pub fn sqlite_url(test: &str) -> String {
    let dir = std::env::temp_dir().join(format!("groupcast-manager-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    format!("sqlite://{}", path.display())
}

/// A fresh PostgreSQL database for `test` on the server named by `GROUPCAST_PG_URL`; `None`
/// (with a note) when that is unset outside CI. In CI (`CI` set) a missing URL fails the test.
pub fn pg_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("GROUPCAST_PG_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "GROUPCAST_PG_URL is not set: in CI the PostgreSQL tests must run (scripts/postgres prints the URL)"
            );
        }
        eprintln!("note: GROUPCAST_PG_URL unset, PostgreSQL variant of {test} skipped");
        return None;
    };
    let name = format!("gct_{test}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&base).await.unwrap();
        // FORCE cannot end an autovacuum worker (not our role) still in a previous run's
        // database: it finishes soon, so try again a few times.
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        for attempt in 0.. {
            let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(drop.clone()))
                .execute(&mut conn)
                .await;
            match dropped {
                Ok(_) => break,
                Err(e) if attempt < 20 => {
                    eprintln!("dropping {name}: {e}; again");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(e) => panic!("dropping {name}: {e}"),
            }
        }
        let create = format!("CREATE DATABASE {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
            .unwrap();
    });
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("GROUPCAST_PG_URL ends with /DATABASE");
    Some(format!("{prefix}/{name}"))
}

/// Starts a manager on `url` listening on a free loopback port.
pub fn start(url: &str) -> Handle {
    start_with(url, 1000, 5000)
}

/// As [`start`], with heartbeat interval and session timeout.
pub fn start_with(url: &str, heartbeat_ms: u32, timeout_ms: u32) -> Handle {
    groupcast_manager::start_in_thread(Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db_url: url.to_string(),
        admin_token: Some(ADMIN.to_string()),
        heartbeat_ms,
        session_timeout_ms: timeout_ms,
        ..Config::default()
    })
    .unwrap()
}

/// A JSON client of one manager.
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client of the manager at `handle`.
    pub fn new(handle: &Handle) -> Api {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build();
        Api {
            base: format!("http://{}", handle.addr()),
            agent: config.into(),
        }
    }

    /// The manager's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Any request; answers (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {token}");
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("PUT", _) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .send_empty(),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(b),
            (_, None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
        };
        let mut resp = resp.unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `/metrics` as the admin reads it.
    pub fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.base);
        let auth = format!("Bearer {ADMIN}");
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", &auth)
            .call()
            .unwrap();
        resp.body_mut().read_to_string().unwrap()
    }

    /// A request that must succeed; its body as `T`.
    pub fn ok<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> T {
        let (status, value) = self.call(method, path, token, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        serde_json::from_value(value).unwrap()
    }

    /// Asserts that the admin cannot create a channel with `extra` fields (400), for `why`.
    pub fn refuses_channel(&self, extra: Value, why: &str) {
        let mut body = json!({"name": "bad", "group": "239.255.0.9:5004"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let (status, v) = self.call("POST", "/api/v1/channels", ADMIN, Some(body));
        assert_eq!(status, 400, "{why}: {v}");
    }

    /// Creates a channel (admin).
    pub fn channel(&self, name: &str, extra: Value) -> groupcast_api::Channel {
        let mut spec = json!({"name": name, "group": "239.255.0.1:5004"});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        self.ok("POST", "/api/v1/channels", ADMIN, Some(spec))
    }

    /// Creates a viewer entitled to `channels`; its token.
    pub fn viewer(&self, name: &str, channels: &[&str]) -> String {
        let created: groupcast_api::CreatedUser = self.ok(
            "POST",
            "/api/v1/users",
            ADMIN,
            Some(json!({"name": name, "role": "viewer", "channels": channels})),
        );
        created.token
    }

    /// Opens a session.
    pub fn open(&self, token: &str, channel: &str, metro: &str, port: u16) -> SessionInfo {
        let body =
            json!({"channel": channel, "metro": metro, "peer_addr": format!("127.0.0.1:{port}")});
        self.ok("POST", "/api/v1/sessions", token, Some(body))
    }

    /// A heartbeat with default statistics: (status, assignment if 200).
    pub fn heartbeat(&self, token: &str, session: SessionId) -> (u16, Option<Assignment>) {
        let body = json!({"stats": groupcast_api::ClientStats::default()});
        let (status, v) = self.call(
            "POST",
            &format!("/api/v1/sessions/{session}/heartbeat"),
            token,
            Some(body),
        );
        (status, serde_json::from_value(v).ok())
    }

    /// Subscribes to a session's group events; they arrive on the returned channel.
    pub fn events(&self, token: &str, session: SessionId) -> mpsc::Receiver<Assignment> {
        let url = format!("{}/api/v1/sessions/{session}/events", self.base);
        let resp = ureq::get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let reader = std::io::BufReader::new(resp.into_body().into_reader());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                let event = line
                    .strip_prefix("data:")
                    .map(|d| serde_json::from_str::<Assignment>(d.trim()));
                if let Some(Ok(a)) = event
                    && tx.send(a).is_err()
                {
                    return;
                }
            }
        });
        rx
    }
}
