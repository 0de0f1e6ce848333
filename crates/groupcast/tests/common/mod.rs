//! Helpers for end-to-end tests: run the binary, receive multicast on loopback.
//!
//! All traffic stays on 127.0.0.1: senders are pinned with `--iface 127.0.0.1` and TTL 1,
//! receivers join on 127.0.0.1, and every run is bounded by `--duration`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod netns;
pub mod system;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits for the process to exit by itself; panics after `limit`.
    pub fn wait(mut self, limit: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "process did not exit in {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `groupcast ARGS`, logs to a file next to `dir`.
pub fn groupcast(args: &[&str]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Proc(child)
}

/// Starts `groupcast ARGS` with its log (stderr) going to the file `log`.
pub fn groupcast_logged(args: &[&str], log: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Proc(child)
}

/// The committed sample stream.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/sample.ts")
}

/// A fresh temporary directory for one test.
pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("groupcast-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A self-signed certificate for `localhost` and 127.0.0.1 with its key, written as PEM into
/// `dir` (the certificate is its own CA).
pub fn self_signed(dir: &Path) -> groupcast_manager::TlsFiles {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let made = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    groupcast_manager::TlsFiles { cert, key }
}

/// A socket joined to `group` on loopback.
pub fn join(group: SocketAddr) -> UdpSocket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_recv_buffer_size(8 << 20).unwrap();
    s.bind(&SockAddr::from(group)).unwrap();
    let SocketAddr::V4(g) = group else {
        panic!("IPv4 only")
    };
    s.join_multicast_v4(g.ip(), &Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_all_v4(false).unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

/// Receives on `sock` for `dur` (or until `max` datagrams): (arrival, bytes).
pub fn collect(sock: &UdpSocket, dur: Duration, max: usize) -> Vec<(Instant, Vec<u8>)> {
    let end = Instant::now() + dur;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end && out.len() < max {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push((Instant::now(), buf[..n].to_vec()));
        }
    }
    out
}

/// RTP sequence number, timestamp and SSRC of a datagram.
pub fn rtp_fields(d: &[u8]) -> (u16, u32, u32) {
    (
        u16::from_be_bytes([d[2], d[3]]),
        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
    )
}

/// Reads a JSON stats file.
pub fn stats(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A sender socket pinned to loopback.
pub fn loopback_sender() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// ffmpeg's error lines decoding `file` from its first byte (empty: clean).
pub fn decoder_errors(file: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed (.ci/run installs ffmpeg)");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}
