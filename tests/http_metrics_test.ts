/**
 * GET /metrics against the real `postino serve`: from loopback without
 * credentials, in the Prometheus text format (version 0.0.4) as Debian's
 * python3-prometheus-client parses it, and moving with what the server does:
 * a delivery on the MX listener (Python smtplib), a refused recipient, and
 * wrong passwords over IMAP and SMTP AUTH.
 */
import assert from "node:assert/strict";
import { httpRequest, runPython } from "./support/http_probe.ts";
import { smtplib } from "./support/outbound_fixture.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const ALICE = { user: "alice@localhost", password: "alice-secret" };

/** One sample as prometheus_client's parser gives it. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** What a scrape gave. */
interface Scrape {
  families: { name: string; type: string }[];
  samples: Sample[];
}

const PARSE_PY = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
text = json.load(sys.stdin)["text"]
families, samples = [], []
for family in text_string_to_metric_families(text):
    families.append({"name": family.name, "type": family.type})
    for s in family.samples:
        v = s.value
        samples.append({"name": s.name, "labels": dict(s.labels),
                        "value": v if math.isfinite(v) else str(v)})
print(json.dumps({"families": families, "samples": samples}))
`;

const IMAP_LOGIN_PY = `
import imaplib, json, sys
job = json.load(sys.stdin)
imap = imaplib.IMAP4("127.0.0.1", job["port"], timeout=20)
try:
    imap.login(job["user"], job["password"])
    result = {"ok": True}
    imap.logout()
except imaplib.IMAP4.error as e:
    result = {"ok": False, "error": str(e)}
    imap.shutdown()
print(json.dumps(result))
`;

/** Scrapes /metrics from loopback without credentials and parses it with prometheus_client. */
async function scrape(server: RunningPostino): Promise<Scrape & { contentType: string }> {
  const r = await httpRequest(server.addresses.http.port, { path: "/metrics" });
  assert.equal(r.status, 200, r.text);
  const parsed = await runPython<Scrape>(PARSE_PY, { text: r.text });
  return { ...parsed, contentType: r.headers["content-type"] ?? "" };
}

/** The value of the sample `name` with exactly `labels` (0 when the series does not exist yet). */
function value(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = scrape.samples.filter((s) =>
    s.name === name && Object.keys(s.labels).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  );
  assert.ok(found.length <= 1, `one series ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

/** The sum over every series of `name`. */
function total(scrape: Scrape, name: string): number {
  return scrape.samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
}

