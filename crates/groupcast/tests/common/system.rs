//! A whole system on loopback for end-to-end tests: an embedded manager (SQLite in a temporary
//! directory), a channel, a viewer, clients and a source as real processes.
//!
//! All multicast stays on 127.0.0.1 with TTL 1; every process has a `--duration`.

use super::{Proc, groupcast, groupcast_logged, sample};
use serde_json::{Value, json};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A manager with one channel and one viewer entitled to it.
pub struct System {
    /// The running manager.
    pub manager: Option<groupcast_manager::Handle>,
    /// Its base URL.
    pub url: String,
    /// The admin's token.
    pub admin: String,
    /// The channel's multicast group, IP:PORT.
    pub group: String,
    /// The viewer's token.
    pub viewer: String,
    /// Scratch directory.
    pub dir: PathBuf,
    /// The CA certificate (PEM) of an HTTPS manager's self-signed certificate.
    pub ca: Option<PathBuf>,
}

/// Calls the manager's API; panics on transport errors, returns (status, body).
pub fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    call_checking(None, method, url, token, body)
}

/// As [`call`], trusting the certificate(s) in `ca` for an https URL.
pub fn call_checking(
    ca: Option<&Path>,
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i.unwrap() {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .tls_config(tls.build())
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let resp = match (method, body) {
        ("GET", _) => agent.get(url).header("Authorization", &auth).call(),
        ("DELETE", _) => agent.delete(url).header("Authorization", &auth).call(),
        ("POST", Some(b)) => agent.post(url).header("Authorization", &auth).send_json(b),
        ("PUT", _) => agent.put(url).header("Authorization", &auth).send_empty(),
        _ => panic!("unsupported call {method}"),
    };
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_json().unwrap_or(Value::Null);
    (status, body)
}

/// What a [`System`] may be started with besides the defaults.
#[derive(Default)]
pub struct Options<'a> {
    /// HTTPS with a certificate made now.
    pub https: bool,
    /// A media secret and key period, ms.
    pub media: Option<(&'a str, u32)>,
    /// The unicast fallback's secret.
    pub unicast_secret: Option<&'a str>,
    /// More fields of the channel `demo` (a JSON object).
    pub channel: Value,
}

impl System {
    /// Starts a manager (sessions time out after `timeout_ms`) and creates channel `demo` on a
    /// group whose port is `port_offset` away from a per-process base, plus a viewer.
    pub fn start(name: &str, port_offset: u16, timeout_ms: u32) -> System {
        Self::start_with(name, port_offset, timeout_ms, false)
    }

    /// As [`System::start`]; with `https`, the manager serves HTTPS with a certificate for
    /// `localhost` made now, which clients trust through `--ca`.
    pub fn start_with(name: &str, port_offset: u16, timeout_ms: u32, https: bool) -> System {
        Self::start_media(name, port_offset, timeout_ms, https, None)
    }

    /// As [`System::start_with`]; with `media` (a secret and a period, ms), the manager hands
    /// sessions the channel's media keys.
    pub fn start_media(
        name: &str,
        port_offset: u16,
        timeout_ms: u32,
        https: bool,
        media: Option<(&str, u32)>,
    ) -> System {
        Self::start_opts(
            name,
            port_offset,
            timeout_ms,
            Options {
                https,
                media,
                ..Options::default()
            },
        )
    }

    /// As [`System::start`], with everything [`Options`] may add.
    pub fn start_opts(name: &str, port_offset: u16, timeout_ms: u32, opts: Options<'_>) -> System {
        let Options {
            https,
            media,
            unicast_secret,
            channel,
        } = opts;
        let dir = super::tempdir(name);
        let admin = format!("admin-token-{}-0123456789abcdef0123", std::process::id());
        let tls = https.then(|| super::self_signed(&dir));
        let manager = groupcast_manager::start_in_thread(groupcast_manager::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db_url: format!("sqlite://{}?mode=rwc", dir.join("m.db").display()),
            admin_token: Some(admin.clone()),
            heartbeat_ms: 200,
            session_timeout_ms: timeout_ms,
            tls: tls.clone(),
            media_secret: media.map(|(secret, _)| secret.to_owned()),
            media_key_period_ms: media.map_or(60_000, |(_, period)| period),
            unicast_secret: unicast_secret.map(str::to_owned),
            ..groupcast_manager::Config::default()
        })
        .unwrap();
        let ca = tls.map(|t| t.cert);
        let url = match ca {
            Some(_) => format!("https://localhost:{}", manager.addr().port()),
            None => format!("http://{}", manager.addr()),
        };
        let call = |method, url: &str, token: &str, body| {
            call_checking(ca.as_deref(), method, url, token, body)
        };
        let port = 30_000 + (std::process::id() % 10_000) as u16 * 2 + port_offset;
        let group = format!("239.255.43.{}:{port}", 1 + port_offset);
        let mut spec = json!({"name": "demo", "group": group, "buffer_ms": 1000});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), channel.as_object()) {
            spec.extend(extra.clone());
        }
        let (s, v) = call(
            "POST",
            &format!("{url}/api/v1/channels"),
            &admin,
            Some(spec),
        );
        assert_eq!(s, 201, "create channel: {v}");
        let (s, v) = call(
            "POST",
            &format!("{url}/api/v1/users"),
            &admin,
            Some(json!({"name": "viewer", "role": "viewer", "channels": ["demo"]})),
        );
        assert_eq!(s, 201, "create viewer");
        let viewer = v["token"].as_str().unwrap().to_owned();
        System {
            manager: Some(manager),
            url,
            admin,
            group,
            viewer,
            dir,
            ca,
        }
    }

    /// Starts client `i` in metro `metro`, dropping `drop` of its multicast, for `secs`.
    pub fn client(&self, i: usize, metro: &str, drop: f64, secs: u64, extra: &[&str]) -> Proc {
        let out = format!("file:{}", self.output(i).display());
        let stats = self.stats_path(i);
        let mut args = vec![
            "client",
            "--manager",
            &self.url,
            "--token",
            &self.viewer,
            "--channel",
            "demo",
            "--iface",
            "127.0.0.1",
            "--quiet",
            "--metro",
            metro,
            "--output",
            &out,
            "--stats-json",
            stats.to_str().unwrap(),
        ];
        let (secs, drop, seed) = (secs.to_string(), drop.to_string(), (i + 1).to_string());
        args.extend([
            "--duration",
            &secs,
            "--drop-rate",
            &drop,
            "--drop-seed",
            &seed,
        ]);
        let ca = self.ca.as_ref().map(|c| c.to_str().unwrap());
        if let Some(ca) = &ca {
            args.extend(["--ca", ca]);
        }
        args.extend(extra);
        groupcast_logged(&args, &self.dir.join(format!("client-{i}.log")))
    }

    /// Starts the source on the sample (not looped: it ends after 12 s), for `secs` at most.
    pub fn source(&self, secs: u64) -> Proc {
        sample_source(&self.group, secs, false)
    }

    /// Client `i`'s output file.
    pub fn output(&self, i: usize) -> PathBuf {
        self.dir.join(format!("client-{i}.ts"))
    }

    /// Client `i`'s statistics file.
    pub fn stats_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("client-{i}.json"))
    }

    /// A system whose channel names a unicast relay on a free loopback port, with the
    /// manager issuing tickets under `secret`; returns it and the relay's address.
    pub fn with_relay(name: &str, port_offset: u16, secret: &'static str) -> (System, String) {
        let relay = format!("127.0.0.1:{}", free_udp_port());
        let opts = Options {
            unicast_secret: Some(secret),
            channel: json!({ "relay": relay }),
            ..Options::default()
        };
        (System::start_opts(name, port_offset, 5000, opts), relay)
    }

    /// The sample, not looped, for `secs`, from a source that is also the channel's unicast
    /// relay at `relay` (ticket secret `secret`), writing its statistics to `source.json` in
    /// the system's directory; `extra` are more source options.
    pub fn relay_source(&self, relay: &str, secret: &str, secs: u64, extra: &[&str]) -> Proc {
        let stats = self.dir.join("source.json");
        let mut args = vec![
            "--channel",
            "demo",
            "--unicast-listen",
            relay,
            "--unicast-secret",
            secret,
            "--stats-json",
            stats.to_str().unwrap(),
        ];
        args.extend(extra);
        sample_source_with(&self.group, secs, false, &args)
    }

    /// Client `i`'s output is byte-exact: a run of the sample, after at most the two tables a
    /// clean start puts first when it begins at a later keyframe (a viewer whose relay came up
    /// after the stream began, as when the source is the relay and starts after the viewers).
    pub fn exact_after_clean_start(&self, i: usize) -> Result<usize, String> {
        let out = std::fs::read(self.output(i)).map_err(|e| e.to_string())?;
        let sample = std::fs::read(super::sample()).unwrap();
        let in_sample = |p: &[u8]| sample.chunks(188).any(|q| q == p);
        let mut last = String::new();
        for skip in 0..=2 {
            if !out.chunks(188).take(skip).all(in_sample) {
                return Err("a leading table that is not the sample's".into());
            }
            let rest = self.dir.join(format!("rest-{i}.ts"));
            std::fs::write(&rest, out.get(skip * 188..).unwrap_or_default()).unwrap();
            match contiguous_run_of_sample(&rest) {
                Ok(n) => return Ok(n),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Client `i`'s final statistics.
    pub fn stats(&self, i: usize) -> Value {
        super::stats(&self.stats_path(i))
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some(m) = self.manager.take() {
            m.stop();
        }
    }
}

/// Checks that `out` is one contiguous, byte-exact run of the sample's TS (it may start and end
/// anywhere on a packet boundary); returns its length in TS packets, or what is wrong.
pub fn contiguous_run_of_sample(out: &Path) -> Result<usize, String> {
    let sample = std::fs::read(sample()).unwrap();
    let out = std::fs::read(out).map_err(|e| e.to_string())?;
    if out.len() < 188 * 7 || out.len() % 188 != 0 {
        return Err(format!("output of {} bytes", out.len()));
    }
    let head = &out[..188 * 7];
    let start = (0..sample.len() / 188)
        .map(|p| p * 188)
        .find(|&o| sample[o..].starts_with(head))
        .ok_or("the first packets are not in the sample")?;
    let want = &sample[start..];
    if want.len() < out.len() {
        return Err(format!(
            "{} bytes more than the sample holds",
            out.len() - want.len()
        ));
    }
    match out.iter().zip(want).position(|(a, b)| a != b) {
        None => Ok(out.len() / 188),
        Some(at) => Err(format!(
            "differs from the sample at TS packet {} of {} (a hole or a duplicate)",
            at / 188,
            out.len() / 188
        )),
    }
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A source of the sample on `group` from 127.0.0.1 (TTL 1) for `secs` at most, looped or not.
pub fn sample_source(group: &str, secs: u64, looped: bool) -> Proc {
    sample_source_with(group, secs, looped, &[])
}

/// As [`sample_source`], with `extra` options.
pub fn sample_source_with(group: &str, secs: u64, looped: bool, extra: &[&str]) -> Proc {
    let input = sample();
    let secs = secs.to_string();
    let mut args = vec![
        "source",
        "--input",
        input.to_str().unwrap(),
        "--group",
        group,
        "--iface",
        "127.0.0.1",
        "--ttl",
        "1",
        "--duration",
        &secs,
    ];
    if looped {
        args.push("--loop");
    }
    args.extend(extra);
    groupcast(&args)
}
