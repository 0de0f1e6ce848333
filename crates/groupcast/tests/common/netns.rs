//! A private network namespace for tests that need IPv6 multicast (which does not run on the
//! host's loopback): `lo` and a veth pair `v0`/`v1`, no route out, deleted when dropped.
//! Needs root (CI runs as root).

use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A network namespace, deleted when dropped.
pub struct Netns(pub String);

impl Netns {
    /// Creates namespace `name` (replacing a leftover of that name) with `lo`, `v0` and `v1`
    /// up and duplicate address detection off, so addresses work at once.
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        ip(&["netns", "add", name]);
        let ns = Netns(name.into());
        for key in ["all", "default"] {
            let sysctl = format!("net.ipv6.conf.{key}.accept_dad=0");
            let out = ns.run(&["sysctl", "-qw", &sysctl]);
            assert!(out.status.success(), "{sysctl}");
        }
        ip(&["-n", name, "link", "set", "lo", "up"]);
        ip(&[
            "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        ip(&["-n", name, "link", "set", "v0", "up"]);
        ip(&["-n", name, "link", "set", "v1", "up"]);
        std::thread::sleep(Duration::from_millis(200));
        ns
    }

    /// Runs `ip -n NAME ARGS`; panics if it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.0];
        all.extend(args);
        ip(&all);
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// Runs `args` inside the namespace to completion; its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `ip ARGS`; panics if it fails.
fn ip(args: &[&str]) {
    let st = Command::new("ip")
        .args(args)
        .status()
        .expect("iproute2 is installed");
    assert!(
        st.success(),
        "ip {args:?} failed: this test needs root (CI runs as root)"
    );
}
