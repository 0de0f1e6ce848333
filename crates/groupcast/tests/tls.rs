//! The manager over HTTPS (issue 13, finding 6): `groupcast admin` and `groupcast client`
//! reach it with `--ca`, play the channel with repair as over HTTP, and refuse a manager whose
//! certificate they cannot check; tokens cross the wire only inside TLS.

#![allow(clippy::unwrap_used)]

mod common;
use common::system::{System, contiguous_run_of_sample};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `groupcast admin ARGS` against `url`; (success, stdout, stderr).
fn admin(url: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_groupcast"))
        .args(["admin", "--manager", url])
        .args(args)
        .env("GROUPCAST_TOKEN", token)
        .env_remove("GROUPCAST_CA")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Relays one connection at a time from a loopback port to `to`, keeping every byte the
/// client sent: what an eavesdropper on the path would see. Ends after `conns` connections.
fn tap(to: u16, conns: usize) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(conns) {
            let Ok(mut client) = conn else { return };
            let mut server = TcpStream::connect(("127.0.0.1", to)).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let back = std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
            let mut buf = [0u8; 4096];
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            while let Ok(n) = client.read(&mut buf) {
                if n == 0 || server.write_all(&buf[..n]).is_err() {
                    break;
                }
                kept.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = server.shutdown(std::net::Shutdown::Write);
            let _ = back.join();
        }
    });
    (port, seen)
}

#[test]
fn admin_and_clients_use_an_https_manager_and_check_its_certificate() {
    let sys = System::start_with("tls", 10, 5000, true);
    let ca = sys.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let port: u16 = sys.url.rsplit(':').next().unwrap().parse().unwrap();

    // The admin CLI with the CA: works, and on the wire the token is nowhere to be seen.
    let (tapped, seen) = tap(port, 1);
    let through = format!("https://localhost:{tapped}");
    let (ok, out, err) = admin(&through, &sys.admin, &["--ca", ca, "user", "list"]);
    assert!(ok && out.contains("viewer"), "{out}{err}");
    let wire = seen.lock().unwrap().clone();
    assert!(wire.len() > 200, "the call went through the tap");
    let token = sys.admin.as_bytes();
    assert!(
        !wire.windows(token.len()).any(|w| w == token),
        "the admin token crossed the wire in clear"
    );
    assert!(!wire.windows(4).any(|w| w == b"GET "), "a request in clear");

    // Without the CA (the system's roots do not know it), and over plain HTTP: refused.
    let (ok, _, err) = admin(&sys.url, &sys.admin, &["user", "list"]);
    assert!(!ok, "an unknown certificate must not be accepted");
    assert!(
        err.to_lowercase().contains("certificate"),
        "a clear error: {err}"
    );
    let plain = format!("http://localhost:{port}");
    let (ok, _, err) = admin(&plain, &sys.admin, &["--ca", ca, "user", "list"]);
    assert!(!ok, "plain HTTP to the HTTPS port gets nowhere: {err}");
    let (ok, _, err) = admin(
        &sys.url,
        &sys.admin,
        &["--ca", "/nonexistent.pem", "user", "list"],
    );
    assert!(!ok && err.contains("/nonexistent.pem"), "{err}");

    // Two viewers open sessions over HTTPS and follow their group; the one that drops 5 % of
    // its multicast is repaired by the other (which drops nothing: no loss is group-wide).
    let clients: Vec<_> = (0..2)
        .map(|i| sys.client(i, ["north", "south"][i], [0.05, 0.0][i], 8, &[]))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let _source = sys.source(9);
    for c in clients {
        assert!(c.wait(Duration::from_secs(30)).success(), "client exit");
    }
    for i in 0..2 {
        let s = sys.stats(i);
        assert!(
            s["group"].as_u64().unwrap() > 0,
            "client {i} got a group: {s}"
        );
        // It knew its peer and talked to it over the repair protocol. (Its final figures may
        // come after the other one closed its session: `peers` is then 0.)
        assert!(
            s["peer_bytes_received"].as_u64().unwrap() > 0 && s["epoch"].as_u64().unwrap() >= 2,
            "client {i} knows its peer: {s}"
        );
        assert_eq!(s["unrecovered"], 0, "{s}");
        contiguous_run_of_sample(&sys.output(i)).unwrap();
    }
    let s = sys.stats(0);
    assert!(s["repaired"].as_u64().unwrap() > 20, "{s}");
    assert_eq!(s["repaired"], s["lost"], "{s}");
}

#[test]
fn a_manager_with_unusable_certificate_files_does_not_start() {
    let dir = common::tempdir("tls-bad");
    let good = common::self_signed(&dir);
    std::fs::write(dir.join("junk.pem"), "not a certificate").unwrap();
    let start = |cert: &str, key: &std::path::Path| {
        groupcast_manager::start_in_thread(groupcast_manager::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db_url: format!("sqlite://{}?mode=rwc", dir.join("m.db").display()),
            admin_token: Some("tls-bad-admin-token-0123456789abcdef".into()),
            tls: Some(groupcast_manager::TlsFiles {
                cert: dir.join(cert),
                key: key.to_path_buf(),
            }),
            ..groupcast_manager::Config::default()
        })
        .err()
        .map(|e| e.to_string())
    };
    let err = start("missing.pem", &good.key).expect("a missing certificate");
    assert!(
        err.contains("--tls-cert") && err.contains("missing.pem"),
        "{err}"
    );
    let err = start("junk.pem", &good.key).expect("no certificate in the file");
    assert!(err.contains("--tls-cert"), "{err}");
    let err = start("cert.pem", &dir.join("junk.pem")).expect("no key in the file");
    assert!(err.contains("--tls-key"), "{err}");
    assert_eq!(start("cert.pem", &good.key), None, "the good pair starts");
}
