# shellcheck shell=bash
# The groupcast network lab: a real network built inside Linux network namespaces that this
# harness creates and removes. Source this file; see lab/README.md.
#
# Safety (hard rules, checked by lab_check_isolation):
#   * every interface lives in a namespace named "$LAB_PREFIX-*"; the bridges themselves sit in
#     the "switch" namespace, so nothing at all is created in the root namespace;
#   * no namespace has a link to the root namespace or a default route; addresses come from
#     198.18.0.0/15 (RFC 2544 benchmarking range); multicast uses TTL 1 on lab interfaces;
#   * names are unique per run (gclab<pid>); lab_down runs on EXIT/INT/TERM, and
#     lab_clean_stale removes leftovers of dead runs of this harness only;
#   * every process is started through lab_bg with a hard `timeout`.
#
# Topology (M metros, N clients spread round-robin over them):
#
#   switch ns:  br-core ── tk<m>c ══ tk<m>m ── br-m<m>      (one veth "trunk" per metro)
#                 │  │                             │  │
#               p-src p-mgr                     p-c01 p-c04 ...
#                 │    │                           │     │
#   host ns:     src  mgr                         c01   c04   (eth0, 198.18.x.y/16 each)
#
# One IPv4 subnet (198.18.0.0/16) spans every bridge, so peers in different metros reach each
# other; IGMP snooping on every bridge, querier on the core, metro trunk ports are permanent
# multicast-router ports, so joins are learned per port and show in `bridge mdb`.

LAB_DIR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_DIR_ROOT/.." && pwd)
LAB_PREFIX=${LAB_PREFIX:-gclab$$}
LAB_SW="$LAB_PREFIX-sw"
LAB_NFT_TABLE=lab
LAB_WORK=${LAB_WORK:-}
LAB_MAX_SECS=${LAB_MAX_SECS:-120} # hard ceiling for any process started by lab_bg
declare -gA LAB_IP=() LAB_IP6=() LAB_METRO=() LAB_PID=()
# LAB_IPV6=1 (set before lab_up): IPv6 too, from 2001:2::/48 (RFC 5180 benchmarking range):
# every host gets 2001:2:0:M::N/64 beside its IPv4 address, the bridges MLDv2 snooping, and the
# manager, peers and media run over IPv6 (lab_manager_url, lab_client, lab_source).
LAB_IPV6=${LAB_IPV6:-0}
LAB_HOSTS=()
LAB_METROS=0
LAB_UP=0

lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
lab_die() {
  lab_log "FATAL: $*"
  exit 1
}

# Fails (never skips) when the lab cannot run here.
lab_require() {
  [ "$(id -u)" = 0 ] || lab_die "the lab needs root (network namespaces, bridges, nftables); CI runs as root"
  local t
  for t in ip bridge nft timeout python3; do
    command -v "$t" >/dev/null || lab_die "missing '$t' (apt-get install iproute2 nftables coreutils python3)"
  done
  ip netns list >/dev/null 2>&1 || lab_die "'ip netns' does not work here"
  local probe="$LAB_PREFIX-probe"
  ip netns add "$probe" 2>/dev/null || lab_die "cannot create a network namespace"
  if ! ip netns exec "$probe" nft add table bridge probe 2>/dev/null; then
    ip netns del "$probe"
    lab_die "nftables bridge family unavailable (kernel nf_tables / nft_numgen missing?)"
  fi
  ip netns del "$probe"
}

