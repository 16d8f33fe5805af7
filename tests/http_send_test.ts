/**
 * POST /api/v1/send end to end against the real `postino serve`: a message
 * built from JSON (non-ASCII subject and names, text and HTML as
 * multipart/alternative, a binary attachment with every byte value and one
 * with a long non-ASCII filename) is read back over IMAP with Python's
 * imaplib and decoded with Python's `email` package (policy default, no
 * defects); Bcc recipients get it without a Bcc field; the sender's Sent
 * mailbox keeps a \Seen copy; remote mail reaches the MX (a sink found
 * through a DNS stub) DKIM-signed with the key made over the API, and
 * python3-dkim verifies it against the TXT record published in the stub.
 * Then every refusal the contract names, with its status and field.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Resolver } from "../src/dns/resolver.ts";
import { dkimVerify } from "./support/inbound_fixture.ts";
import { header, startRemote } from "./support/outbound_fixture.ts";
import { type HttpAnswer, httpRequest, runPython } from "./support/http_probe.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const HOSTNAME = "postino.test";
const MAX_MESSAGE_SIZE = 192 * 1024;
const USERS = {
  alice: { address: "alice@localhost", password: "alice-secret" },
  bob: { address: "bob@localhost", password: "bob-secret" },
  carol: { address: "carol@localhost", password: "carol-secret" },
  dave: { address: "dave@localhost", password: "dave-secret" },
  erin: { address: "erin@localhost", password: "erin-secret" },
} as const;
type User = keyof typeof USERS;

/** One message as Python's imaplib fetched it and its `email` package decoded it. */
interface FetchedMessage {
  flags: string[];
  raw: string;
  defects: string[];
  headers: [string, string][];
  subject: string;
  from: [string, string][];
  to: [string, string][];
  cc: [string, string][];
  messageId: string;
  parts: FetchedPart[];
}

interface FetchedPart {
  contentType: string;
  multipart: boolean;
  filename: string | null;
  disposition: string | null;
  /** The decoded body, base64 (leaf parts). */
  content: string | null;
  /** get_content() of text parts. */
  text: string | null;
}

/**
 * Logs in over plain IMAP (loopback), fetches every message of a mailbox
 * with FLAGS and BODY.PEEK[], and decodes each with email.policy.default.
 */
const IMAP_FETCH_PY = `
import base64, imaplib, json, sys
from email import message_from_bytes, policy
job = json.load(sys.stdin)
imap = imaplib.IMAP4("127.0.0.1", job["port"], timeout=20)
imap.login(job["user"], job["password"])
typ, _ = imap.select('"%s"' % job["mailbox"], readonly=True)
assert typ == "OK", typ
typ, data = imap.search(None, "ALL")
assert typ == "OK", typ
out = []

def addresses(msg, name):
    h = msg[name]
    return [[a.display_name, a.addr_spec] for a in h.addresses] if h is not None else []

for num in data[0].split():
    typ, fl = imap.fetch(num, "(FLAGS)")
    assert typ == "OK", typ
    flags = [f.decode() for f in imaplib.ParseFlags(fl[0])]
    typ, body = imap.fetch(num, "(BODY.PEEK[])")
    assert typ == "OK", typ
    raw = body[0][1]
    msg = message_from_bytes(raw, policy=policy.default)
    defects = []
    parts = []
    for i, part in enumerate(msg.walk()):
        defects += ["part %d: %r" % (i, d) for d in part.defects]
        for name, value in part.items():
            defects += ["part %d %s: %r" % (i, name, d) for d in getattr(value, "defects", ())]
        leaf = not part.is_multipart()
        payload = part.get_payload(decode=True) if leaf else None
        text = part.get_content() if leaf and part.get_content_maintype() == "text" else None
        parts.append({
            "contentType": part.get_content_type(),
            "multipart": part.is_multipart(),
            "filename": part.get_filename(),
            "disposition": part.get_content_disposition(),
            "content": base64.b64encode(payload).decode() if payload is not None else None,
            "text": text,
        })
    out.append({
        "flags": flags,
        "raw": raw.decode("ascii", "replace"),
        "defects": defects,
        "headers": [[k, str(v)] for k, v in msg.items()],
        "subject": str(msg["subject"]),
        "from": addresses(msg, "from"),
        "to": addresses(msg, "to"),
        "cc": addresses(msg, "cc"),
        "messageId": str(msg["message-id"]),
        "parts": parts,
    })
imap.logout()
print(json.dumps(out))
`;

