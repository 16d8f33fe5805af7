/**
 * The hourly send limits of users (`[limits] send_per_hour`,
 * `recipients_per_hour`), end to end:
 *
 * - against the real `postino serve` with small limits from the
 *   environment: Python's smtplib gets `451 4.7.0` at MAIL FROM for the
 *   message past the limit and at RCPT TO for the recipient past it (the
 *   others go), the send API shares the same counts and answers 429 with
 *   Retry-After, mail from the outside is never limited, and the refusals
 *   show in the log, in /metrics and in /api/v1/users (the admin page);
 * - against the server started in this process with a fake clock (the one
 *   thing a child process cannot be given): the refused user may send again
 *   exactly when the hour has passed, not a minute sooner.
 */
import assert from "node:assert/strict";
import { hashPassword } from "../src/auth/password.ts";
import { loadConfig } from "../src/config.ts";
import { ensureDevCertificate } from "../src/net/dev_cert.ts";
import { ServedCertificate } from "../src/net/tls.ts";
import { startServer } from "../src/server.ts";
import { addUser, ensureDomain } from "../src/store/accounts.ts";
import { openStore, storePath } from "../src/store/db.ts";
import { ApiClient, assertError } from "./support/http_api.ts";
import { message, smtplib, storedQueue } from "./support/outbound_fixture.ts";
import { NO_DNS, startPostino } from "./support/server.ts";

const USERS = {
  alice: { user: "alice@localhost", password: "alice-secret" },
  bob: { user: "bob@localhost", password: "bob-secret" },
  carol: { user: "carol@localhost", password: "carol-secret" },
};
const MIN = 60_000;

