/**
 * Outbound mail is DKIM-signed (RFC 6376, relaxed/relaxed, From oversigned)
 * with the key `postino dkim keygen` made, RSA and Ed25519 (RFC 8463), and
 * the signature as the receiver got it verifies with Debian's python3-dkim
 * against the TXT record the command printed; an altered body fails. Also:
 * submission completes a message without Date and Message-ID (RFC 6409 §8).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  header,
  HOSTNAME,
  type Login,
  PYTHON,
  startOutbound,
  submit,
} from "./support/outbound_fixture.ts";
import type { RunningPostino } from "./support/server.ts";
import { type SinkTransaction, startSmtpSink } from "./support/smtp_sink.ts";

const VERIFY_PY = fileURLToPath(new URL("./support/dkim_verify.py", import.meta.url));
const CAROL: Login = { user: "carol@example.com", password: "carol-secret" };
const DAVE: Login = { user: "dave@example.org", password: "dave-secret" };

/** Runs `dkim keygen` on the running server's data; gives the printed record's name and value. */
async function keygen(server: RunningPostino, args: string[]) {
  const r = await server.cli(["dkim", "keygen", ...args]);
  assert.equal(r.code, 0, r.stderr);
  const name = /^Name: +(\S+)$/m.exec(r.stdout)?.[1];
  const value = /^Value: +(.+)$/m.exec(r.stdout)?.[1];
  assert.ok(name && value, `a record in:\n${r.stdout}`);
  return { name, value };
}