function fetchMailbox(
  server: RunningPostino,
  user: User,
  mailbox = "INBOX",
): Promise<FetchedMessage[]> {
  return runPython<FetchedMessage[]>(IMAP_FETCH_PY, {
    port: server.addresses.imap.port,
    user: USERS[user].address,
    password: USERS[user].password,
    mailbox,
  });
}

/** The one message in `messages` whose Message-ID is `id`. */
function byId(messages: FetchedMessage[], id: string): FetchedMessage {
  const found = messages.filter((m) => m.messageId === id);
  assert.equal(
    found.length,
    1,
    `one message ${id} among ${JSON.stringify(messages.map((m) => m.messageId))}`,
  );
  return found[0];
}

type Auth = { basic: [string, string] } | { bearer: string };

function basic(user: User): Auth {
  return { basic: [USERS[user].address, USERS[user].password] };
}

function send(server: RunningPostino, auth: Auth, body: unknown): Promise<HttpAnswer> {
  return httpRequest(server.addresses.http.port, {
    method: "POST",
    path: "/api/v1/send",
    body: typeof body === "string" ? body : body as Record<string, unknown>,
    headers: { "Content-Type": "application/json" },
    timeoutMs: 30_000,
    ...auth,
  });
}

/** Asserts a 202 `{id, messageId}` answer; gives the Message-ID with its angle brackets. */
function accepted(r: HttpAnswer): { id: string; messageId: string } {
  assert.equal(r.status, 202, r.text);
  const answer = r.json() as { id: string; messageId: string };
  assert.deepEqual(Object.keys(answer).sort(), ["id", "messageId"]);
  assert.equal(typeof answer.id, "string");
  assert.ok(answer.id.length > 0);
  assert.match(answer.messageId, new RegExp(`^<[^<>@\\s]+@${HOSTNAME.replace(".", "\\.")}>$`));
  return answer;
}

/** Asserts an error answer of the contract's shape. */
function refused(r: HttpAnswer, status: number, field?: string | RegExp): void {
  assert.equal(r.status, status, `want ${status}, got ${r.status} ${r.text}`);
  const body = r.json() as { error?: unknown; field?: unknown };
  assert.equal(typeof body.error, "string", r.text);
  assert.ok((body.error as string).length > 0);
  if (typeof field === "string") assert.equal(body.field, field, r.text);
  else if (field) assert.match(String(body.field), field, r.text);
}

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const SUBJECT = "Grüße ☃ 日本";
const LONG_FILENAME = "Überweisungsbestätigung für März – 日本語のファイル名 ☃ résumé (final).txt";
const LONG_FILE = new TextEncoder().encode("Zeilen mit Umlauten: äöü ß\r\nund ☃\r\n");
const TEXT = "Hallo Bob,\n\nGrüße aus Zürich ☃ 日本.\nFrom here a line that mbox would mangle.\n" +
  "trailing spaces stay   \n" + "a long line ".repeat(20) + "\n.\n..a dot line\n";
const HTML = '<!doctype html>\n<p lang="de">Grüße <b>☃</b> 日本 &amp; more</p>\n' +
  `<p style="color: red">${"x".repeat(200)}</p>\n`;

