#!/usr/bin/env bash
# POP3 RETR beside Dovecot, in one run, with ../shared/bench/pop3-peer.sh: a Postino mailbox of
# COUNT messages of 1 KiB bodies (filled over SMTP by smtp-source, checks off), then a private
# Dovecot with the same mailbox.
#
#   bash bench/pop3_peer.sh          # COUNT=20000 REPEAT=4 (as pop3-peer.sh)
set -u
cd "$(dirname "$0")/.."
PEER=${PEER:-../shared/bench/pop3-peer.sh}
COUNT=${COUNT:-20000}
SMTP_PORT=${SMTP_PORT:-12601}
POP3_PORT=${POSTINO_POP3_PORT:-12611}
# The V8 flags Postino ships with (deno.json's dev task), unless V8_FLAGS says otherwise.
V8_FLAGS=${V8_FLAGS:-$(grep -o -- '--v8-flags=[^ ]*' deno.json | head -1)}
WORK=$(mktemp -d /tmp/pop3-peer.XXXXXX)
PID=
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

data="$WORK/data"
deno run -A main.ts domain add bench.test --data "$data" >/dev/null
echo benchpass | deno run -A main.ts user add user@bench.test --password-stdin --data "$data" >/dev/null
POSTINO_INBOUND_CHECKS=false deno run -A "$V8_FLAGS" main.ts serve \
  --data "$data" --smtp "127.0.0.1:$SMTP_PORT" --pop3 "127.0.0.1:$POP3_PORT" --log-level warning \
  2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$POP3_PORT") 2>/dev/null && break; sleep 0.1; done
smtp-source -s 20 -l 1024 -m "$COUNT" -f sender@bench.test -t user@bench.test -M bench.client -d \
  "127.0.0.1:$SMTP_PORT" || exit 1
"$PEER" "127.0.0.1:$POP3_PORT" user@bench.test benchpass | sed "s/^/postino /"
echo "# peak_rss postino $(awk '/^VmHWM/{print $2}' "/proc/$PID/status") KiB"
kill "$PID"
wait "$PID" 2>/dev/null
PID=
SPECS="${COUNT}x1024" "$PEER" | sed "s/^/dovecot /"
