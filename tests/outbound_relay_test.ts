/**
 * Outbound delivery through a smarthost (`--relay`): the real `postino serve`
 * delivers a submitted message to an SMTP sink on loopback, with STARTTLS
 * (opportunistic or required), implicit TLS and AUTH PLAIN to the relay, and
 * leaves the message deferred, not bounced, when the relay refuses the login.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  HOSTNAME,
  message,
  queueList,
  startOutbound,
  storedQueue,
  submit,
  waitForEmptyQueue,
  waitUntil,
} from "./support/outbound_fixture.ts";
import { messageText, startSmtpSink } from "./support/smtp_sink.ts";

const RELAY_LOGIN = { user: "relay-user@provider.test", password: "relay pass 42" };

/** A temp file holding the relay password (with a final newline, as an editor leaves it). */
async function passwordFile(password: string): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempFile({ prefix: "postino-relay-password-" });
  await Deno.writeTextFile(path, `${password}\n`);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path) };
}

Deno.test("--relay delivers a submitted message once, with its envelope, over opportunistic STARTTLS", async () => {
  await using sink = await startSmtpSink({ starttls: true });
  await using server = await startOutbound({ args: ["--relay", sink.address] });
  const text = message(ALICE.user, "via the relay", "Line one.\r\n.leading dot\r\nLast.\r\n");
  await submit(server, { to: ["friend@remote.test", "pal@other.test"], message: text });

  await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the relayed message");
  await waitForEmptyQueue(server);
  assert.equal(sink.transactions.length, 1, "exactly one transaction");
  const [tx] = sink.delivered;
  assert.equal(tx.mailFrom, ALICE.user);
  // Through a relay every recipient goes in one transaction, whatever its domain.
  assert.deepEqual([...tx.rcptTo].sort(), ["friend@remote.test", "pal@other.test"]);
  assert.equal(tx.helo, HOSTNAME, "EHLO with our host name");
  assert.equal(tx.tls, true, "STARTTLS used when offered");
  assert.equal(tx.auth, undefined, "no AUTH without --relay-user");
  const received = messageText(tx);
  assert.ok(
    received.endsWith(`\r\n${text}`),
    `the message unchanged after our headers:\n${received}`,
  );
  assert.match(received, /^(?:DKIM-Signature:[^\r]*\r\n(?:[ \t][^\r]*\r\n)*)?Received: /);
  assert.doesNotMatch(received, /^Return-Path:/m, "no Return-Path on a relayed copy");
  assert.equal((await queueList(server)).length, 0, "queue list shows nothing left");
  // Opportunistic TLS to a self-signed certificate: used, and logged as not verified.
  const logged = await server.waitForLog((e) =>
    e.message.includes("delivered") && e.properties.rcpt === "friend@remote.test"
  );
  assert.match(String(logged.properties.detail), /TLS.*certificate not verified/);
});

Deno.test("--relay-user with --relay-tls starttls authenticates after STARTTLS", async () => {
  await using sink = await startSmtpSink({ starttls: true, auth: RELAY_LOGIN });
  await using secret = await passwordFile(RELAY_LOGIN.password);
  await using server = await startOutbound({
    args: [
      "--relay",
      sink.address,
      "--relay-user",
      RELAY_LOGIN.user,
      "--relay-password-file",
      secret.path,
      "--relay-tls",
      "starttls",
    ],
  });
  await submit(server, { to: ["friend@remote.test"], message: message(ALICE.user, "auth") });
  await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the relayed message");
  const [tx] = sink.delivered;
  assert.equal(tx.tls, true);
  assert.equal(tx.auth, RELAY_LOGIN.user);
  assert.deepEqual(tx.rcptTo, ["friend@remote.test"]);
  const [session] = sink.sessions;
  const order = session.commands.map((c) => c.split(" ")[0].toUpperCase());
  assert.ok(
    order.indexOf("STARTTLS") >= 0 && order.indexOf("STARTTLS") < order.indexOf("AUTH"),
    `STARTTLS before AUTH: ${order.join(",")}`,
  );
  await waitForEmptyQueue(server);
});

Deno.test("--relay-tls implicit speaks TLS from the first byte and authenticates", async () => {
  await using sink = await startSmtpSink({ implicitTls: true, auth: RELAY_LOGIN });
  await using secret = await passwordFile(RELAY_LOGIN.password);
  await using server = await startOutbound({
    args: [
      "--relay",
      sink.address,
      "--relay-user",
      RELAY_LOGIN.user,
      "--relay-password-file",
      secret.path,
      "--relay-tls",
      "implicit",
    ],
  });
  await submit(server, { to: ["friend@remote.test"], message: message(ALICE.user, "implicit") });
  await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the relayed message");
  assert.equal(sink.delivered[0].tls, true);
  assert.equal(sink.delivered[0].auth, RELAY_LOGIN.user);
});

Deno.test("a relay that refuses the login leaves the message deferred with the reason", async () => {
  await using sink = await startSmtpSink({
    starttls: true,
    auth: { user: RELAY_LOGIN.user, password: "not what postino has" },
  });
  await using secret = await passwordFile(RELAY_LOGIN.password);
  await using server = await startOutbound({
    args: [
      "--relay",
      sink.address,
      "--relay-user",
      RELAY_LOGIN.user,
      "--relay-password-file",
      secret.path,
    ],
  });
  await submit(server, { to: ["friend@remote.test"], message: message(ALICE.user, "refused") });
  await waitUntil(
    () => storedQueue(server).some((r) => r.attempts >= 1),
    "a first delivery attempt",
  );
  const items = await queueList(server);
  assert.equal(items.length, 1, JSON.stringify(items));
  assert.equal(items[0].from, ALICE.user);
  const [r] = items[0].recipients;
  assert.equal(r.address, "friend@remote.test");
  assert.equal(r.status, "pending", "deferred, not failed");
  assert.equal(r.attempts, 1);
  assert.ok(r.next && Date.parse(r.next) > Date.now() + 30_000, `next attempt later: ${r.next}`);
  assert.match(r.error ?? "", /535/, `the relay's reply in the error: ${r.error}`);
  assert.equal(sink.transactions.length, 0, "nothing was sent");
  assert.equal(sink.sessions.some((s) => s.commands.some((c) => /^MAIL/i.test(c))), false);
});

Deno.test("--relay-tls starttls never sends the password to a relay without STARTTLS", async () => {
  await using sink = await startSmtpSink({ auth: RELAY_LOGIN });
  await using secret = await passwordFile(RELAY_LOGIN.password);
  await using server = await startOutbound({
    args: [
      "--relay",
      sink.address,
      "--relay-user",
      RELAY_LOGIN.user,
      "--relay-password-file",
      secret.path,
      "--relay-tls",
      "starttls",
    ],
  });
  await submit(server, { to: ["friend@remote.test"], message: message(ALICE.user, "no tls") });
  const r = await waitUntil(
    () => storedQueue(server).find((q) => q.attempts >= 1),
    "a first delivery attempt",
  );
  assert.equal(r.status, "pending");
  assert.match(r.lastError ?? "", /STARTTLS/i);
  assert.equal(sink.sessions.some((s) => s.commands.some((c) => /^AUTH/i.test(c))), false);
  assert.equal(sink.transactions.length, 0);
});
