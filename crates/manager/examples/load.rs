//! Load generator for the manager (run by `bench/manager.sh`): opens N sessions, then sends
//! heartbeats from a fixed pool of keep-alive connections for a fixed time and prints
//! heartbeats/s and latency percentiles. Talks to 127.0.0.1 only; every loop is bounded.
//!
//! `cargo run --release -p groupcast-manager --example load -- URL TOKEN [SESSIONS] [SECONDS] [CONNECTIONS]`
#![allow(clippy::unwrap_used)]

use anyhow::{Context, bail};
use groupcast_api::{ClientStats, CreatedUser, Heartbeat, SessionId, SessionInfo, Ssrc};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHANNELS: usize = 4;
const METROS: usize = 20;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (base, admin) = match (args.get(1), args.get(2)) {
        (Some(b), Some(t)) => (b.clone(), t.clone()),
        _ => bail!("usage: load URL ADMIN_TOKEN [SESSIONS] [SECONDS] [CONNECTIONS]"),
    };
    if !base.starts_with("http://127.0.0.1:") {
        bail!("the load generator only talks to http://127.0.0.1:PORT");
    }
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (sessions, seconds, connections) = (
        arg(3, 10_000),
        arg(4, 10).min(300),
        arg(5, 32).clamp(1, 256),
    );

    let setup = agent();
    let auth = format!("Bearer {admin}");
    let names: Vec<String> = (0..CHANNELS).map(|c| format!("load-{c}")).collect();
    for (c, name) in names.iter().enumerate() {
        let spec = json!({"name": name, "group": format!("239.255.9.{c}:5004")});
        setup
            .post(format!("{base}/api/v1/channels"))
            .header("Authorization", &auth)
            .send_json(&spec)?;
    }
    let body = json!({"name": format!("load-{}", std::process::id()), "role": "viewer", "channels": names});
    let user: CreatedUser = setup
        .post(format!("{base}/api/v1/users"))
        .header("Authorization", &auth)
        .send_json(&body)?
        .body_mut()
        .read_json()
        .context("create the load user")?;
    let token = format!("Bearer {}", user.token);

    // Open the sessions from the connection pool.
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let ids: Vec<SessionId> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections.min(8))
            .map(|_| {
                s.spawn(|| {
                    let agent = agent();
                    let mut ids = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= sessions {
                            return ids;
                        }
                        let open = json!({"channel": names[i % CHANNELS], "metro": format!("metro-{}", i % METROS),
                                          "peer_addr": format!("127.0.0.1:{}", 20_000 + i % 40_000)});
                        let mut resp = agent.post(format!("{base}/api/v1/sessions")).header("Authorization", &token).send_json(&open).unwrap();
                        assert_eq!(resp.status().as_u16(), 201, "{}", resp.body_mut().read_to_string().unwrap_or_default());
                        ids.push(resp.body_mut().read_json::<SessionInfo>().unwrap().session);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let open_s = started.elapsed().as_secs_f64();
    println!(
        "opened {} sessions in {open_s:.1} s ({:.0}/s)",
        ids.len(),
        ids.len() as f64 / open_s
    );

    // Heartbeats for `seconds`, each connection cycling through its share of the sessions.
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let (mut latencies, errors): (Vec<u32>, usize) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|w| {
                let (ids, token, base) = (&ids, &token, &base);
                s.spawn(move || {
                    let agent = agent();
                    let mut lat = Vec::with_capacity(200_000);
                    let mut errors = 0;
                    let mine: Vec<SessionId> =
                        ids.iter().copied().skip(w).step_by(connections).collect();
                    for (n, id) in mine.iter().cycle().enumerate() {
                        if Instant::now() >= deadline || lat.len() >= 5_000_000 {
                            break;
                        }
                        let received = n as u64 * 100;
                        let hb = Heartbeat {
                            stats: ClientStats {
                                received,
                                lost: n as u64,
                                repaired: n as u64,
                                peers: 4,
                                buffer_ms: 1000,
                                ..ClientStats::default()
                            },
                            ssrc: Ssrc(1),
                            losses: if n % 10 == 0 {
                                vec![(n % 65_536) as u16]
                            } else {
                                Vec::new()
                            },
                            unicast: None,
                        };
                        let t = Instant::now();
                        let ok = agent
                            .post(format!("{base}/api/v1/sessions/{id}/heartbeat"))
                            .header("Authorization", token)
                            .send_json(&hb)
                            .map(|mut r| {
                                r.status().as_u16() == 200 && r.body_mut().read_to_vec().is_ok()
                            })
                            .unwrap_or(false);
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                        errors += usize::from(!ok);
                    }
                    (lat, errors)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).fold(
            (Vec::new(), 0),
            |(mut l, e), (l2, e2)| {
                l.extend(l2);
                (l, e + e2)
            },
        )
    });
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| f64::from(latencies[((latencies.len() - 1) as f64 * p) as usize]) / 1000.0;
    println!(
        "heartbeats {} in {secs:.1} s: {:.0}/s, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {errors} ({connections} connections, {} sessions)",
        latencies.len(),
        latencies.len() as f64 / secs,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        ids.len()
    );
    if errors > 0 {
        bail!("{errors} heartbeats failed");
    }
    Ok(())
}