/** Verifies the topmost DKIM-Signature of `bytes` with python3-dkim and the given record. */
async function verify(bytes: Uint8Array, record: { name: string; value: string }) {
  const file = await Deno.makeTempFile({ prefix: "postino-dkim-received-" });
  try {
    await Deno.writeFile(file, bytes);
    const out = await new Deno.Command(PYTHON, {
      args: [VERIFY_PY, file, record.name, record.value],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return { code: out.code, text: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
  } finally {
    await Deno.remove(file);
  }
}

/** The tags of the first DKIM-Signature field of a received message. */
function signatureTags(text: string): Map<string, string> {
  const value = header(text, "DKIM-Signature");
  assert.ok(value, `a DKIM-Signature in:\n${text.slice(0, 600)}`);
  return new Map(
    value.split(";").map((t) => t.trim()).filter(Boolean).map((t) => {
      const eq = t.indexOf("=");
      return [t.slice(0, eq).trim(), t.slice(eq + 1).replace(/\s+/g, "")];
    }),
  );
}

/** `tx`'s bytes with the first occurrence of `from` in the body replaced. */
function alterBody(tx: SinkTransaction, from: string, to: string): Uint8Array {
  const text = new TextDecoder().decode(tx.data);
  const split = text.indexOf("\r\n\r\n");
  const body = text.slice(split);
  assert.ok(body.includes(from));
  return new TextEncoder().encode(text.slice(0, split) + body.replace(from, to));
}

Deno.test("outbound mail is DKIM-signed with RSA and Ed25519 keys python3-dkim verifies", async (t) => {
  await using sink = await startSmtpSink();
  await using server = await startOutbound({
    args: ["--relay", sink.address, "--domain", "example.com", "--domain", "example.org"],
    users: [CAROL, DAVE],
  });
  const rsa = await keygen(server, ["example.com"]);
  const ed25519 = await keygen(server, [
    "example.org",
    "--algorithm",
    "ed25519",
    "--selector",
    "ed",
  ]);
  assert.equal(ed25519.name, "ed._domainkey.example.org");
  assert.match(rsa.value, /k=rsa/);
  assert.match(ed25519.value, /k=ed25519/);

  const cases = [
    { login: CAROL, record: rsa, algorithm: "rsa-sha256", domain: "example.com" },
    { login: DAVE, record: ed25519, algorithm: "ed25519-sha256", domain: "example.org" },
  ];
  for (const c of cases) {
    await t.step(`${c.algorithm} for ${c.domain}`, async () => {
      const subject = `signed by ${c.domain}`;
      const text = `From: ${c.login.user}\r\nTo: Friend <friend@remote.test>\r\n` +
        `Subject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n` +
        `Hello,\r\n.a line that starts with a dot\r\n\r\n  spaced   out  \r\n\r\n\r\n`;
      await submit(server, { login: c.login, to: ["friend@remote.test"], message: text });
      await sink.waitFor(
        () => sink.delivered.some((tx) => tx.mailFrom === c.login.user),
        15_000,
        `mail from ${c.login.user}`,
      );
      const tx = sink.delivered.find((x) => x.mailFrom === c.login.user)!;
      const received = new TextDecoder().decode(tx.data);
      assert.match(received, /^DKIM-Signature: /, "the signature comes first");
      const tags = signatureTags(received);
      assert.equal(tags.get("a"), c.algorithm);
      assert.equal(tags.get("d"), c.domain);
      assert.equal(`${tags.get("s")}._domainkey.${c.domain}`, c.record.name);
      assert.equal(tags.get("c"), "relaxed/relaxed");
      const signed = (tags.get("h") ?? "").toLowerCase().split(":");
      assert.ok(signed.filter((h) => h === "from").length >= 2, `From oversigned: ${signed}`);
      for (const h of ["to", "subject", "date", "message-id"]) {
        assert.ok(signed.includes(h), `${h} signed: ${signed}`);
      }

      const good = await verify(tx.data, c.record);
      assert.equal(good.code, 0, good.text);
      assert.equal(good.text.trim(), "pass");
      const bad = await verify(alterBody(tx, "Hello", "Jello"), c.record);
      assert.equal(bad.code, 1, `an altered body must fail: ${bad.text}`);
      assert.match(bad.text, /^fail/);
    });
  }

  await t.step("a sender without a key of its domain goes out unsigned", async () => {
    const text = "From: alice@localhost\r\nSubject: unsigned\r\n\r\nNo key for localhost.\r\n";
    await submit(server, { to: ["friend@remote.test"], message: text });
    await sink.waitFor(
      () => sink.delivered.some((tx) => tx.mailFrom === "alice@localhost"),
      15_000,
      "mail from alice",
    );
    const tx = sink.delivered.find((x) => x.mailFrom === "alice@localhost")!;
    assert.equal(header(new TextDecoder().decode(tx.data), "DKIM-Signature"), undefined);
  });
});

Deno.test("submission adds Date and Message-ID when missing, and keeps those given", async () => {
  await using sink = await startSmtpSink();
  await using server = await startOutbound({ args: ["--relay", sink.address] });
  const bare = "From: alice@localhost\r\nTo: friend@remote.test\r\nSubject: bare\r\n\r\nHi.\r\n";
  const before = Date.now();
  await submit(server, { to: ["friend@remote.test"], message: bare });
  const full =
    "From: alice@localhost\r\nSubject: full\r\nDate: Tue, 3 Mar 2026 09:08:07 +0100\r\n" +
    "Message-ID: <given.1@client.example>\r\n\r\nHi.\r\n";
  await submit(server, { to: ["friend@remote.test"], message: full });
  await sink.waitFor(() => sink.delivered.length >= 2, 15_000, "both messages");

  const texts = sink.delivered.map((tx) => new TextDecoder().decode(tx.data));
  const added = texts.find((x) => /^Subject: bare\r$/m.test(x))!;
  const head = added.split("\r\n\r\n")[0];
  assert.equal(head.match(/^Date:/gim)?.length, 1, `one Date in:\n${head}`);
  assert.equal(head.match(/^Message-ID:/gim)?.length, 1, `one Message-ID in:\n${head}`);
  const date = Date.parse(header(added, "Date")!);
  assert.ok(
    Math.abs(date - before) < 60_000,
    `Date is now: ${header(added, "Date")}`,
  );
  assert.match(
    header(added, "Date")!,
    /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/,
  );
  assert.match(header(added, "Message-ID")!, new RegExp(`^<[^<>@\\s]+@${HOSTNAME}>$`));
  assert.ok(added.endsWith("\r\n\r\nHi.\r\n"), "the body is unchanged");

  const kept = texts.find((x) => /^Subject: full\r$/m.test(x))!;
  const keptHead = kept.split("\r\n\r\n")[0];
  assert.equal(keptHead.match(/^Date:/gim)?.length, 1);
  assert.equal(keptHead.match(/^Message-ID:/gim)?.length, 1);
  assert.equal(header(kept, "Date"), "Tue, 3 Mar 2026 09:08:07 +0100");
  assert.equal(header(kept, "Message-ID"), "<given.1@client.example>");
});
