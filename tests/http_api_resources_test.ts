/**
 * The JSON API's resources against the real `postino serve` (black box,
 * `fetch` on port 0): every operation of the OpenAPI document is called and
 * answers as documented (status, Location, body shape checked against the
 * document's own schemas), and each change is seen by the CLI on the same
 * store. Who may call what is tests/http_api_auth_test.ts; malformed input is
 * tests/http_api_input_test.ts.
 */
import assert from "node:assert/strict";
import {
  type ApiAnswer,
  ApiClient,
  assertConforms,
  assertDocumented,
  assertError,
  type CallOptions,
  type OpenApiDocument,
  operations,
} from "./support/http_api.ts";
import { runPython } from "./support/http_probe.ts";
import { smtplib, submit } from "./support/outbound_fixture.ts";
import { startDnsStub } from "./support/dns_stub.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const ALICE = { user: "alice@localhost", password: "pw-alice" };
const BOB = { user: "bob@localhost", password: "pw-bob" };

/** Every operation the document must hold (DESIGN.md's table and what the UI needs). */
const OPERATIONS = [
  "POST /api/v1/session",
  "GET /api/v1/session",
  "DELETE /api/v1/session",
  "GET /api/v1/domains",
  "POST /api/v1/domains",
  "DELETE /api/v1/domains/{domain}",
  "GET /api/v1/domains/{domain}/dns",
  "GET /api/v1/domains/{domain}/check",
  "GET /api/v1/users",
  "POST /api/v1/users",
  "DELETE /api/v1/users/{address}",
  "PUT /api/v1/users/{address}/password",
  "PUT /api/v1/users/{address}/admin",
  "GET /api/v1/aliases",
  "POST /api/v1/aliases",
  "DELETE /api/v1/aliases/{alias}",
  "GET /api/v1/dkim",
  "POST /api/v1/dkim",
  "GET /api/v1/queue",
  "POST /api/v1/queue/{id}/retry",
  "DELETE /api/v1/queue/{id}",
  "POST /api/v1/send",
  "GET /api/v1/account",
  "GET /api/v1/account/mbox",
  "GET /api/v1/account/mobileconfig",
  "GET /api/v1/stats",
];