# Removes namespaces left by runs of this harness whose runner process is gone.
lab_clean_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^gclab[0-9]+-' || true); do
    pid=${ns#gclab}
    pid=${pid%%-*}
    if [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null; then
      lab_kill_ns_pids "$ns"
      ip netns del "$ns" 2>/dev/null && lab_log "removed stale namespace $ns"
    fi
  done
}

# Kills what runs inside one of the lab's own namespaces (only processes in it, by pid).
lab_kill_ns_pids() {
  local ns=$1 pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  sleep 0.3
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

sw() { ip netns exec "$LAB_SW" "$@"; }
lab_ns() { printf '%s-%s' "$LAB_PREFIX" "$1"; }
lab_exec() {
  local h=$1
  shift
  ip netns exec "$(lab_ns "$h")" "$@"
}

# lab_up METROS: the switch namespace, the core bridge, METROS metro bridges with trunks,
# the nftables table, and the work directory. Hosts are added with lab_add_host/lab_clients.
lab_up() {
  local metros=$1 m
  lab_require
  lab_clean_stale
  trap 'lab_down' EXIT
  trap 'lab_log "interrupted"; exit 130' INT TERM
  LAB_UP=1
  [ -n "$LAB_WORK" ] || LAB_WORK=$(mktemp -d "/tmp/$LAB_PREFIX.XXXX")
  mkdir -p "$LAB_WORK"
  ip netns add "$LAB_SW"
  sw ip link set lo up
  if [ "$LAB_IPV6" = 1 ]; then
    # The bridges need link-local addresses: the core's querier sends MLD queries from one, so
    # it must be usable at once (no duplicate detection), or the startup queries are lost and
    # the metro bridges flood until the next query, 10 s later.
    sw sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
      net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  else
    sw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
  lab_bridge br-core 1
  for ((m = 1; m <= metros; m++)); do
    lab_bridge "br-m$m" 0
    sw ip link add "tk${m}c" type veth peer name "tk${m}m"
    sw ip link set "tk${m}c" master br-core up
    sw ip link set "tk${m}m" master "br-m$m" up
    # The metro side of the trunk leads to the querier and the sources: a permanent router port.
    sw bridge link set dev "tk${m}m" mcast_router 2
  done
  LAB_METROS=$metros
  sw nft -f - <<EOF
table bridge $LAB_NFT_TABLE {
  chain lossfwd {
    type filter hook forward priority 0; policy accept;
  }
  chain ingress {
    type filter hook prerouting priority 0; policy accept;
  }
}
EOF
  lab_log "switch $LAB_SW: br-core + $metros metro bridges (work dir $LAB_WORK)"
  LAB_T0=$(date +%s.%N)
}

lab_bridge() { # name querier
  sw ip link add "$1" type bridge mcast_snooping 1 mcast_querier "$2" \
    mcast_query_interval 1000 mcast_startup_query_interval 100 mcast_query_response_interval 100 \
    mcast_igmp_version 3 mcast_mld_version 2
  sw ip link set "$1" up
}

# Snooping forwards by the mdb only once a bridge knows a querier: the core is its own from the
# start, a metro bridge trusts the core's queries a query-response interval (1 s) after the
# first one (startup queries every 1 s). Call after adding hosts, before sending media.
lab_settle() {
  python3 -c "import time; t=$LAB_T0 + 3.5 - time.time(); time.sleep(max(t, 0))"
}

# lab_add_host NAME BRIDGE IP: a host namespace with eth0 (IP/16) plugged into BRIDGE as port
# p-NAME. Multicast leaves by eth0 only (224.0.0.0/4 route on eth0, no default route).
lab_add_host() {
  local h=$1 br=$2 ipaddr=$3 ns
  ns=$(lab_ns "$h")
  ip netns add "$ns"
  ip link add "p-$h" netns "$LAB_SW" type veth peer name eth0 netns "$ns"
  sw ip link set "p-$h" master "$br" up
  ip -n "$ns" link set lo up
  local v6=1
  [ "$LAB_IPV6" = 1 ] && v6=0
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=$v6 net.ipv6.conf.default.disable_ipv6=$v6 \
    net.ipv4.conf.all.force_igmp_version=0
  ip -n "$ns" addr add "$ipaddr/16" dev eth0
  if [ "$LAB_IPV6" = 1 ]; then
    # 198.18.M.N -> 2001:2:0:M::N (M from the third octet), no duplicate detection delay;
    # MLDv2 (the kernel's default) for source-specific joins.
    local o3 o4
    o3=$(cut -d. -f3 <<<"$ipaddr")
    o4=$(cut -d. -f4 <<<"$ipaddr")
    LAB_IP6[$h]=2001:2:0:$o3::$o4
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0 net.ipv6.conf.all.force_mld_version=2 2>/dev/null ||
      ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.force_mld_version=2
    ip -n "$ns" addr add "${LAB_IP6[$h]}/48" dev eth0 nodad
  fi
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add 224.0.0.0/4 dev eth0
  LAB_IP[$h]=$ipaddr
  case $br in br-m*) LAB_METRO[$h]=m${br#br-m} ;; *) LAB_METRO[$h]=core ;; esac
  LAB_HOSTS+=("$h")
}

# lab_clients N: hosts c01..cNN spread round-robin over the metros; cNN in metro m gets
# 198.18.m.NN.
lab_clients() {
  local n=$1 i m h
  for ((i = 1; i <= n; i++)); do
    m=$(((i - 1) % LAB_METROS + 1))
    h=$(printf 'c%02d' "$i")
    lab_add_host "$h" "br-m$m" "198.18.$m.$i"
  done
}
lab_client_names() { # [metro]
  local h
  for h in "${LAB_HOSTS[@]}"; do
    [[ $h == c* ]] || continue
    [ -z "${1:-}" ] || [ "${LAB_METRO[$h]}" = "$1" ] || continue
    echo "$h"
  done
}

# Safety check: no default route, no address outside 198.18.0.0/15 (and loopback), no link to
# the root namespace, nothing of ours in the root namespace.
lab_check_isolation() {
  local ns bad=0
  for ns in $(ip netns list | awk '{print $1}' | grep "^$LAB_PREFIX-"); do
    if [ -n "$(ip -n "$ns" route show default)" ]; then
      lab_log "isolation: $ns has a default route"
      bad=1
    fi
    if ip -n "$ns" -4 -o addr show | awk '{print $4}' | grep -vE '^(127\.|198\.1[89]\.)' | grep -q .; then
      lab_log "isolation: $ns has an address outside 198.18.0.0/15"
      bad=1
    fi
    if [ -n "$(ip -n "$ns" -6 route show default 2>/dev/null)" ]; then
      lab_log "isolation: $ns has an IPv6 default route"
      bad=1
    fi
    if ip -n "$ns" -6 -o addr show 2>/dev/null | awk '{print $4}' | grep -viE '^(::1/|fe80:|2001:2::|2001:2:0:)' | grep -q .; then
      lab_log "isolation: $ns has an IPv6 address outside 2001:2::/48"
      bad=1
    fi
    # Every veth's peer is in this namespace (no link-netns) or in one of ours, by name; a
    # peer in the root (unnamed) namespace would show as "link-netnsid N".
    if ip -n "$ns" -o link show type veth | grep -E 'link-netns' |
      grep -vE "link-netns $LAB_PREFIX-[^ ]+" | grep -q .; then
      lab_log "isolation: $ns has a veth whose peer is outside the lab's namespaces"
      bad=1
    fi
  done
  if ip -o link show | grep -qE ' (p-|tk[0-9]|br-core|br-m[0-9])'; then
    lab_log "isolation: lab interfaces in the root namespace"
    bad=1
  fi
  return $bad
}

# --- processes ---------------------------------------------------------------------------

# lab_bg HOST NAME SECS cmd...: runs cmd in HOST's namespace in the background, killed after
# SECS at most (never more than LAB_MAX_SECS), output in $LAB_WORK/NAME.log; pid in LAB_PID[NAME].
lab_bg() {
  local h=$1 name=$2 secs=$3
  shift 3
  ((secs <= LAB_MAX_SECS)) || secs=$LAB_MAX_SECS
  ip netns exec "$(lab_ns "$h")" timeout -k 2 "$secs" "$@" >"$LAB_WORK/$name.log" 2>&1 &
  LAB_PID[$name]=$!
}
# The pid of the real program under lab_bg's timeout (for /proc CPU figures).
lab_child_pid() { pgrep -P "${LAB_PID[$1]}" | head -1; }
# lab_stop NAME [SIG]: signals (default INT, so programs write their statistics) and waits.
lab_stop() {
  local pid=${LAB_PID[$1]:-}
  [ -n "$pid" ] || return 0
  local c
  c=$(pgrep -P "$pid" | head -1)
  kill -"${2:-INT}" "${c:-$pid}" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "LAB_PID[$1]"
}
lab_wait() { # NAME: waits until it ends by itself; returns its status
  local pid=${LAB_PID[$1]:-} st=0
  [ -n "$pid" ] || return 0
  wait "$pid" || st=$?
  unset "LAB_PID[$1]"
  return $st
}
lab_running() { kill -0 "${LAB_PID[$1]:-0}" 2>/dev/null; }

# --- loss (nftables bridge family in the switch namespace) -------------------------------

LAB_MEDIA_MATCH=${LAB_MEDIA_MATCH:-ip daddr 239.0.0.0/8 ip protocol udp}

lab_nft_rule() { # comment, rule text: replaces the rule with this comment
  lab_nft_del "$1"
  sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd "${@:2}" comment "\"$1\""
}
lab_nft_del() {
  local h
  for h in $(sw nft -a list chain bridge "$LAB_NFT_TABLE" lossfwd | awk -v c="\"$1\"" '$0 ~ "comment " c {print $NF}'); do
    sw nft delete rule bridge "$LAB_NFT_TABLE" lossfwd handle "$h"
  done
}
# K out of 10000: "numgen random mod 10000 < K drop".
lab_pct_k() { python3 -c "print(round(float('$1') * 100))"; }

# Loss on multicast media towards one client (egress of its bridge port). 0 removes it.
lab_loss_client() {
  local h=$1 pct=$2
  if [ "$pct" = 0 ]; then lab_nft_del "loss-$h"; return; fi
  # shellcheck disable=SC2086
  lab_nft_rule "loss-$h" oifname "p-$h" $LAB_MEDIA_MATCH numgen random mod 10000 '<' "$(lab_pct_k "$pct")" counter drop
}
# Loss on multicast media entering a metro by its trunk: matched where the core bridge sends
# into the trunk, once per packet (the bridge's forward hook runs once per output port), so
# every client of the metro misses the very same packets.
lab_loss_trunk() {
  local m=${1#m} pct=$2
  if [ "$pct" = 0 ]; then lab_nft_del "loss-trunk$m"; return; fi
  # shellcheck disable=SC2086
  lab_nft_rule "loss-trunk$m" oifname "tk${m}c" $LAB_MEDIA_MATCH numgen random mod 10000 '<' "$(lab_pct_k "$pct")" counter drop
}
# Loss on all UDP crossing metro M's trunk, both ways: where the core bridge sends into it and
# where it receives from it.
lab_loss_trunk_all() {
  local m=${1#m} k
  k=$(lab_pct_k "$2")
  lab_nft_rule "trunkall$m" oifname "tk${m}c" ip protocol udp numgen random mod 10000 '<' "$k" counter drop
  sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd iifname "tk${m}c" ip protocol udp numgen random mod 10000 '<' "$k" counter drop comment "\"trunkall$m\""
}
# Loss on everything (unicast too) in both directions of a host's port.
lab_loss_host_all() {
  local h=$1 pct=$2
  if [ "$pct" = 0 ]; then lab_nft_del "lossall-$h"; return; fi
  local k
  k=$(lab_pct_k "$pct")
  lab_nft_rule "lossall-$h" oifname "p-$h" ip protocol udp numgen random mod 10000 '<' "$k" counter drop
  sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd iifname "p-$h" ip protocol udp numgen random mod 10000 '<' "$k" counter drop comment "\"lossall-$h\""
}
# Loss on unicast UDP (not multicast) in both directions of a host's port: a lossy unicast link.
lab_loss_host_unicast() {
  local h=$1 k
  k=$(lab_pct_k "$2")
  lab_nft_rule "lossuni-$h" oifname "p-$h" ip daddr != 224.0.0.0/4 ip protocol udp numgen random mod 10000 '<' "$k" counter drop
  sw nft add rule bridge "$LAB_NFT_TABLE" lossfwd iifname "p-$h" ip daddr != 224.0.0.0/4 ip protocol udp numgen random mod 10000 '<' "$k" counter drop comment "\"lossuni-$h\""
}
# lab_outage METRO SECS [START_DELAY]: the trunk drops all multicast media for SECS (in the
# background after START_DELAY seconds); peer unicast keeps flowing (a failing multicast device).
lab_outage() {
  local m=${1#m} secs=$2 delay=${3:-0}
  (
    sleep "$delay"
    # shellcheck disable=SC2086
    lab_nft_rule "outage$m" oifname "tk${m}c" $LAB_MEDIA_MATCH counter drop
    lab_log "outage: metro m$m trunk down for ${secs}s"
    sleep "$secs"
    lab_nft_dropped "outage$m" >"$LAB_WORK/outage$m.dropped"
    lab_nft_del "outage$m"
    lab_log "outage: metro m$m trunk back"
  ) &
  LAB_PID[outage$m]=$!
}
# Packets matched so far by the rules with this comment.
lab_nft_packets() {
  sw nft list chain bridge "$LAB_NFT_TABLE" lossfwd | awk -v c="\"$1\"" '$0 ~ "comment " c { for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
lab_nft_dropped() { lab_nft_packets "$@"; }
# lab_count NAME rule...: a counting (accepting) rule, read with lab_nft_packets NAME.
lab_count() {
  lab_nft_del "$1"
  sw nft insert rule bridge "$LAB_NFT_TABLE" lossfwd "${@:2}" counter comment "\"$1\""
}

# Counts what a host sends: IPv4 UDP entering the switch from its port, once per frame (the
# bridge's prerouting hook; the forward hook would count every flooded copy).
lab_count_host() {
  sw nft add rule bridge "$LAB_NFT_TABLE" ingress iifname "p-$1" ip protocol udp counter comment "\"egress-$1\""
}
lab_count_bytes() { # host: IPv4 bytes counted by lab_count_host
  sw nft list chain bridge "$LAB_NFT_TABLE" ingress | awk -v c="\"egress-$1\"" '$0 ~ "comment " c { for (i = 1; i < NF; i++) if ($i == "bytes") s += $(i + 1) } END { print s + 0 }'
}

# The multicast database of the switch (IGMP joins learned per port).
lab_mdb() { sw bridge mdb show; }

# --- teardown ----------------------------------------------------------------------------

lab_down() {
  local st=$?
  [ "$LAB_UP" = 1 ] || return $st
  LAB_UP=0
  trap - INT TERM
  local name pid ns
  for name in "${!LAB_PID[@]}"; do
    pid=${LAB_PID[$name]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
    lab_kill_ns_pids "$ns"
  done
  for name in "${!LAB_PID[@]}"; do wait "${LAB_PID[$name]}" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
    ip netns del "$ns" 2>/dev/null || lab_log "could not delete $ns"
  done
  if [ -n "$LAB_WORK" ] && [ -z "${LAB_KEEP:-}" ]; then rm -rf "$LAB_WORK"; fi
  lab_log "torn down ($LAB_PREFIX)"
  return $st
}

# --- groupcast helpers -------------------------------------------------------------------

LAB_GC=${GC_BIN:-${CARGO_TARGET_DIR:-$LAB_REPO/target}/debug/groupcast}
LAB_SAMPLE=$LAB_REPO/assets/sample.ts
LAB_GROUP=${LAB_GROUP:-239.255.0.1:5004}
lab_gc_has() { "$LAB_GC" --help 2>/dev/null | grep -qE "^  $1 "; }

# json FILE KEY: one number from a JSON statistics file (0 if missing).
lab_json() { python3 -c "import json,sys
try: d=json.load(open(sys.argv[1]))
except Exception: print(0); sys.exit()
for k in sys.argv[2].split('.'): d = d.get(k, 0) if isinstance(d, dict) else 0
print(d)" "$1" "$2"; }

# Result reporting for scenarios: lab_check DESCRIPTION CONDITION-COMMAND...
LAB_FAILS=0
lab_check() {
  local what=$1
  shift
  if "$@"; then
    lab_log "ok: $what"
  else
    lab_log "FAILED: $what"
    LAB_FAILS=$((LAB_FAILS + 1))
  fi
}
lab_finish() {
  if [ "$LAB_FAILS" -gt 0 ]; then
    lab_log "$LAB_FAILS check(s) failed (logs kept in $LAB_WORK)"
    LAB_KEEP=1
    exit 1
  fi
  exit 0
}

# --- manager and clients -----------------------------------------------------------------

LAB_CHANNEL=${LAB_CHANNEL:-lab}
LAB_ADMIN_TOKEN=${LAB_ADMIN_TOKEN:-lab-admin-$$-token-0123456789abcdef}
LAB_MGR_PORT=8080
LAB_BUFFER_MS=${LAB_BUFFER_MS:-300}
LAB_VIEWER_TOKEN=
# Under LAB_IPV6, a call prefixed with LAB_V4=1 (e.g. `LAB_V4=1 lab_client c01 30`) uses IPv4.
lab_v6() { [ "$LAB_IPV6" = 1 ] && [ -z "${LAB_V4:-}" ]; }
lab_manager_url() {
  if lab_v6; then echo "http://[${LAB_IP6[mgr]}]:$LAB_MGR_PORT"; else echo "http://${LAB_IP[mgr]}:$LAB_MGR_PORT"; fi
}
# Where HOST's processes listen and join: its IPv4 address, or under LAB_IPV6 its IPv6 one
# (bracketed for IP:PORT) and eth0.
lab_listen() { if lab_v6; then echo "[${LAB_IP6[$1]}]"; else echo "${LAB_IP[$1]}"; fi; }
lab_iface() { if lab_v6; then echo eth0; else echo "${LAB_IP[$1]}"; fi; }

# lab_manager_start [SECS]: (re)starts the manager on host mgr (198.18.0.2:8080) with its
# database in the work directory, and waits until it answers. LAB_BACKUPS=N passes
# --backups N (0: no backup tier).
lab_manager_start() {
  local secs=${1:-$LAB_MAX_SECS}
  if lab_gc_has manager; then
    local media=() # an encrypted channel's keys for its sessions (LAB_MEDIA_SECRET)
    if [ -n "${LAB_MEDIA_SECRET:-}" ]; then media=(--media-secret "$LAB_MEDIA_SECRET"); fi
    # the unicast fallback's tickets (LAB_UNICAST_SECRET)
    if [ -n "${LAB_UNICAST_SECRET:-}" ]; then media+=(--unicast-secret "$LAB_UNICAST_SECRET"); fi
    # backups per neighbouring group (LAB_BACKUPS; the manager's default otherwise)
    if [ -n "${LAB_BACKUPS:-}" ]; then media+=(--backups "$LAB_BACKUPS"); fi
    GROUPCAST_ADMIN_TOKEN=$LAB_ADMIN_TOKEN lab_bg mgr manager "$secs" "$LAB_GC" manager \
      --listen "${LAB_MGR_LISTEN:-$(lab_listen mgr):$LAB_MGR_PORT}" --db "sqlite://$LAB_WORK/manager.db" "${media[@]}"
  elif [ -n "${LAB_STUB_MANAGER:-}" ]; then
    local mg=() g
    for g in "${LAB_METRO_GROUPS[@]}"; do mg+=(--metro-group "$g"); done
    lab_bg mgr manager "$secs" python3 "$LAB_DIR_ROOT/tools/stub_manager.py" \
      --listen "${LAB_IP[mgr]}:$LAB_MGR_PORT" --channel "$LAB_CHANNEL" --group "$LAB_GROUP" \
      --buffer-ms "$LAB_BUFFER_MS" --duration "$secs" "${mg[@]}"
  else
    lab_die "'groupcast manager' is not in $LAB_GC (and LAB_STUB_MANAGER is not set)"
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    if lab_exec mgr python3 -c "import urllib.request,sys
urllib.request.urlopen('$(lab_manager_url)/api/v1/health', timeout=1)" 2>/dev/null; then
      return 0
    fi
    lab_running manager || break
    sleep 0.1
  done
  cat "$LAB_WORK/manager.log" >&2
  lab_die "the manager did not come up"
}

LAB_METRO_GROUPS=()
LAB_CHANNEL_ARGS=() # more `groupcast admin channel add` options (e.g. --source)
# lab_manager_up: starts the manager, adds the channel (LAB_GROUP, plus LAB_METRO_GROUPS
# entries METRO=IP:PORT, plus LAB_CHANNEL_ARGS) and one viewer entitled to it; sets
# LAB_VIEWER_TOKEN.
lab_manager_up() {
  lab_manager_start
  if lab_gc_has manager; then
    local mg=() g adm=("$LAB_GC" admin --manager "$(lab_manager_url)" --token "$LAB_ADMIN_TOKEN")
    for g in "${LAB_METRO_GROUPS[@]}"; do mg+=(--metro-group "$g"); done
    lab_exec mgr "${adm[@]}" channel add "$LAB_CHANNEL" --group "$LAB_GROUP" --buffer-ms "$LAB_BUFFER_MS" "${mg[@]}" \
      "${LAB_CHANNEL_ARGS[@]}" >&2 ||
      lab_die "admin: channel add failed"
    LAB_VIEWER_TOKEN=$(lab_exec mgr "${adm[@]}" --json user add viewer --role viewer --channel "$LAB_CHANNEL" |
      python3 -c "import json,sys; print(json.load(sys.stdin)['token'])") || lab_die "admin: user add failed"
  else
    LAB_VIEWER_TOKEN=stub
  fi
}

# lab_client HOST SECS [client args...]: a groupcast client on HOST playing to
# $LAB_WORK/out-HOST.ts, statistics in $LAB_WORK/HOST.json, process name client-HOST.
lab_client() {
  local h=$1 secs=$2
  shift 2
  lab_bg "$h" "client-$h" $((secs + 5)) "$LAB_GC" client --manager "$(lab_manager_url)" \
    --token "$LAB_VIEWER_TOKEN" --channel "$LAB_CHANNEL" --metro "${LAB_METRO[$h]}" \
    --iface "$(lab_iface "$h")" --peer-listen "$(lab_listen "$h"):7000" --output "file:$LAB_WORK/out-$h.ts" \
    --buffer-ms "$LAB_BUFFER_MS" --duration "$secs" --stats-json "$LAB_WORK/$h.json" --quiet "$@"
}
lab_stat() { lab_json "$LAB_WORK/$1.json" "$2"; } # HOST KEY
lab_sum_stat() { # KEY HOST...: the sum of one statistic over hosts
  local k=$1 h s=0
  shift
  for h in "$@"; do s=$((s + $(lab_stat "$h" "$k"))); done
  echo $s
}
# lab_udp_drops HOST...: UDP datagrams the kernel dropped for want of socket buffer in those
# hosts (RcvbufErrors + SndbufErrors, from each namespace's /proc/net/snmp): loss the lab did
# not inject, which no counter of ours sees.
lab_udp_drops() {
  local h s=0 n
  for h in "$@"; do
    n=$(lab_exec "$h" awk '/^Udp:/ && ++i == 2 { print $6 + $7 }' /proc/net/snmp 2>/dev/null || echo 0)
    s=$((s + ${n:-0}))
  done
  echo $s
}
# lab_tscheck HOST [tscheck args]: the client's output against the sample; JSON on stdout.
lab_tscheck() {
  local h=$1
  shift
  python3 "$LAB_DIR_ROOT/tools/tscheck.py" "$LAB_WORK/out-$h.ts" "$LAB_SAMPLE" "$@"
}
lab_result() { lab_log "result: $*"; }

# lab_std METROS CLIENTS: the usual lab (source 198.18.0.1 and manager 198.18.0.2 on the
# core, clients over the metros), isolation checked, manager up with the channel, settled.
lab_std() {
  lab_up "$1"
  lab_add_host src br-core 198.18.0.1
  lab_add_host mgr br-core 198.18.0.2
  lab_clients "$2"
}
lab_std_finish_setup() {
  lab_check_isolation || lab_die "isolation check failed"
  lab_manager_up
  lab_settle
}
# lab_last_resort: the source's relay LAB_RELAY as every viewer's last resort (the manager
# issues tickets naming it); call before the manager is up, and start the source with
# "${LAB_RELAY_SOURCE[@]}". LAB_RELAY_ARGS: more options for that relay, e.g.
# "--multicast-resend-after 0".
LAB_RELAY=198.18.0.1:7100
LAB_RELAY_SOURCE=()
lab_last_resort() {
  LAB_UNICAST_SECRET=lab-unicast-secret-$$-0123456789abcdef
  LAB_CHANNEL_ARGS=(--relay "$LAB_RELAY")
  LAB_RELAY_SOURCE=(--unicast-listen "$LAB_RELAY" --unicast-secret "$LAB_UNICAST_SECRET" --channel "$LAB_CHANNEL")
  local extra
  read -r -a extra <<<"${LAB_RELAY_ARGS:-}"
  LAB_RELAY_SOURCE+=("${extra[@]}")
}
# lab_hd: the scenario runs at HD rates (issue 12); call after lab_up, before the manager is
# up. The optimised build (lab/run builds it for scenarios marked `# lab: release`), a 200 ms
# buffer, the sample padded to 10 Mbit/s (about 950 datagrams/s), and the last resort
# (lab_last_resort).
lab_hd() {
  LAB_GC=${LAB_GC_RELEASE:-$LAB_GC}
  LAB_BUFFER_MS=200
  lab_last_resort
  command -v ffmpeg >/dev/null || lab_die "ffmpeg is needed (apt-get install ffmpeg)"
  ffmpeg -hide_banner -loglevel error -y -i "$LAB_SAMPLE" -c copy -muxrate 10000k -f mpegts "$LAB_WORK/hd.ts" ||
    lab_die "ffmpeg could not pad the sample"
  LAB_SAMPLE=$LAB_WORK/hd.ts
}
# lab_source NAME SECS [args]: groupcast source on host src sending LAB_GROUP.
lab_source() {
  local name=$1 secs=$2
  shift 2
  lab_bg src "$name" $((secs + 5)) "$LAB_GC" source --input "$LAB_SAMPLE" --group "$LAB_GROUP" \
    --iface "$(lab_iface src)" --stats-json "$LAB_WORK/$name.json" --duration "$secs" "$@"
}
# lab_check_clients CHECKARGS HOST...: every client's output passes tscheck with CHECKARGS and
# it has 0 unrecovered.
lab_check_clients() {
  local args=$1 h r
  shift
  for h in "$@"; do
    # shellcheck disable=SC2086
    r=$(lab_tscheck "$h" $args) || true
    lab_check "$h: output byte-exact ($r)" grep -q '"ok": true' <<<"$r"
    lab_check "$h: 0 unrecovered (lost $(lab_stat "$h" lost), repaired $(lab_stat "$h" repaired))" \
      test "$(lab_stat "$h" unrecovered)" = 0
  done
}
# lab_wait_until SECS DESCRIPTION cmd...: polls cmd every 0.5 s; false after SECS.
lab_wait_until() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  lab_log "gave up waiting ${secs}s for: $what"
  return 1
}
# lab_snapshot TAG HOST...: copies the clients' current statistics to HOST.TAG.json.
lab_snapshot() {
  local tag=$1 h
  shift
  for h in "$@"; do cp "$LAB_WORK/$h.json" "$LAB_WORK/$h.$tag.json" 2>/dev/null || true; done
}
