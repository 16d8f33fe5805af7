#!/usr/bin/env bash
# Postino's MX path beside Haraka, in one run, with ../shared/bench/smtp-peer.sh (smtp-source,
# 20 sessions, 1 KiB and 100 KiB): Postino with the inbound checks on (as shipped), Postino with
# them off, and Haraka writing and fsyncing each message. DNS is dnsmasq on loopback answering
# NXDOMAIN for every name at once, so the checks run at the speed of a local caching resolver.
# Each Postino is a fresh process on a fresh data dir, so its peak RSS is that load's alone.
#
#   bash bench/mx_peer.sh            # all three
#   TARGETS="on" bash bench/mx_peer.sh   # some of: on off haraka
#   SIZES=1024 REPEAT=1 ...          # passed on to smtp-peer.sh
#   POSTINO_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"  # extra deno flags for the server
set -u
cd "$(dirname "$0")/.."
PEER=${PEER:-../shared/bench/smtp-peer.sh}
TARGETS=${TARGETS:-"on off haraka"}
DNS_PORT=${DNS_PORT:-15353}
SMTP_PORT=${SMTP_PORT:-12600}
# The V8 flags Postino ships with (deno.json's dev task), unless V8_FLAGS says otherwise.
V8_FLAGS=${V8_FLAGS:-$(grep -o -- '--v8-flags=[^ ]*' deno.json | head -1)}
WORK=$(mktemp -d /tmp/mx-peer.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

command -v dnsmasq >/dev/null || { echo "dnsmasq missing (apt-get install dnsmasq-base)" >&2; exit 1; }
dnsmasq --keep-in-foreground --no-resolv --no-hosts --local=/#/ --port="$DNS_PORT" \
  --listen-address=127.0.0.1 --bind-interfaces --pid-file="$WORK/dnsmasq.pid" --user="$(id -un)" &
PIDS+=($!)


run_postino() { # label checks(true|false)
  local data="$WORK/$1" pid
  deno run -A main.ts domain add bench.test --data "$data" >/dev/null
  echo bench-password | deno run -A main.ts user add user@bench.test --password-stdin --data "$data" >/dev/null
  # shellcheck disable=SC2086
  POSTINO_INBOUND_CHECKS=$2 deno run -A "$V8_FLAGS" ${POSTINO_FLAGS:-} main.ts serve \
    --data "$data" --smtp "127.0.0.1:$SMTP_PORT" --dns "127.0.0.1:$DNS_PORT" --log-level warning \
    2>"$WORK/$1.log" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && break; sleep 0.1; done
  echo "# postino checks=$2 idle_rss $(awk '/^VmRSS/{print $2}' "/proc/$pid/status") KiB"
  SERVER_PID=$pid "$PEER" "127.0.0.1:$SMTP_PORT" | sed "s/127.0.0.1:$SMTP_PORT/postino(checks=$2)/"
  local count
  count=$(echo "SELECT count(*) FROM messages;" | sqlite3 "$data/postino.db" 2>/dev/null || echo "?")
  echo "# postino checks=$2 stored=$count errors_in_log=$(grep -c -iE 'error|451' "$WORK/$1.log")"
  kill -INT "$pid"
  wait "$pid" 2>/dev/null
}

for t in $TARGETS; do
  case $t in
    on) run_postino on true ;;
    off) run_postino off false ;;
    haraka) HARAKA_DNS="127.0.0.1:$DNS_PORT" "$PEER" haraka ;;
    *) echo "unknown target $t" >&2 ;;
  esac
done