/** The non-empty lines of a CLI's output. */
function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/** Runs a CLI command that must succeed; gives stdout. */
async function cli(server: RunningPostino, args: string[]): Promise<string> {
  const r = await server.cli(args);
  assert.equal(r.code, 0, `postino ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Reads mboxrd (one ">" taken from quoted From lines) into its entries' From lines and bodies. */
function parseMboxrd(text: string): { from: string; message: string }[] {
  const entries: { from: string; lines: string[] }[] = [];
  const all = text.split("\n");
  assert.equal(all.pop(), "", "an mbox ends with a newline");
  for (const line of all) {
    if (line.startsWith("From ")) entries.push({ from: line, lines: [] });
    else {
      assert.ok(entries.length > 0, `the mbox starts with a From line: ${JSON.stringify(line)}`);
      entries.at(-1)!.lines.push(line.replace(/^>(>*From )/, "$1"));
    }
  }
  return entries.map((e) => {
    assert.equal(e.lines.at(-1), "", "each entry ends with an empty line");
    return { from: e.from, message: e.lines.slice(0, -1).join("\n") };
  });
}

Deno.test("the JSON API's resources, as documented and shared with the CLI", async (t) => {
  await using dns = await startDnsStub({});
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
      // Remote mail goes to a relay that refuses connections, so it stays queued.
      "--relay",
      "127.0.0.1:1",
      // No lookup reaches the system's resolver (the check route looks names up).
      "--dns",
      dns.address,
    ],
  });
  for (const u of [ALICE, BOB]) {
    const r = await server.cli(["user", "add", u.user, "--password-stdin"], `${u.password}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const admin = (await cli(server, ["token", "create", "ops"])).trim();
  const bobToken = (await cli(server, ["token", "create", "bob-app", "--user", BOB.user])).trim();
  const api = new ApiClient(server.addresses.http.port);
  let doc: OpenApiDocument = { openapi: "", paths: {}, components: { schemas: {} } };

  /** Operations answered with a 2xx so far, as "METHOD /template". */
  const covered = new Set<string>();
  const templateOf = (path: string) =>
    Object.keys(doc.paths).find((p) =>
      new RegExp(`^${p.replace(/\{\w+\}/g, "[^/]+")}$`).test(path.split("?")[0])
    );
  const call = async (method: string, path: string, options: CallOptions = {}) => {
    const r = await api.call(method, path, options);
    assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${r.text}`);
    const template = templateOf(path);
    if (r.status >= 200 && r.status < 300 && template) covered.add(`${method} ${template}`);
    return r;
  };
  const asAdmin = (method: string, path: string, options: CallOptions = {}) =>
    call(method, path, { bearer: admin, ...options });
  const documented = (r: ApiAnswer, method: string, path: string) =>
    assertDocumented(r, doc, method, path);

  await t.step(
    "GET /api/v1/openapi.json needs no credentials and holds every operation",
    async () => {
      const r = await api.call("GET", "/api/v1/openapi.json");
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
      doc = r.json() as OpenApiDocument;
      assert.equal(doc.openapi, "3.1.0");
      assert.deepEqual(operations(doc).map(([m, p]) => `${m} ${p}`).sort(), [...OPERATIONS].sort());
      for (const [method, path, op] of operations(doc)) {
        const has = (status: number) => String(status) in op.responses;
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith("2")), `${method} ${path}`);
        if (op["x-access"] !== "public") assert.ok(has(401) && has(403), `${method} ${path}`);
        if (op.requestBody) assert.ok(has(413) && has(415) && has(422), `${method} ${path}`);
      }
    },
  );

  await t.step("domains: list, add (201, Location), DNS records, delete", async () => {
    const list = await asAdmin("GET", "/api/v1/domains");
    assert.equal(list.status, 200, list.text);
    const before = documented(list, "GET", "/api/v1/domains") as { domain: string }[];
    assert.deepEqual(before.map((d) => d.domain), ["localhost"]);

    const made = await asAdmin("POST", "/api/v1/domains", { json: { domain: "Example.COM" } });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.headers.get("location"), "/api/v1/domains/example.com");
    const body = documented(made, "POST", "/api/v1/domains") as Record<string, unknown>;
    assert.deepEqual({ ...body, createdAt: "" }, {
      domain: "example.com",
      users: 0,
      aliases: 0,
      createdAt: "",
    });
    assert.ok(Math.abs(Date.parse(body.createdAt as string) - Date.now()) < 60_000);
    assert.deepEqual(lines(await cli(server, ["domain", "list"])), [
      "example.com\t0 users\t0 aliases",
      "localhost\t2 users\t0 aliases",
    ]);
    const after = await asAdmin("GET", "/api/v1/domains");
    assert.deepEqual(
      (documented(after, "GET", "/api/v1/domains") as { domain: string; users: number }[])
        .map((d) => [d.domain, d.users]),
      [["example.com", 0], ["localhost", 2]],
    );

    const dns = await asAdmin("GET", "/api/v1/domains/example.com/dns");
    assert.equal(dns.status, 200, dns.text);
    const records = documented(dns, "GET", "/api/v1/domains/{domain}/dns") as {
      name: string;
      type: string;
      value: string;
    }[];
    const find = (name: string, type: string, value: RegExp) =>
      records.find((x) => x.name === name && x.type === type && value.test(x.value));
    assert.ok(find("example.com", "MX", /^\d+ \S+\.$/), `an MX record: ${dns.text}`);
    assert.ok(find("example.com", "TXT", /^v=spf1 /), `an SPF record: ${dns.text}`);
    assert.ok(find("_dmarc.example.com", "TXT", /^v=DMARC1; p=/), `a DMARC record: ${dns.text}`);
    assert.equal(records.filter((x) => x.name.includes("._domainkey.")).length, 0, "no DKIM yet");

    const key = await asAdmin("POST", "/api/v1/dkim", {
      json: { domain: "example.com", selector: "mail1" },
    });
    assert.equal(key.status, 201, key.text);
    const { record } = documented(key, "POST", "/api/v1/dkim") as { record: string };
    const withKey = (await asAdmin("GET", "/api/v1/domains/example.com/dns")).json() as {
      name: string;
      type: string;
      value: string;
    }[];
    assert.deepEqual(
      withKey.filter((x) => x.name.includes("._domainkey.")).map((x) => [x.name, x.type, x.value]),
      [["mail1._domainkey.example.com", "TXT", record]],
    );

    // The check report: one entry per check; with no DNS to ask, the MX cannot be found.
    const check = await asAdmin("GET", "/api/v1/domains/example.com/check");
    assert.equal(check.status, 200, check.text);
    const report = documented(check, "GET", "/api/v1/domains/{domain}/check") as {
      check: string;
      status: string;
    }[];
    assert.deepEqual(report.find((x) => x.check === "mx")?.status, "fail");
    assert.ok(report.every((x) => ["ok", "warn", "fail"].includes(x.status)));
    assertError(await asAdmin("GET", "/api/v1/domains/nowhere.example/check"), 404);

    const del = await asAdmin("DELETE", "/api/v1/domains/example.com");
    assert.equal(del.status, 204, del.text);
    assert.equal(del.text, "");
    assert.deepEqual(lines(await cli(server, ["domain", "list"])), [
      "localhost\t2 users\t0 aliases",
    ]);
    assertError(await asAdmin("DELETE", "/api/v1/domains/example.com"), 404);
    assertError(await asAdmin("GET", "/api/v1/domains/example.com/dns"), 404);
  });

  await t.step("users: list, add (201, Location), admin flag, password, delete", async () => {
    const list = await asAdmin("GET", "/api/v1/users");
    assert.equal(list.status, 200, list.text);
    const users = documented(list, "GET", "/api/v1/users") as Record<string, unknown>[];
    assert.deepEqual(users.map((u) => [u.address, u.admin, u.messages, u.bytes]), [
      [ALICE.user, true, 0, 0],
      [BOB.user, false, 0, 0],
    ]);

    const carol = await asAdmin("POST", "/api/v1/users", {
      json: { address: "Carol@LOCALHOST", password: "pw-carol" },
    });
    assert.equal(carol.status, 201, carol.text);
    assert.equal(carol.headers.get("location"), "/api/v1/users/carol@localhost");
    assert.deepEqual(documented(carol, "POST", "/api/v1/users"), {
      address: "carol@localhost",
      admin: false,
    });
    const dave = await asAdmin("POST", "/api/v1/users", {
      json: { address: "dave@localhost", password: "pw-dave", admin: true },
    });
    assert.equal(dave.status, 201, dave.text);
    assert.deepEqual(dave.json(), { address: "dave@localhost", admin: true });
    const listed = async () =>
      lines(await cli(server, ["user", "list"])).map((l) => l.split("\t"))
        .map((f) => `${f[0]}${f.at(-1) === "admin" ? " admin" : ""}`);
    assert.deepEqual(await listed(), [
      "alice@localhost admin",
      "bob@localhost",
      "carol@localhost",
      "dave@localhost admin",
    ]);

    const on = await asAdmin("PUT", "/api/v1/users/carol@localhost/admin", {
      json: { admin: true },
    });
    assert.equal(on.status, 204, on.text);
    const off = await asAdmin("PUT", "/api/v1/users/dave@localhost/admin", {
      json: { admin: false },
    });
    assert.equal(off.status, 204, off.text);
    assert.deepEqual(await listed(), [
      "alice@localhost admin",
      "bob@localhost",
      "carol@localhost admin",
      "dave@localhost",
    ]);
    assertError(
      await asAdmin("PUT", "/api/v1/users/nobody@localhost/admin", { json: { admin: true } }),
      404,
    );

    const pw = await asAdmin("PUT", "/api/v1/users/carol@localhost/password", {
      json: { password: "new-carol" },
    });
    assert.equal(pw.status, 204, pw.text);
    const me = await call("GET", "/api/v1/account", { basic: ["carol@localhost", "new-carol"] });
    assert.equal(me.status, 200, me.text);
    assertError(
      await asAdmin("PUT", "/api/v1/users/nobody@localhost/password", { json: { password: "x" } }),
      404,
    );

    for (const address of ["carol@localhost", "dave@localhost"]) {
      const del = await asAdmin("DELETE", `/api/v1/users/${encodeURIComponent(address)}`);
      assert.equal(del.status, 204, del.text);
    }
    assert.deepEqual(await listed(), ["alice@localhost admin", "bob@localhost"]);
    assertError(await asAdmin("DELETE", "/api/v1/users/carol@localhost"), 404);
  });

  await t.step(
    "aliases: add (201), a user sees only those that deliver to them, delete",
    async () => {
      const info = await asAdmin("POST", "/api/v1/aliases", {
        json: { alias: "Info@LocalHost", target: BOB.user },
      });
      assert.equal(info.status, 201, info.text);
      assert.deepEqual(documented(info, "POST", "/api/v1/aliases"), {
        alias: "info@localhost",
        target: BOB.user,
      });
      for (
        const [alias, target] of [["sales@localhost", ALICE.user], ["info@localhost", ALICE.user]]
      ) {
        const r = await asAdmin("POST", "/api/v1/aliases", { json: { alias, target } });
        assert.equal(r.status, 201, r.text);
      }
      assert.deepEqual(lines(await cli(server, ["alias", "list"])), [
        "info@localhost\talice@localhost",
        "info@localhost\tbob@localhost",
        "sales@localhost\talice@localhost",
      ]);
      const all = await asAdmin("GET", "/api/v1/aliases");
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(documented(all, "GET", "/api/v1/aliases"), [
        { alias: "info@localhost", target: ALICE.user },
        { alias: "info@localhost", target: BOB.user },
        { alias: "sales@localhost", target: ALICE.user },
      ]);
      for (
        const credentials of [{ basic: [BOB.user, BOB.password] as [string, string] }, {
          bearer: bobToken,
        }]
      ) {
        const mine = await call("GET", "/api/v1/aliases", credentials);
        assert.equal(mine.status, 200, mine.text);
        assert.deepEqual(mine.json(), [{ alias: "info@localhost", target: BOB.user }]);
      }

      const del = await asAdmin("DELETE", "/api/v1/aliases/info@localhost");
      assert.equal(del.status, 204, del.text);
      assert.deepEqual(lines(await cli(server, ["alias", "list"])), [
        "sales@localhost\talice@localhost",
      ]);
      assert.deepEqual((await call("GET", "/api/v1/aliases", { bearer: bobToken })).json(), []);
      assertError(await asAdmin("DELETE", "/api/v1/aliases/info@localhost"), 404);
    },
  );

  await t.step("dkim: generate rsa and ed25519 keys (201 with the record), list", async () => {
    const rsa = await asAdmin("POST", "/api/v1/dkim", { json: { domain: "LOCALHOST" } });
    assert.equal(rsa.status, 201, rsa.text);
    const a = documented(rsa, "POST", "/api/v1/dkim") as Record<string, string>;
    assert.match(a.selector, /^postino\d{6}$/, "the default selector");
    assert.equal(a.domain, "localhost");
    assert.equal(a.algorithm, "rsa");
    assert.equal(a.name, `${a.selector}._domainkey.localhost`);
    assert.match(a.record, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}={0,2}$/);
    const ed = await asAdmin("POST", "/api/v1/dkim", {
      json: { domain: "localhost", selector: "Ed1", algorithm: "ed25519" },
    });
    assert.equal(ed.status, 201, ed.text);
    const b = documented(ed, "POST", "/api/v1/dkim") as Record<string, string>;
    assert.equal(b.selector, "ed1");
    assert.equal(b.algorithm, "ed25519");
    assert.match(b.record, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);

    const list = await asAdmin("GET", "/api/v1/dkim");
    assert.equal(list.status, 200, list.text);
    const keys = documented(list, "GET", "/api/v1/dkim") as Record<string, unknown>[];
    const local = keys.filter((k) => k.domain === "localhost")
      .map((k) => [k.selector, k.algorithm, k.record, k.active]).sort();
    assert.deepEqual(
      local,
      [[a.selector, "rsa", a.record, true], ["ed1", "ed25519", b.record, true]].sort(),
    );
    const shown = lines(await cli(server, ["dkim", "list"])).map((l) =>
      l.split("\t").slice(0, 3).join(" ")
    );
    assert.ok(shown.includes(`localhost ${a.selector} rsa`), shown.join("\n"));
    assert.ok(shown.includes("localhost ed1 ed25519"), shown.join("\n"));
    assertError(
      await asAdmin("POST", "/api/v1/dkim", { json: { domain: "localhost", selector: "ed1" } }),
      409,
    );
  });

  await t.step("queue: list, retry and delete a deferred message", async () => {
    await submit(server, {
      to: ["someone@remote.test"],
      message:
        "From: <alice@localhost>\r\nTo: <someone@remote.test>\r\nSubject: queued\r\n\r\nHi\r\n",
      login: ALICE,
    });
    type Item = { id: number; sender: string; recipients: { address: string; attempts: number }[] };
    const queue = async () => {
      const r = await asAdmin("GET", "/api/v1/queue");
      assert.equal(r.status, 200, r.text);
      return documented(r, "GET", "/api/v1/queue") as Item[];
    };
    const attemptsAtLeast = async (n: number) => {
      const until = Date.now() + 15_000;
      for (;;) {
        const [item] = await queue();
        if (item && item.recipients[0].attempts >= n) return item;
        assert.ok(Date.now() < until, `attempts never reached ${n}: ${JSON.stringify(item)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const item = await attemptsAtLeast(1);
    assert.equal(item.sender, ALICE.user);
    assert.deepEqual(item.recipients.map((x) => x.address), ["someone@remote.test"]);
    const viaCli = JSON.parse(await cli(server, ["queue", "list", "--json"]));
    assert.deepEqual(viaCli.map((i: Item) => i.id), [item.id]);
    assertConforms(
      viaCli,
      doc.paths["/api/v1/queue"].get.responses["200"].content!["application/json"].schema,
      doc,
    );

    const retry = await asAdmin("POST", `/api/v1/queue/${item.id}/retry`);
    assert.equal(retry.status, 204, retry.text);
    await attemptsAtLeast(item.recipients[0].attempts + 1);

    const del = await asAdmin("DELETE", `/api/v1/queue/${item.id}`);
    assert.equal(del.status, 204, del.text);
    assert.deepEqual(JSON.parse(await cli(server, ["queue", "list", "--json"])), []);
    assert.deepEqual(await queue(), []);
    assertError(await asAdmin("DELETE", `/api/v1/queue/${item.id}`), 404);
    assertError(await asAdmin("POST", `/api/v1/queue/${item.id}/retry`), 404);
  });

  await t.step(
    "account: the user's own view, the mailbox as mboxrd, the Apple profile",
    async () => {
      const message = "From: Sender <sender@remote.test>\r\nTo: <alice@localhost>\r\n" +
        "Subject: mbox check\r\n\r\nFrom the start of a line\r\n>From quoted once\r\nend\r\n";
      const sent = await smtplib({
        port: server.addresses.smtp.port,
        security: "plain",
        sender: "sender@remote.test",
        recipients: [ALICE.user],
        message,
      });
      assert.equal(sent.ok, true, JSON.stringify(sent.error));

      const basic: [string, string] = [ALICE.user, ALICE.password];
      const r = await call("GET", "/api/v1/account", { basic });
      assert.equal(r.status, 200, r.text);
      const account = documented(r, "GET", "/api/v1/account") as {
        address: string;
        admin: boolean;
        aliases: string[];
        mailboxes: { name: string; messages: number; unseen: number }[];
        usage: { messages: number };
        servers: Record<string, unknown>;
      };
      assert.equal(account.address, ALICE.user);
      assert.equal(account.admin, true);
      assert.deepEqual(account.aliases, ["sales@localhost"]);
      const inbox = account.mailboxes.find((m) => m.name === "INBOX");
      assert.deepEqual([inbox?.messages, inbox?.unseen], [1, 1]);
      assert.equal(account.usage.messages, 1);
      assert.equal(account.servers.imap, server.addresses.imap.port);
      assert.equal(account.servers.submission, server.addresses.submission.port);

      const mbox = await call("GET", "/api/v1/account/mbox?mailbox=INBOX", { basic });
      assert.equal(mbox.status, 200, mbox.text);
      assert.equal(mbox.headers.get("content-type"), "application/mbox");
      assert.match(
        mbox.headers.get("content-disposition") ?? "",
        /^attachment; filename="INBOX\.mbox"$/,
      );
      const entries = parseMboxrd(mbox.text);
      assert.equal(entries.length, 1, mbox.text);
      assert.match(
        entries[0].from,
        /^From sender@remote\.test (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/,
      );
      assert.match(entries[0].message, /^Subject: mbox check$/m);
      assert.ok(
        entries[0].message.endsWith("\n\nFrom the start of a line\n>From quoted once\nend"),
        entries[0].message,
      );
      const byDefault = await call("GET", "/api/v1/account/mbox", { basic });
      assert.equal(byDefault.text, mbox.text, "INBOX by default");
      assertError(
        await call("GET", "/api/v1/account/mbox?mailbox=Nope", { basic }),
        404,
        "mailbox",
      );

      const profile = await call("GET", "/api/v1/account/mobileconfig", { basic });
      assert.equal(profile.status, 200, profile.text);
      assert.equal(profile.headers.get("content-type"), "application/x-apple-aspen-config");
      assert.doesNotMatch(profile.text, new RegExp(ALICE.password));
      const plist = await runPython<{ PayloadContent: Record<string, unknown>[] }>(
        "import json, plistlib, sys\n" +
          "print(json.dumps(plistlib.loads(json.load(sys.stdin).encode(), fmt=plistlib.FMT_XML)))",
        profile.text,
      );
      const [payload] = plist.PayloadContent;
      assert.equal(payload.EmailAddress, ALICE.user);
      assert.equal(payload.IncomingMailServerUsername, ALICE.user);
      assert.equal(payload.IncomingMailServerPortNumber, server.addresses.imap.port);
      assert.equal(payload.OutgoingMailServerPortNumber, server.addresses.submission.port);

      const bobs = await call("GET", "/api/v1/account", { bearer: bobToken });
      assert.equal(bobs.status, 200, bobs.text);
      assert.equal((bobs.json() as { address: string }).address, BOB.user);
      assertError(await asAdmin("GET", "/api/v1/account"), 403);
    },
  );

  await t.step("send: a user sends as themself (202), not as someone else (403)", async () => {
    const r = await call("POST", "/api/v1/send", {
      bearer: bobToken,
      json: { from: `Bob <${BOB.user}>`, to: [ALICE.user], subject: "via the API", text: "Hi" },
    });
    assert.equal(r.status, 202, r.text);
    const sent = documented(r, "POST", "/api/v1/send") as { messageId: string };
    assert.match(sent.messageId, /^<[^<>@\s]+@[^<>@\s]+>$/);
    const account = (await call("GET", "/api/v1/account", { basic: [ALICE.user, ALICE.password] }))
      .json() as { mailboxes: { name: string; messages: number }[] };
    assert.equal(account.mailboxes.find((m) => m.name === "INBOX")?.messages, 2);
    // Bob's Sent copy has no Return-Path: its mbox From line takes the address in From.
    const sentBox = await call("GET", "/api/v1/account/mbox?mailbox=Sent", { bearer: bobToken });
    assert.equal(sentBox.status, 200, sentBox.text);
    const [copy] = parseMboxrd(sentBox.text);
    assert.match(copy.from, new RegExp(`^From ${BOB.user.replace(/\./g, "\\.")} `));
    assertError(
      await call("POST", "/api/v1/send", {
        bearer: bobToken,
        json: { from: ALICE.user, to: [ALICE.user], subject: "forged" },
      }),
      403,
      "from",
    );
  });

  await t.step("stats: the live figures agree with the CLI", async () => {
    const r = await asAdmin("GET", "/api/v1/stats");
    assert.equal(r.status, 200, r.text);
    const stats = documented(r, "GET", "/api/v1/stats") as Record<string, unknown>;
    assert.equal(stats.users, lines(await cli(server, ["user", "list"])).length);
    assert.equal(stats.domains, lines(await cli(server, ["domain", "list"])).length);
    assert.deepEqual(stats.queue, { messages: 0, oldestAgeSeconds: 0 });
    assert.ok((stats.acceptedSinceStart as number) >= 3, `three messages accepted: ${r.text}`);
    assert.ok((stats.messagesToday as number) >= 2, r.text);
  });

  await t.step("session: sign in, who am I, sign out", async () => {
    const r = await call("POST", "/api/v1/session", {
      json: { address: BOB.user, password: BOB.password },
    });
    assert.equal(r.status, 201, r.text);
    const { csrfToken } = documented(r, "POST", "/api/v1/session") as { csrfToken: string };
    const session = /postino_session=([^;]*)/.exec(r.headers.get("set-cookie") ?? "")?.[1];
    assert.ok(session, r.headers.get("set-cookie") ?? "no Set-Cookie");
    const me = await call("GET", "/api/v1/session", { session });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(documented(me, "GET", "/api/v1/session"), {
      address: BOB.user,
      admin: false,
      csrfToken,
    });
    const out = await call("DELETE", "/api/v1/session", { session, csrf: csrfToken });
    assert.equal(out.status, 204, out.text);
  });

  await t.step("every operation of the document has been answered with a 2xx", () => {
    const missing = operations(doc).map(([m, p]) => `${m} ${p}`).filter((o) => !covered.has(o));
    assert.deepEqual(missing, []);
  });

  await t.step("nothing above made the server log a failed handler", () => {
    const failures = server.entries().filter((e) => /HTTP handler failed/.test(e.message));
    assert.deepEqual(failures.map((e) => e.properties), []);
  });
});
