//! `groupcast admin`: manage channels, users and entitlements through the manager's API, and
//! list sessions. Tables for people, `--json` for scripts.

use crate::api_client::ApiClient;
use anyhow::Context;
use groupcast_api::{Channel, ChannelSpec, CreatedUser, NewUser, Role, SessionView, User};
use serde::Serialize;
use std::collections::BTreeMap;

/// Options of `groupcast admin`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The manager's base URL.
    #[arg(
        long,
        env = "GROUPCAST_MANAGER",
        default_value = "http://127.0.0.1:8080"
    )]
    manager: String,
    /// An admin's token.
    #[arg(long, env = "GROUPCAST_TOKEN", hide_env_values = true)]
    token: String,
    /// CA certificate(s), PEM, that an https manager's certificate must chain to (default:
    /// the system's roots).
    #[arg(long, env = "GROUPCAST_CA", value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Channels.
    #[command(subcommand)]
    Channel(ChannelCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Let USER watch CHANNEL.
    Grant {
        /// User name.
        user: String,
        /// Channel name.
        channel: String,
    },
    /// Stop USER from watching CHANNEL.
    Revoke {
        /// User name.
        user: String,
        /// Channel name.
        channel: String,
    },
    /// Live sessions with their groups.
    Sessions,
}

#[derive(clap::Subcommand)]
#[allow(clippy::large_enum_variant)] // one, parsed once from the command line
enum ChannelCmd {
    /// Create a channel.
    Add {
        /// Unique name.
        name: String,
        /// Multicast group, IP:PORT.
        #[arg(long)]
        group: String,
        /// SSM source address.
        #[arg(long)]
        source: Option<String>,
        /// A metro fed by an edge: METRO=IP:PORT (repeatable).
        #[arg(long = "metro-group", value_name = "METRO=IP:PORT")]
        metro_groups: Vec<String>,
        /// The SSM source of a metro group, the address its edge sends from: METRO=IP
        /// (repeatable; needed for every metro group of a channel with --source).
        #[arg(long = "metro-source", value_name = "METRO=IP")]
        metro_sources: Vec<String>,
        /// RTP packets per chunk.
        #[arg(long)]
        chunk_packets: Option<u32>,
        /// Play-out buffer, ms.
        #[arg(long)]
        buffer_ms: Option<u32>,
        /// Members per repair group.
        #[arg(long)]
        group_size: Option<u32>,
        /// Each viewer's uplink budget towards its repair group, kbit/s (0: no cap).
        #[arg(long)]
        uplink_kbps: Option<u32>,
        /// The central's unicast feed, HOST:PORT (`source --unicast-listen`), for viewers
        /// without multicast in metros with no relay of their own.
        #[arg(long)]
        relay: Option<String>,
        /// A dual-stack channel's IPv6 group, `[IP]:PORT` (then --group is its IPv4 one): each
        /// viewer joins the group of its own family (`source --group6`).
        #[arg(long)]
        group6: Option<String>,
        /// The SSM source address of --group6.
        #[arg(long)]
        source6: Option<String>,
        /// A metro's unicast feed, METRO=HOST:PORT (its edge's `--unicast-listen`;
        /// repeatable).
        #[arg(long = "metro-relay")]
        metro_relays: Vec<String>,
    },
    /// List channels.
    List,
    /// Delete a channel (its sessions end).
    Rm {
        /// Channel name.
        name: String,
    },
}

#[derive(clap::Subcommand)]
enum UserCmd {
    /// Create a user and print its token (shown only this once).
    Add {
        /// Unique name.
        name: String,
        /// Role.
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "admin"])]
        role: String,
        /// A channel it may watch (repeatable).
        #[arg(long = "channel")]
        channels: Vec<String>,
    },
    /// List users.
    List,
    /// Delete a user (its sessions end).
    Rm {
        /// User name.
        name: String,
    },
}

/// Runs one admin command.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let tls = crate::api_client::tls_config(args.ca.as_deref())?;
    let api = ApiClient::new(&args.manager, &args.token, tls);
    match &args.command {
        Cmd::Channel(cmd) => channel(&api, args.json, cmd),
        Cmd::User(cmd) => user(&api, args.json, cmd),
        Cmd::Grant { user, channel } => api.put(&format!("/users/{user}/channels/{channel}")),
        Cmd::Revoke { user, channel } => api.delete(&format!("/users/{user}/channels/{channel}")),
        Cmd::Sessions => {
            let sessions: Vec<SessionView> = api.get("/sessions")?;
            let rows = sessions.iter().map(|s| {
                let group = format!("{}/{}", s.group, s.epoch);
                let s2 = &s.stats;
                let counts = format!(
                    "{}/{}/{}/{}",
                    s2.received, s2.lost, s2.repaired, s2.unrecovered
                );
                vec![
                    s.session.to_string(),
                    s.user.clone(),
                    s.channel.clone(),
                    s.metro.clone(),
                    s.peer_addr.clone(),
                    group,
                    counts,
                ]
            });
            let head = [
                "SESSION",
                "USER",
                "CHANNEL",
                "METRO",
                "PEER",
                "GROUP/EPOCH",
                "RECV/LOST/REPAIRED/UNRECOVERED",
            ];
            output(args.json, &sessions, &head, rows)
        }
    }
}