/** The value of a metric line in Prometheus text, or undefined. */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("send limits: 451 4.7.0 over submission, 429 from the send API, shown to the admin", async (t) => {
  await using server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      "postino.test",
      "--smtp",
      "127.0.0.1:0",
      "--submission",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      // Remote mail goes to a relay that refuses connections, so it stays queued.
      "--relay",
      "127.0.0.1:1",
      "--dns",
      NO_DNS,
    ],
    env: {
      POSTINO_SEND_PER_HOUR: "2",
      POSTINO_RECIPIENTS_PER_HOUR: "4",
      // Mail from the outside is delivered unjudged: no DNS answers here.
      POSTINO_INBOUND_CHECKS: "false",
    },
  });
  for (const u of Object.values(USERS)) {
    const r = await server.cli(["user", "add", u.user, "--password-stdin"], `${u.password}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const submission = server.addresses.submission.port;
  const api = new ApiClient(server.addresses.http.port);
  const send = (login: { user: string; password: string }, recipients: string[], subject = "") =>
    smtplib({
      port: submission,
      security: "starttls",
      ...login,
      sender: login.user,
      recipients,
      message: message(login.user, subject || "limited"),
    });

  await t.step("the message past send_per_hour gets 451 4.7.0 at MAIL FROM, logged", async () => {
    for (const i of [1, 2]) {
      const r = await send(USERS.alice, ["someone@remote.test"], `message ${i}`);
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.deepEqual(r.refused, {});
    }
    const third = await send(USERS.alice, ["someone@remote.test"], "message 3");
    assert.equal(third.ok, false);
    assert.equal(third.error?.type, "SMTPSenderRefused", JSON.stringify(third.error));
    assert.equal(third.error?.code, 451);
    assert.match(
      third.error?.message ?? "",
      /^4\.7\.0 alice@localhost sent 2 messages in the last hour, limit 2; try again in (59|60) min$/,
    );
    const logged = await server.waitForLog((e) =>
      e.properties.command === "MAIL" && e.properties.user === USERS.alice.user
    );
    assert.equal(logged.level, "WARN");
    assert.equal(logged.logger, "postino.smtp");
    assert.deepEqual(
      [logged.properties.sent, logged.properties.limit, logged.properties.max],
      [2, "messages", 2],
    );
    assert.equal(storedQueue(server).filter((q) => q.sender === USERS.alice.user).length, 2);
  });

  await t.step(
    "the send API counts with SMTP: 429 with Retry-After in the error shape",
    async () => {
      const r = await api.call("POST", "/api/v1/send", {
        basic: [USERS.alice.user, USERS.alice.password],
        json: { from: USERS.alice.user, to: ["someone@remote.test"], subject: "hi", text: "x" },
      });
      const body = assertError(r, 429);
      assert.match(body.error, /^alice@localhost sent 2 messages in the last hour, limit 2; /);
      const retryAfter = Number(r.headers.get("retry-after"));
      assert.ok(retryAfter > 3500 && retryAfter <= 3600, `Retry-After: ${retryAfter}`);
      const logged = await server.waitForLog((e) =>
        e.logger === "postino.http" && e.properties.user === USERS.alice.user
      );
      assert.equal(logged.level, "WARN");
      assert.equal(logged.properties.limit, "messages");
    },
  );

  await t.step("the recipient past recipients_per_hour gets 451 4.7.0 at RCPT TO", async () => {
    const first = await send(USERS.bob, ["r1@remote.test", "r2@remote.test", "r3@remote.test"]);
    assert.equal(first.ok, true, JSON.stringify(first.error));
    // Three sent: of the next two, the fourth recipient of the hour goes and the fifth waits.
    const second = await send(USERS.bob, ["r4@remote.test", "r5@remote.test"]);
    assert.equal(second.ok, true, JSON.stringify(second.error));
    assert.deepEqual(Object.keys(second.refused ?? {}), ["r5@remote.test"]);
    const [code, text] = second.refused!["r5@remote.test"];
    assert.equal(code, 451);
    assert.match(
      text,
      /^4\.7\.0 bob@localhost sent to 3 recipients in the last hour and this message has 2, limit 4; try again in (59|60) min$/,
    );
    const logged = await server.waitForLog((e) =>
      e.properties.command === "RCPT <r5@remote.test>" && e.properties.user === USERS.bob.user
    );
    assert.deepEqual(
      [logged.properties.sent, logged.properties.limit, logged.properties.max],
      [3, "recipients", 4],
    );
    const queued = storedQueue(server).filter((q) => q.sender === USERS.bob.user);
    assert.deepEqual(queued.map((q) => q.recipient).sort(), [
      "r1@remote.test",
      "r2@remote.test",
      "r3@remote.test",
      "r4@remote.test",
    ]);
  });

  await t.step("the send API refuses recipients past the limit as a whole message", async () => {
    const basic: [string, string] = [USERS.carol.user, USERS.carol.password];
    const post = (to: string[]) =>
      api.call("POST", "/api/v1/send", {
        basic,
        json: { from: USERS.carol.user, to, subject: "hi", text: "x" },
      });
    // More recipients in one message than the hour allows: waiting would not help.
    const five = ["a", "b", "c", "d", "e"].map((x) => `${x}@remote.test`);
    assert.match(assertError(await post(five), 422, "to").error, /this message has 5, limit 4/);
    assert.equal((await post(five.slice(0, 4))).status, 202);
    const over = await post(["f@remote.test"]);
    assert.match(assertError(over, 429).error, /sent to 4 recipients .* limit 4; try again in/);
    assert.ok(Number(over.headers.get("retry-after")) > 0);
  });

  await t.step("mail from the outside is not limited", async () => {
    for (const i of [1, 2, 3]) {
      const r = await smtplib({
        port: server.addresses.smtp.port,
        security: "plain",
        sender: "friend@remote.test",
        recipients: [USERS.alice.user],
        message: message("friend@remote.test", `inbound ${i}`),
      });
      assert.equal(r.ok, true, JSON.stringify(r.error));
    }
  });

  await t.step("/metrics counts the refusals per limit", async () => {
    const text = await (await fetch(`${api.origin}/metrics`)).text();
    // alice at MAIL and from the API; bob's RCPT, carol's two API refusals.
    assert.equal(metric(text, 'postino_send_limited_total{limit="messages"}'), 2);
    assert.equal(metric(text, 'postino_send_limited_total{limit="recipients"}'), 3);
  });

  await t.step("/api/v1/users shows each user's hour against the limits", async () => {
    const r = await api.call("GET", "/api/v1/users", {
      basic: [USERS.alice.user, USERS.alice.password],
    });
    assert.equal(r.status, 200, r.text);
    const users = r.json() as { address: string; sending: Record<string, unknown> }[];
    const sending = Object.fromEntries(users.map((u) => [u.address, u.sending]));
    const since = (iso: unknown) => Date.now() - Date.parse(String(iso));
    for (const address of Object.keys(sending)) {
      const at = sending[address].limitedAt;
      assert.ok(at !== null && since(at) >= 0 && since(at) < 5 * MIN, `${address}: ${at}`);
    }
    const limits = { messagesLimit: 2, recipientsLimit: 4 };
    const without = (s: Record<string, unknown>) => ({ ...s, limitedAt: "…" });
    assert.deepEqual(without(sending[USERS.alice.user]), {
      messages: 2,
      recipients: 2,
      ...limits,
      limitedAt: "…",
      limitedBy: "messages",
    });
    assert.deepEqual(without(sending[USERS.bob.user]), {
      messages: 2,
      recipients: 4,
      ...limits,
      limitedAt: "…",
      limitedBy: "recipients",
    });
    assert.deepEqual(without(sending[USERS.carol.user]), {
      messages: 1,
      recipients: 4,
      ...limits,
      limitedAt: "…",
      limitedBy: "recipients",
    });
  });
});

Deno.test("send limits: a refused user may send again once the hour has passed (fake clock)", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postino-send-limits-" });
  const config = loadConfig({
    flags: { dev: true, data: dataDir, hostname: "postino.test", submission: "127.0.0.1:0" },
    env: { POSTINO_SEND_PER_HOUR: "1" },
  });
  const store = openStore(storePath(dataDir));
  let now = Date.UTC(2026, 2, 2, 10, 0, 0);
  try {
    ensureDomain(store, "localhost");
    addUser(store, USERS.alice.user, await hashPassword(USERS.alice.password));
    const pair = await ensureDevCertificate(dataDir, config.hostname);
    const server = await startServer({
      config,
      store,
      tls: new ServedCertificate({ ...pair, selfSigned: true }),
      now: () => now,
    });
    try {
      const send = () =>
        smtplib({
          port: server.address("submission")!.port,
          security: "starttls",
          ...USERS.alice,
          sender: USERS.alice.user,
          recipients: [USERS.alice.user],
          message: message(USERS.alice.user, "on a fake clock"),
        });
      assert.equal((await send()).ok, true);
      const refused = await send();
      assert.equal(refused.error?.code, 451, JSON.stringify(refused.error));
      assert.match(refused.error?.message ?? "", /^4\.7\.0 .* limit 1; try again in 60 min$/);
      now += 59 * MIN;
      const later = await send();
      assert.equal(later.error?.code, 451, "still refused a minute before the hour");
      assert.match(later.error?.message ?? "", /try again in 1 min$/);
      now += MIN;
      const after = await send();
      assert.equal(after.ok, true, `accepted after the hour: ${JSON.stringify(after.error)}`);
      assert.equal((await send()).error?.code, 451, "and the new message counts");
    } finally {
      await server.close(1000);
    }
  } finally {
    store.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