/** Scrapes until `ready` holds (the counters move just after the reply); bounded. */
async function scrapeUntil(
  server: RunningPostino,
  ready: (s: Scrape) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<Scrape> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(server);
    if (ready(s)) return s;
    if (Date.now() > end) {
      throw new Error(`Timed out waiting for ${what}:\n${JSON.stringify(s.samples, null, 1)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function message(subject: string): string {
  return `From: Sender <sender@remote.example>\r\nTo: <alice@localhost>\r\nSubject: ${subject}\r\n` +
    `Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <${crypto.randomUUID()}@remote.example>\r\n` +
    `\r\nHello.\r\n`;
}

Deno.test("/metrics is Prometheus text that moves with deliveries, refusals and bad logins", async (t) => {
  await using server = await startPostino({
    args: [
      "--dev",
      "--http",
      "127.0.0.1:0",
      "--smtp",
      "127.0.0.1:0",
      "--submission",
      "127.0.0.1:0",
      "--imap",
      "127.0.0.1:0",
    ],
  });
  const added = await server.cli(
    ["user", "add", ALICE.user, "--password-stdin"],
    `${ALICE.password}\n`,
  );
  assert.equal(added.code, 0, added.stderr);

  let before: Scrape = { families: [], samples: [] };

  await t.step("loopback gets it without credentials, in the 0.0.4 text format", async () => {
    const s = await scrape(server);
    assert.equal(s.contentType, "text/plain; version=0.0.4; charset=utf-8");
    const types = new Map(s.families.map((f) => [f.name, f.type]));
    // prometheus_client names a counter family without its _total suffix.
    assert.equal(types.get("postino_messages_accepted"), "counter");
    assert.equal(types.get("postino_connections"), "counter");
    assert.equal(types.get("postino_commit_batch_size"), "histogram");
    assert.equal(types.get("process_resident_memory_bytes"), "gauge");
    assert.ok(value(s, "process_resident_memory_bytes") > 0, "resident memory is counted");
    assert.equal(value(s, "postino_messages_accepted_total", { source: "mx" }), 0);
    before = s;
  });

  await t.step("a delivery on the MX listener is counted", async () => {
    const r = await smtplib({
      port: server.addresses.smtp.port,
      security: "plain",
      sender: "sender@remote.example",
      recipients: [ALICE.user],
      message: message("counted"),
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.deepEqual(r.refused, {});
    const accepted = value(before, "postino_messages_accepted_total", { source: "mx" });
    const after = await scrapeUntil(
      server,
      (s) => value(s, "postino_messages_accepted_total", { source: "mx" }) > accepted,
      "postino_messages_accepted_total{source=mx} to move",
    );
    assert.equal(
      value(after, "postino_messages_accepted_total", { source: "mx" }),
      accepted + 1,
      "exactly one more",
    );
    // Alice trained nothing and the sender has no history: her filter decided nothing.
    const undecided = { verdict: "undecided", by: "none" };
    assert.equal(
      value(after, "postino_junk_verdicts_total", undecided),
      value(before, "postino_junk_verdicts_total", undecided) + 1,
    );
    for (const source of ["submission", "api"]) {
      assert.equal(
        value(after, "postino_messages_accepted_total", { source }),
        value(before, "postino_messages_accepted_total", { source }),
        `${source} unchanged`,
      );
    }
    assert.ok(
      value(after, "postino_connections_total", { listener: "smtp" }) >
        value(before, "postino_connections_total", { listener: "smtp" }),
      "postino_connections_total{listener=smtp} went up",
    );
    assert.ok(
      value(after, "postino_commit_batch_size_count") >
        value(before, "postino_commit_batch_size_count"),
      "postino_commit_batch_size_count went up",
    );
    assert.ok(value(after, "postino_commit_batch_size_sum") >= 1, "a batch holds a delivery");
    assert.ok(
      value(after, "postino_http_requests_total", { listener: "http", status: "2xx" }) >
        value(before, "postino_http_requests_total", { listener: "http", status: "2xx" }),
      "the scrapes themselves are counted",
    );
    before = after;
  });

  await t.step("a refused local recipient is counted as unknown_recipient", async () => {
    const r = await smtplib({
      port: server.addresses.smtp.port,
      security: "plain",
      sender: "sender@remote.example",
      recipients: ["nobody@localhost"],
      message: message("refused"),
    });
    assert.equal(r.ok, false, "the only recipient is refused");
    const refused = value(before, "postino_messages_rejected_total", {
      reason: "unknown_recipient",
    });
    const after = await scrapeUntil(
      server,
      (s) => value(s, "postino_messages_rejected_total", { reason: "unknown_recipient" }) > refused,
      "postino_messages_rejected_total{reason=unknown_recipient} to move",
    );
    assert.equal(
      value(after, "postino_messages_rejected_total", { reason: "unknown_recipient" }),
      refused + 1,
    );
    assert.equal(
      value(after, "postino_messages_accepted_total", { source: "mx" }),
      value(before, "postino_messages_accepted_total", { source: "mx" }),
      "nothing accepted",
    );
    before = after;
  });

  await t.step("a wrong IMAP password moves postino_auth_failures_total", async () => {
    const failures = total(before, "postino_auth_failures_total");
    const r = await runPython<{ ok: boolean; error?: string }>(IMAP_LOGIN_PY, {
      port: server.addresses.imap.port,
      user: ALICE.user,
      password: "wrong",
    });
    assert.equal(r.ok, false, "the login is refused");
    before = await scrapeUntil(
      server,
      (s) => total(s, "postino_auth_failures_total") > failures,
      "postino_auth_failures_total to move after IMAP",
    );
    assert.ok(
      before.samples.some((s) =>
        s.name === "postino_auth_failures_total" && /imap/i.test(s.labels.protocol ?? "") &&
        s.value >= 1
      ),
      `an imap series: ${
        JSON.stringify(before.samples.filter((s) => s.name === "postino_auth_failures_total"))
      }`,
    );
  });

  await t.step("a wrong SMTP AUTH password moves postino_auth_failures_total", async () => {
    const failures = total(before, "postino_auth_failures_total");
    const r = await smtplib({
      port: server.addresses.submission.port,
      security: "starttls",
      user: ALICE.user,
      password: "wrong",
      sender: ALICE.user,
      recipients: [ALICE.user],
      message: message("never sent"),
    });
    assert.equal(r.ok, false, "the login is refused");
    const after = await scrapeUntil(
      server,
      (s) => total(s, "postino_auth_failures_total") > failures,
      "postino_auth_failures_total to move after SMTP AUTH",
    );
    assert.ok(
      after.samples.some((s) =>
        s.name === "postino_auth_failures_total" && /smtp|submission/i.test(s.labels.protocol ?? "")
      ),
      `an smtp series: ${
        JSON.stringify(after.samples.filter((s) => s.name === "postino_auth_failures_total"))
      }`,
    );
  });
});