fn channel(api: &ApiClient, json: bool, cmd: &ChannelCmd) -> anyhow::Result<()> {
    match cmd {
        ChannelCmd::Add {
            name,
            group,
            source,
            metro_groups,
            metro_sources,
            chunk_packets,
            buffer_ms,
            group_size,
            uplink_kbps,
            relay,
            metro_relays,
            group6,
            source6,
        } => {
            let pairs = |flag: &str, want: &str, list: &[String]| {
                list.iter()
                    .map(|m| {
                        let (metro, v) = m
                            .split_once('=')
                            .with_context(|| format!("--{flag} {m}: want {want}"))?;
                        Ok((metro.to_string(), v.to_string()))
                    })
                    .collect::<anyhow::Result<BTreeMap<_, _>>>()
            };
            let overrides = pairs("metro-group", "METRO=IP:PORT", metro_groups)?;
            let sources = pairs("metro-source", "METRO=IP", metro_sources)?;
            let relays = pairs("metro-relay", "METRO=HOST:PORT", metro_relays)?;
            let spec = ChannelSpec {
                name: name.clone(),
                group: group.clone(),
                source: source.clone(),
                metro_groups: overrides,
                metro_sources: sources,
                chunk_packets: *chunk_packets,
                buffer_ms: *buffer_ms,
                group_size: *group_size,
                uplink_kbps: *uplink_kbps,
                relay: relay.clone(),
                metro_relays: relays,
                group6: group6.clone(),
                source6: source6.clone(),
            };
            let created: Channel = api.post("/channels", &spec)?;
            channel_table(json, &[created])
        }
        ChannelCmd::List => channel_table(json, &api.get::<Vec<Channel>>("/channels")?),
        ChannelCmd::Rm { name } => api.delete(&format!("/channels/{name}")),
    }
}

fn channel_table(json: bool, channels: &[Channel]) -> anyhow::Result<()> {
    let rows = channels.iter().map(|c| {
        let metros: Vec<String> = c
            .metro_groups
            .iter()
            .map(|(m, g)| match c.metro_sources.get(m) {
                Some(s) => format!("{m}={g} from {s}"),
                None => format!("{m}={g}"),
            })
            .collect();
        vec![
            c.id.to_string(),
            c.name.clone(),
            c.group.clone(),
            c.source.clone().unwrap_or_else(|| "-".into()),
            if metros.is_empty() {
                "-".into()
            } else {
                metros.join(",")
            },
            c.chunk_packets.to_string(),
            c.buffer_ms.to_string(),
            c.group_size.to_string(),
        ]
    });
    let head = [
        "ID",
        "NAME",
        "GROUP",
        "SOURCE",
        "METRO GROUPS",
        "CHUNK",
        "BUFFER MS",
        "GROUP SIZE",
    ];
    output(json, &channels, &head, rows)
}

fn user(api: &ApiClient, json: bool, cmd: &UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            role,
            channels,
        } => {
            let role = if role == "admin" {
                Role::Admin
            } else {
                Role::Viewer
            };
            let new = NewUser {
                name: name.clone(),
                role,
                channels: channels.clone(),
            };
            let created: CreatedUser = api.post("/users", &new)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!(
                    "user {} created; token (shown once): {}",
                    created.user.name, created.token
                );
            }
            Ok(())
        }
        UserCmd::List => {
            let users: Vec<User> = api.get("/users")?;
            let rows = users.iter().map(|u| {
                let role = if u.role == Role::Admin {
                    "admin"
                } else {
                    "viewer"
                };
                vec![u.name.clone(), role.into(), u.channels.join(",")]
            });
            output(json, &users, &["NAME", "ROLE", "CHANNELS"], rows)
        }
        UserCmd::Rm { name } => api.delete(&format!("/users/{name}")),
    }
}

/// Prints `value` as JSON, or `rows` as a table under `head`.
fn output(
    json: bool,
    value: &impl Serialize,
    head: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    let mut table: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    table.extend(rows);
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}
