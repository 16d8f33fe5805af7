/**
 * What mail clients and other mail servers fetch over HTTP without
 * credentials, against the real `postino serve`: Thunderbird autoconfig and
 * Outlook autodiscover (parsed with Python's xml.etree) naming the host name
 * and exactly the listeners that run; the MTA-STS policy (RFC 8461 §3.2)
 * only for `Host: mta-sts.<local domain>`; /healthz; and the OpenAPI
 * document covering every route of the API table in DESIGN.md.
 */
import assert from "node:assert/strict";
import {
  childrenNamed,
  childText,
  httpRequest,
  parseXml,
  type XmlNode,
} from "./support/http_probe.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const HOSTNAME = "mail.postino.test";
const LISTENERS = [
  "--http",
  "127.0.0.1:0",
  "--imap",
  "127.0.0.1:0",
  "--imaps",
  "127.0.0.1:0",
  "--pop3s",
  "127.0.0.1:0",
  "--submission",
  "127.0.0.1:0",
  "--submissions",
  "127.0.0.1:0",
  "--pop3",
  "off",
];

const REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/** The request body Outlook (2007 to 2019, POX) posts. */
function outlookRequest(address: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>\r\n` +
    `<Autodiscover xmlns="${REQUEST_NS}">\r\n` +
    `  <Request>\r\n` +
    `    <EMailAddress>${address}</EMailAddress>\r\n` +
    `    <AcceptableResponseSchema>${OUTLOOK_NS}</AcceptableResponseSchema>\r\n` +
    `  </Request>\r\n` +
    `</Autodiscover>\r\n`;
}

async function start(env?: Record<string, string>): Promise<RunningPostino> {
  const server = await startPostino({
    args: ["--dev", "--hostname", HOSTNAME, ...LISTENERS],
    env,
  });
  try {
    const r = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw-a\n");
    assert.equal(r.code, 0, r.stderr);
    return server;
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

/** A server's mail listener port, asserting that it runs. */
function port(server: RunningPostino, listener: string): number {
  const address = server.addresses[listener];
  assert.ok(address, `the ${listener} listener runs: ${JSON.stringify(server.addresses)}`);
  return address.port;
}

/** The servers of a Thunderbird config as comparable strings: `in imap 993 SSL`. */
function thunderbirdServers(config: XmlNode): { list: string[]; nodes: XmlNode[] } {
  assert.equal(config.tag, "clientConfig");
  assert.equal(config.attrib.version, "1.1");
  const providers = childrenNamed(config, "emailProvider");
  assert.equal(providers.length, 1, "one emailProvider");
  const provider = providers[0];
  const nodes = [
    ...childrenNamed(provider, "incomingServer"),
    ...childrenNamed(provider, "outgoingServer"),
  ];
  const list = nodes.map((n) =>
    `${n.tag === "incomingServer" ? "in" : "out"} ${n.attrib.type} ${childText(n, "port")} ${
      childText(n, "socketType")
    }`
  );
  return { list, nodes };
}

/** The status and policy lines of the MTA-STS answer for `host`. */
async function mtaSts(server: RunningPostino, host: string) {
  const r = await httpRequest(port(server, "http"), { path: "/.well-known/mta-sts.txt", host });
  return r;
}

/**
 * Checks an MTA-STS policy body against RFC 8461 §3.2: key/value pairs, one
 * per line (CRLF or LF), "version: STSv1" first, then exactly the wanted
 * fields; gives the lines.
 */
function checkPolicy(text: string, want: { mode: string; mx: string[]; maxAge: number }) {
  assert.ok(/\r?\n$/.test(text), `the policy ends with a line end: ${JSON.stringify(text)}`);
  const lines = text.replace(/\r?\n$/, "").split(/\r?\n/);
  assert.equal(lines[0], "version: STSv1", "version first");
  for (const line of lines) {
    // sts-policy-field = sts-policy-name *WSP ":" *WSP sts-policy-value; no stray white space.
    assert.match(line, /^[A-Za-z0-9_]{1,32}: [\x21-\x7e]+$/, `a policy line: ${line}`);
  }
  assert.deepEqual(lines, [
    "version: STSv1",
    `mode: ${want.mode}`,
    ...want.mx.map((h) => `mx: ${h}`),
    `max_age: ${want.maxAge}`,
  ]);
  return lines;
}

Deno.test("autoconfig, autodiscover, MTA-STS, health and OpenAPI over HTTP", async (t) => {
  await using server = await start();
  const http = port(server, "http");
  const ports = {
    imap: port(server, "imap"),
    imaps: port(server, "imaps"),
    pop3s: port(server, "pop3s"),
    submission: port(server, "submission"),
    submissions: port(server, "submissions"),
  };

  await t.step("the listeners are the ones asked for, POP3 plain off", () => {
    assert.deepEqual(
      Object.keys(server.addresses).sort(),
      ["http", "imap", "imaps", "pop3s", "submission", "submissions"],
    );
  });

  const expected = [
    `in imap ${ports.imaps} SSL`,
    `in imap ${ports.imap} STARTTLS`,
    `in pop3 ${ports.pop3s} SSL`,
    `out smtp ${ports.submissions} SSL`,
    `out smtp ${ports.submission} STARTTLS`,
  ];

  for (
    const path of [
      "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@localhost",
      "/mail/config-v1.1.xml?emailaddress=alice@localhost",
      "/mail/config-v1.1.xml?emailaddress=alice%40localhost",
    ]
  ) {
    await t.step(`Thunderbird autoconfig at ${path}`, async () => {
      const r = await httpRequest(http, { path });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers["content-type"] ?? "", /^(application|text)\/xml\b/);
      const config = await parseXml(r.text);
      const provider = childrenNamed(config, "emailProvider")[0];
      assert.equal(provider?.attrib.id, "localhost");
      assert.deepEqual(childrenNamed(provider, "domain").map((d) => d.text), ["localhost"]);
      const { list, nodes } = thunderbirdServers(config);
      assert.deepEqual([...list].sort(), [...expected].sort(), `servers:\n${list.join("\n")}`);
      assert.ok(!list.some((s) => s.startsWith("in pop3") && s.endsWith("STARTTLS")), "no POP3");
      for (const n of nodes) {
        assert.equal(childText(n, "hostname"), HOSTNAME);
        assert.equal(childText(n, "username"), "%EMAILADDRESS%");
        assert.equal(childText(n, "authentication"), "password-cleartext");
      }
      // Implicit TLS first in each direction (RFC 8314 §3): clients take the first that works.
      assert.equal(list[0], `in imap ${ports.imaps} SSL`);
      assert.equal(list.find((s) => s.startsWith("out")), `out smtp ${ports.submissions} SSL`);
    });
  }

  await t.step("autoconfig found by the autoconfig.<domain> Host alone", async () => {
    const r = await httpRequest(http, {
      path: "/mail/config-v1.1.xml",
      host: "autoconfig.localhost",
    });
    assert.equal(r.status, 200, r.text);
    const { list } = thunderbirdServers(await parseXml(r.text));
    assert.deepEqual([...list].sort(), [...expected].sort());
  });

  await t.step("autoconfig for an address in a domain that is not ours is 404", async () => {
    for (
      const path of [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@remote.example",
        "/mail/config-v1.1.xml?emailaddress=someone@example.com",
        "/mail/config-v1.1.xml?emailaddress=not-an-address",
      ]
    ) {
      const r = await httpRequest(http, { path });
      assert.equal(r.status, 404, `${path}: ${r.status} ${r.text}`);
    }
  });

  await t.step("Outlook autodiscover names IMAP, POP3 and SMTP with the right ports", async () => {
    for (const path of ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]) {
      const r = await httpRequest(http, {
        method: "POST",
        path,
        headers: { "Content-Type": "text/xml", "User-Agent": "Microsoft Office/16.0" },
        body: outlookRequest("alice@localhost"),
      });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      const doc = await parseXml(r.text);
      assert.equal(doc.tag, `{${RESPONSE_NS}}Autodiscover`);
      const response = childrenNamed(doc, "Response");
      assert.equal(response.length, 1);
      assert.equal(response[0].tag, `{${OUTLOOK_NS}}Response`);
      const account = childrenNamed(response[0], "Account")[0];
      assert.ok(account, "an Account");
      assert.equal(childText(account, "AccountType"), "email");
      assert.equal(childText(account, "Action"), "settings");
      const protocols = childrenNamed(account, "Protocol").map((p) => ({
        type: childText(p, "Type"),
        server: childText(p, "Server"),
        port: Number(childText(p, "Port")),
        login: childText(p, "LoginName"),
        ssl: childText(p, "SSL"),
        encryption: childrenNamed(p, "Encryption")[0]?.text,
      }));
      assert.deepEqual(
        protocols.map((p) => `${p.type} ${p.port}`).sort(),
        [`IMAP ${ports.imaps}`, `POP3 ${ports.pop3s}`, `SMTP ${ports.submissions}`].sort(),
      );
      for (const p of protocols) {
        assert.equal(p.server, HOSTNAME);
        assert.equal(p.login, "alice@localhost");
        assert.equal(p.ssl, "on");
        assert.equal(p.encryption, "SSL", `${p.type} on an implicit-TLS port`);
      }
      assert.doesNotMatch(r.text, /Password/i, "no password in the answer");
    }
  });

  await t.step("autodiscover refuses garbage, DTDs and entities with a 4xx", async () => {
    const bodies = {
      garbage: "this is not XML at all \u0000\u00ff",
      empty: "",
      "unclosed": `<Autodiscover xmlns="${REQUEST_NS}"><Request><EMailAddress>alice@localhost`,
      "external entity": `<?xml version="1.0"?>\n` +
        `<!DOCTYPE Autodiscover [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n` +
        outlookRequest("&xxe;").replace(/^<\?xml[^>]*>\r\n/, ""),
      "entity expansion": `<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY a "alice@localhost">` +
        `<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n` +
        outlookRequest("&a;").replace(/^<\?xml[^>]*>\r\n/, ""),
      "doctype only": `<!DOCTYPE html><html><body>hi</body></html>`,
      "wrong root": `<Autodiscovery xmlns="${REQUEST_NS}"><Request><EMailAddress>` +
        `alice@localhost</EMailAddress></Request></Autodiscovery>`,
      "json": JSON.stringify({ EMailAddress: "alice@localhost" }),
    };
    for (const [what, body] of Object.entries(bodies)) {
      const r = await httpRequest(http, {
        method: "POST",
        path: "/autodiscover/autodiscover.xml",
        headers: { "Content-Type": "text/xml" },
        body,
      });
      assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${r.text}`);
      assert.doesNotMatch(r.text, /root:|<Protocol>/, `${what}: nothing leaks`);
    }
    const big = await httpRequest(http, {
      method: "POST",
      path: "/autodiscover/autodiscover.xml",
      headers: { "Content-Type": "text/xml" },
      body: outlookRequest("alice@localhost").replace(
        "<Request>",
        `<Request><!--${"x".repeat(100_000)}-->`,
      ),
    });
    assert.ok(big.status >= 400 && big.status < 500, `a 100 kB body: ${big.status}`);
  });

  await t.step("autodiscover for an address that is not ours is 404", async () => {
    const r = await httpRequest(http, {
      method: "POST",
      path: "/autodiscover/autodiscover.xml",
      headers: { "Content-Type": "text/xml" },
      body: outlookRequest("someone@remote.example"),
    });
    assert.equal(r.status, 404, r.text);
  });

  await t.step("MTA-STS policy for mta-sts.localhost (RFC 8461 §3.2)", async () => {
    for (
      const host of ["mta-sts.localhost", `mta-sts.localhost:${http}`, "MTA-STS.LocalHost"]
    ) {
      const r = await mtaSts(server, host);
      assert.equal(r.status, 200, `${host}: ${r.text}`);
      assert.match(r.headers["content-type"] ?? "", /^text\/plain(;|$)/, host);
      checkPolicy(r.text, { mode: "testing", mx: [HOSTNAME], maxAge: 604800 });
    }
  });

  await t.step("MTA-STS for a domain added with `domain add` while running", async () => {
    const before = await mtaSts(server, "mta-sts.example.org");
    assert.equal(before.status, 404, "not ours yet");
    const r = await server.cli(["domain", "add", "example.org"]);
    assert.equal(r.code, 0, r.stderr);
    const after = await mtaSts(server, "mta-sts.example.org");
    assert.equal(after.status, 200, after.text);
    assert.match(after.headers["content-type"] ?? "", /^text\/plain(;|$)/);
    checkPolicy(after.text, { mode: "testing", mx: [HOSTNAME], maxAge: 604800 });
  });

  await t.step("MTA-STS for any other host is 404", async () => {
    for (
      const host of [
        `127.0.0.1:${http}`,
        "127.0.0.1",
        "mta-sts.unknown.example",
        "localhost",
        `localhost:${http}`,
        "mta-sts.",
        "mta-sts.mta-sts.localhost",
        "www.localhost",
      ]
    ) {
      const r = await mtaSts(server, host);
      assert.equal(r.status, 404, `Host: ${host} gave ${r.status} ${r.text}`);
      assert.doesNotMatch(r.text, /STSv1/, host);
    }
  });

  await t.step("/healthz is 200 {status: ok} while running", async () => {
    const r = await httpRequest(http, { path: "/healthz" });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers["content-type"] ?? "", /^application\/json/);
    assert.deepEqual(r.json(), { status: "ok" });
  });

  await t.step("the OpenAPI document lists every route of the API table", async () => {
    const r = await httpRequest(http, { path: "/api/v1/openapi.json" });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers["content-type"] ?? "", /^application\/json/);
    const doc = r.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(doc.openapi, "3.1.0");
    // DESIGN.md, "The API's resources".
    const routes: [string, string][] = [
      ["get", "/api/v1/domains"],
      ["post", "/api/v1/domains"],
      ["delete", "/api/v1/domains/{domain}"],
      ["get", "/api/v1/domains/{domain}/dns"],
      ["get", "/api/v1/users"],
      ["post", "/api/v1/users"],
      ["delete", "/api/v1/users/{address}"],
      ["put", "/api/v1/users/{address}/password"],
      ["get", "/api/v1/aliases"],
      ["post", "/api/v1/aliases"],
      ["delete", "/api/v1/aliases/{alias}"],
      ["get", "/api/v1/dkim"],
      ["post", "/api/v1/dkim"],
      ["get", "/api/v1/queue"],
      ["post", "/api/v1/queue/{id}/retry"],
      ["delete", "/api/v1/queue/{id}"],
      ["post", "/api/v1/send"],
    ];
    const missing = routes.filter(([method, path]) => !doc.paths?.[path]?.[method]);
    assert.deepEqual(missing, [], `missing from the OpenAPI paths: ${JSON.stringify(missing)}`);
    for (const [method, path] of routes) {
      const op = doc.paths[path][method] as { responses?: Record<string, unknown> };
      assert.ok(
        op.responses && Object.keys(op.responses).length > 0,
        `${method} ${path} has responses`,
      );
    }
  });
});

Deno.test("MTA-STS mode comes from POSTINO_MTA_STS_MODE", async () => {
  await using server = await start({ POSTINO_MTA_STS_MODE: "enforce" });
  const r = await mtaSts(server, "mta-sts.localhost");
  assert.equal(r.status, 200, r.text);
  checkPolicy(r.text, { mode: "enforce", mx: [HOSTNAME], maxAge: 604800 });
  const other = await mtaSts(server, "mta-sts.unknown.example");
  assert.equal(other.status, 404);
});