Deno.test("POST /api/v1/send delivers, keeps a Sent copy, signs remote mail, refuses bad input", async (t) => {
  await using remote = await startRemote();
  await using server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      HOSTNAME,
      "--http",
      "127.0.0.1:0",
      "--imap",
      "127.0.0.1:0",
      "--smtp",
      "127.0.0.1:0",
      "--max-message-size",
      `${MAX_MESSAGE_SIZE / 1024}K`,
      ...remote.args,
    ],
  });
  // One after the other: the first user added is the admin.
  for (const user of Object.values(USERS)) {
    const r = await server.cli(
      ["user", "add", user.address, "--password-stdin"],
      `${user.password}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
  }
  const tokens: Record<string, string> = {};
  for (const [name, args] of [["bob", ["--user", USERS.bob.address]], ["admin", []]] as const) {
    const r = await server.cli(["token", "create", `${name}-token`, ...args]);
    assert.equal(r.code, 0, r.stderr);
    tokens[name] = r.stdout.trim();
    assert.ok(tokens[name].length >= 16, `a token: ${r.stdout}`);
  }

  await t.step("Basic as alice: a rich message to local users, Bcc hidden, Sent kept", async () => {
    const r = await send(server, basic("alice"), {
      from: "Alice Müller <alice@localhost>",
      to: ["Bob Smith <bob@localhost>", '"Doe, Carol 日本" <carol@localhost>'],
      cc: ["Zoë ☃ <erin@localhost>"],
      bcc: ["dave@localhost"],
      subject: SUBJECT,
      text: TEXT,
      html: HTML,
      attachments: [
        {
          filename: "all-bytes.bin",
          contentType: "application/octet-stream",
          content: Buffer.from(ALL_BYTES).toString("base64"),
        },
        {
          filename: LONG_FILENAME,
          contentType: "text/plain",
          content: Buffer.from(LONG_FILE).toString("base64"),
        },
      ],
      headers: { "Reply-To": "Alice Müller <alice@localhost>", "X-Mailer-Test": "grüße" },
    });
    const { messageId } = accepted(r);

    const check = (m: FetchedMessage, who: string) => {
      assert.deepEqual(m.defects, [], `${who}: no defects`);
      assert.equal(m.subject, SUBJECT, who);
      assert.equal(m.messageId, messageId, who);
      assert.deepEqual(m.from, [["Alice Müller", "alice@localhost"]], who);
      assert.deepEqual(m.to, [["Bob Smith", "bob@localhost"], [
        "Doe, Carol 日本",
        "carol@localhost",
      ]]);
      assert.deepEqual(m.cc, [["Zoë ☃", "erin@localhost"]], who);
      const names = m.headers.map(([k]) => k.toLowerCase());
      assert.ok(!names.includes("bcc"), `${who}: no Bcc field in ${names.join(", ")}`);
      assert.doesNotMatch(m.raw.split("\r\n\r\n")[0], /dave@localhost/, `${who}: Bcc not leaked`);
      const value = (name: string) => m.headers.find(([k]) => k.toLowerCase() === name)?.[1];
      assert.equal(value("reply-to"), "Alice Müller <alice@localhost>");
      assert.equal(value("x-mailer-test"), "grüße");
      assert.equal(value("mime-version"), "1.0");

      const types = m.parts.map((p) => p.contentType);
      assert.deepEqual(types, [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/octet-stream",
        "text/plain",
      ], who);
      const [, , text, html, binary, named] = m.parts;
      assert.equal(text.text?.replace(/\r\n/g, "\n"), TEXT, `${who}: text`);
      assert.equal(html.text?.replace(/\r\n/g, "\n"), HTML, `${who}: html`);
      assert.equal(text.disposition, null);
      assert.equal(binary.filename, "all-bytes.bin");
      assert.equal(binary.disposition, "attachment");
      assert.deepEqual(new Uint8Array(Buffer.from(binary.content!, "base64")), ALL_BYTES);
      assert.equal(named.filename, LONG_FILENAME, `${who}: the RFC 2231 filename`);
      assert.equal(named.disposition, "attachment");
      assert.deepEqual(new Uint8Array(Buffer.from(named.content!, "base64")), LONG_FILE);
      // The composer's promise: 7-bit, CRLF, lines within 998 octets.
      assert.ok([...m.raw].every((c) => c.charCodeAt(0) < 0x80), `${who}: 7-bit`);
      assert.ok(m.raw.split("\r\n").every((l) => l.length <= 998), `${who}: line lengths`);
    };

    for (const user of ["bob", "carol", "erin", "dave"] as const) {
      const box = await fetchMailbox(server, user);
      const m = byId(box, messageId);
      check(m, user);
      assert.ok(!m.flags.includes("\\Seen"), `${user}: new mail is unseen`);
    }
    const sent = await fetchMailbox(server, "alice", "Sent");
    const copy = byId(sent, messageId);
    check(copy, "alice's Sent");
    assert.ok(copy.flags.includes("\\Seen"), `the Sent copy is \\Seen: ${copy.flags}`);
    const aliceInbox = await fetchMailbox(server, "alice");
    assert.equal(aliceInbox.filter((m) => m.messageId === messageId).length, 0);
  });

  await t.step("a --user token sends as that user, with text only", async () => {
    const r = await send(server, { bearer: tokens.bob }, {
      from: "bob@localhost",
      to: ["alice@localhost"],
      subject: "plain ascii",
      text: "Just text.",
    });
    const { messageId } = accepted(r);
    const m = byId(await fetchMailbox(server, "alice"), messageId);
    assert.deepEqual(m.defects, []);
    assert.deepEqual(m.from, [["", "bob@localhost"]]);
    assert.equal(m.subject, "plain ascii");
    assert.deepEqual(m.parts.map((p) => p.contentType), ["text/plain"]);
    assert.equal(m.parts[0].text?.replace(/\r\n/g, "\n"), "Just text.\n");
    const sent = byId(await fetchMailbox(server, "bob", "Sent"), messageId);
    assert.ok(sent.flags.includes("\\Seen"));
  });

  await t.step(
    "long and tricky header text decodes exactly; a To and Bcc twice gets one copy",
    async () => {
      const subject = "=?utf-8?q?not_encoded?= " + "👩‍👩‍👧‍👦 Grüße ".repeat(12) + "☃".repeat(40);
      const r = await send(server, basic("alice"), {
        from: '"Al \\"the\\" Ice, Jr." <alice@localhost>',
        to: ["bob@localhost"],
        bcc: ["bob@localhost"],
        subject,
        text: "nul \u0000 and bell \u0007 survive\n",
      });
      const { messageId } = accepted(r);
      const m = byId(await fetchMailbox(server, "bob"), messageId);
      assert.deepEqual(m.defects, []);
      assert.equal(m.subject, subject);
      assert.deepEqual(m.from, [['Al "the" Ice, Jr.', "alice@localhost"]]);
      assert.equal(m.parts[0].text?.replace(/\r\n/g, "\n"), "nul \u0000 and bell \u0007 survive\n");
      assert.ok(m.raw.split("\r\n").every((l) => l.length <= 78), "header and QP lines fold");
    },
  );

  await t.step("remote mail reaches the MX with a DKIM signature that verifies", async () => {
    const key = await httpRequest(server.addresses.http.port, {
      method: "POST",
      path: "/api/v1/dkim",
      body: { domain: "localhost" },
      ...basic("alice"),
    });
    assert.equal(key.status, 201, key.text);
    const made = key.json() as { name: string; record: string; selector: string };
    assert.equal(made.name, `${made.selector}._domainkey.localhost`);
    remote.dns.set(made.name, { TXT: [made.record] });
    // What a verifier finds: the record as the stub serves it.
    // (Deno.resolveDns answers *.localhost itself, RFC 6761 §6.3, so ask with our resolver.)
    const resolver = new Resolver({ servers: [{ host: "127.0.0.1", port: remote.dns.port }] });
    const published = await resolver.txt(made.name);
    assert.equal(published.kind, "ok", JSON.stringify(published));
    assert.deepEqual(published.kind === "ok" && published.records, [made.record]);
    const record = made.record;

    const r = await send(server, basic("alice"), {
      from: "Alice Müller <alice@localhost>",
      to: ["Friend <friend@remote.test>"],
      subject: SUBJECT,
      text: TEXT,
      attachments: [{
        filename: "all-bytes.bin",
        contentType: "application/octet-stream",
        content: Buffer.from(ALL_BYTES).toString("base64"),
      }],
    });
    const { messageId } = accepted(r);
    await remote.sink.waitFor(
      () => remote.sink.delivered.some((tx) => tx.rcptTo.includes("friend@remote.test")),
      20_000,
      "the message at the remote MX",
    );
    const tx = remote.sink.delivered.find((x) => x.rcptTo.includes("friend@remote.test"))!;
    assert.equal(tx.mailFrom, "alice@localhost");
    assert.deepEqual(tx.rcptTo, ["friend@remote.test"]);
    const received = new TextDecoder().decode(tx.data);
    assert.equal(header(received, "Message-ID"), messageId);
    const signature = header(received, "DKIM-Signature");
    assert.ok(signature, `a DKIM-Signature in:\n${received.slice(0, 800)}`);
    assert.match(signature, /(^|;)\s*d=localhost\s*;/);
    assert.match(signature, new RegExp(`(^|;)\\s*s=${made.selector}\\s*;`));
    assert.equal(await dkimVerify(received, made.name, record), "pass");
  });

  await t.step("refusals carry the contract's status and field", async () => {
    const ok = { from: "alice@localhost", to: ["bob@localhost"], subject: "s", text: "t" };
    const alice = basic("alice");
    refused(await send(server, alice, { ...ok, from: "bob@localhost" }), 403, "from");
    refused(await send(server, alice, { ...ok, from: "Bob <bob@localhost>" }), 403, "from");
    refused(await send(server, alice, { ...ok, from: "alice@remote.test" }), 403, "from");
    // Sender and Resent-From name a sender too, so they must be the user's as well.
    for (const name of ["Sender", "Resent-From", "resent-sender"]) {
      refused(
        await send(server, alice, { ...ok, headers: { [name]: "Bob <bob@localhost>" } }),
        403,
        `headers.${name}`,
      );
    }
    refused(await send(server, alice, { ...ok, to: ["nobody@localhost"] }), 422, "to[0]");
    refused(
      await send(server, alice, { ...ok, to: ["bob@localhost"], cc: ["x@localhost"] }),
      422,
      "cc[0]",
    );
    refused(
      await send(server, alice, { ...ok, to: ["bob@localhost", "ghost@localhost"] }),
      422,
      "to[1]",
    );
    refused(await send(server, alice, { ...ok, bcc: ["ghost@localhost"] }), 422, "bcc[0]");
    refused(await send(server, alice, { ...ok, to: [] }), 422);
    refused(await send(server, alice, { ...ok, to: [], cc: [], bcc: [] }), 422);
    refused(await send(server, alice, { ...ok, to: ["not an address"] }), 422, /^to(\[0\])?$/);
    refused(
      await send(server, alice, {
        ...ok,
        attachments: [{
          filename: "a.bin",
          contentType: "application/octet-stream",
          content: "!!",
        }],
      }),
      422,
      "attachments[0].content",
    );
    refused(
      await send(server, alice, {
        ...ok,
        attachments: [
          { filename: "a.bin", contentType: "application/octet-stream", content: "AAAA" },
          { filename: "b.bin", contentType: "application/octet-stream", content: "AAAAA" },
        ],
      }),
      422,
      "attachments[1].content",
    );
    for (
      const name of ["Content-Type", "Bcc", "From", "Message-ID", "MIME-Version", "DKIM-Signature"]
    ) {
      refused(
        await send(server, alice, { ...ok, headers: { [name]: "x" } }),
        422,
        new RegExp(`^headers`),
      );
    }
    for (const value of ["a\r\nBcc: dave@localhost", "a\nX-Injected: 1", "a\rb"]) {
      refused(await send(server, alice, { ...ok, headers: { "X-Test": value } }), 422, /^headers/);
    }
    refused(
      await send(server, alice, { ...ok, subject: "a\r\nBcc: dave@localhost" }),
      422,
      "subject",
    );
    refused(
      await send(server, alice, { ...ok, from: "Alice\r\nBcc: x <alice@localhost>" }),
      422,
      "from",
    );
    refused(await send(server, alice, "{not json"), 400);
    refused(await send(server, alice, { to: ["bob@localhost"], subject: "s" }), 422, "from");

    // Within the JSON limit but over --max-message-size once built.
    const big = Uint8Array.from({ length: MAX_MESSAGE_SIZE }, (_, i) => (i * 7919) % 251);
    const r = await send(server, alice, {
      ...ok,
      attachments: [{
        filename: "big.bin",
        contentType: "application/octet-stream",
        content: Buffer.from(big).toString("base64"),
      }],
    });
    refused(r, 413);
    // Far over: the body limit.
    const huge = Buffer.from(new Uint8Array(MAX_MESSAGE_SIZE * 2)).toString("base64");
    const r2 = await send(server, alice, {
      ...ok,
      attachments: [{ filename: "h.bin", contentType: "application/octet-stream", content: huge }],
    });
    refused(r2, 413);

    refused(await send(server, { bearer: tokens.admin }, ok), 403);
    const anonymous = await httpRequest(server.addresses.http.port, {
      method: "POST",
      path: "/api/v1/send",
      body: ok,
    });
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.match(anonymous.headers["www-authenticate"] ?? "", /^Basic realm="postino"/);
    const wrong = await send(server, { basic: [USERS.alice.address, "wrong"] }, ok);
    assert.equal(wrong.status, 401, wrong.text);
    refused(await send(server, { bearer: "no-such-token" }, ok), 401);

    // Nothing refused reached anyone.
    const bobBox = await fetchMailbox(server, "bob");
    assert.ok(!bobBox.some((m) => m.subject === "s"), "no refused message was delivered");
  });
});
