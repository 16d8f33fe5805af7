import assert from "node:assert/strict";
import {
  appleMobileconfig,
  AUTODISCOVER_REQUEST_LIMIT,
  type MailEndpoints,
  outlookAutodiscover,
  parseAutodiscoverRequest,
  thunderbirdConfig,
} from "./autoconfig.ts";

/** Python's own parsers read what we write: ElementTree for XML, plistlib for profiles. */
const READERS = {
  etree: `
import json, sys, xml.etree.ElementTree as ET
def tree(e):
    return {"tag": e.tag, "attrib": e.attrib, "text": e.text or "", "children": [tree(c) for c in e]}
print(json.dumps(tree(ET.fromstring(sys.stdin.buffer.read()))))
`,
  plist: `
import json, plistlib, sys
print(json.dumps(plistlib.loads(sys.stdin.buffer.read(), fmt=plistlib.FMT_XML)))
`,
};

/** An XML element as Python's ElementTree sees it; namespaced tags are `{uri}local`. */
interface XmlNode {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: XmlNode[];
}

/** Runs one of {@link READERS} on `text` and gives back what it printed, parsed. */
async function python(reader: keyof typeof READERS, text: string): Promise<unknown> {
  const child = new Deno.Command("python3", {
    args: ["-c", READERS[reader]],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, `python3 could not read the document: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** The only child of `node` with tag `tag`. */
function only(node: XmlNode, tag: string): XmlNode {
  const found = node.children.filter((c) => c.tag === tag);
  assert.equal(found.length, 1, `exactly one ${tag} in ${node.tag}`);
  return found[0];
}

/** The leaf children of `node` as tag → text. */
function leaves(node: XmlNode, ns = ""): Record<string, string> {
  return Object.fromEntries(
    node.children.filter((c) => c.children.length === 0).map((
      c,
    ) => [c.tag.slice(ns.length), c.text]),
  );
}

const HOST = "mail.example.com";
const ALL: MailEndpoints = {
  hostname: HOST,
  imaps: 993,
  imap: 143,
  pop3s: 995,
  pop3: 110,
  submissions: 465,
  submission: 587,
};
const HOSTILE_ADDRESS = `a<&">'b@example.com`;
const HOSTILE_TEXT = `Ex & "Co" <'mail'> ]]> &amp;`;

// thunderbirdConfig()

const THUNDERBIRD: {
  name: string;
  endpoints: MailEndpoints;
  incoming: string[];
  outgoing: string[];
}[] = [
  {
    name: "every listener, implicit TLS first",
    endpoints: ALL,
    incoming: ["imap 993 SSL", "imap 143 STARTTLS", "pop3 995 SSL", "pop3 110 STARTTLS"],
    outgoing: ["smtp 465 SSL", "smtp 587 STARTTLS"],
  },
  {
    name: "STARTTLS ports only",
    endpoints: { hostname: HOST, imap: 143, submission: 587 },
    incoming: ["imap 143 STARTTLS"],
    outgoing: ["smtp 587 STARTTLS"],
  },
  {
    name: "POP3 only, with implicit-TLS submission",
    endpoints: { hostname: HOST, pop3s: 995, submissions: 465 },
    incoming: ["pop3 995 SSL"],
    outgoing: ["smtp 465 SSL"],
  },
  {
    name: "non-standard ports",
    endpoints: { hostname: HOST, imaps: 10993, pop3: 10110, submission: 10587 },
    incoming: ["imap 10993 SSL", "pop3 10110 STARTTLS"],
    outgoing: ["smtp 10587 STARTTLS"],
  },
  { name: "nothing running", endpoints: { hostname: HOST }, incoming: [], outgoing: [] },
];

/** A server element as `type port socketType`, after checking what every server shares. */
function thunderbirdServer(server: XmlNode, hostname: string): string {
  const v = leaves(server);
  assert.deepEqual(Object.keys(v).sort(), [
    "authentication",
    "hostname",
    "port",
    "socketType",
    "username",
  ]);
  assert.equal(v.hostname, hostname);
  assert.equal(v.username, "%EMAILADDRESS%");
  assert.equal(v.authentication, "password-cleartext");
  return `${server.attrib.type} ${v.port} ${v.socketType}`;
}

for (const { name, endpoints, incoming, outgoing } of THUNDERBIRD) {
  Deno.test(`thunderbirdConfig() lists only listening ports: ${name}`, async () => {
    const root = await python("etree", thunderbirdConfig("example.com", endpoints)) as XmlNode;
    assert.equal(root.tag, "clientConfig");
    assert.equal(root.attrib.version, "1.1");
    const provider = only(root, "emailProvider");
    assert.equal(provider.attrib.id, "example.com");
    assert.equal(only(provider, "domain").text, "example.com");
    assert.equal(only(provider, "displayName").text, "example.com", "the domain by default");
    const servers = (tag: string) =>
      provider.children.filter((c) => c.tag === tag).map((s) => thunderbirdServer(s, HOST));
    assert.deepEqual(servers("incomingServer"), incoming);
    assert.deepEqual(servers("outgoingServer"), outgoing);
    const order = provider.children.map((c) => c.tag).filter((t) => t.endsWith("Server"));
    assert.deepEqual(order, [...order].sort(), "incoming servers before outgoing ones");
  });
}

Deno.test("thunderbirdConfig() escapes hostile values so they parse back exactly", async () => {
  const domain = `ex<&"'>.com`;
  const hostname = `mail<&"'>.example.com`;
  const text = thunderbirdConfig(domain, { hostname, imaps: 993, submissions: 465 }, {
    displayName: HOSTILE_TEXT,
  });
  for (const raw of [domain, hostname, HOSTILE_TEXT]) assert.ok(!text.includes(raw), raw);
  assert.doesNotMatch(text, /'/, "apostrophes escaped too");
  const provider = only(await python("etree", text) as XmlNode, "emailProvider");
  assert.equal(provider.attrib.id, domain);
  assert.equal(only(provider, "domain").text, domain);
  assert.equal(only(provider, "displayName").text, HOSTILE_TEXT);
  assert.equal(thunderbirdServer(only(provider, "incomingServer"), hostname), "imap 993 SSL");
  assert.equal(thunderbirdServer(only(provider, "outgoingServer"), hostname), "smtp 465 SSL");
});

Deno.test("thunderbirdConfig() replaces characters XML cannot carry", async () => {
  const text = thunderbirdConfig("example.com", { hostname: HOST }, {
    displayName: "a\u0001b\uFFFEc\td",
  });
  const provider = only(await python("etree", text) as XmlNode, "emailProvider");
  assert.equal(only(provider, "displayName").text, "a\uFFFDb\uFFFDc\td");
});

// parseAutodiscoverRequest()

const REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const RESPONSE_2006A =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
const MOBILESYNC_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006";

/** A request body as Outlook sends it, with `address` in place. */
function outlookRequest(address: string, declaration = true): string {
  return (declaration ? '<?xml version="1.0" encoding="utf-8"?>\r\n' : "") +
    `<Autodiscover xmlns="${REQUEST_NS}">\r\n` +
    "  <Request>\r\n" +
    `    <EMailAddress>${address}</EMailAddress>\r\n` +
    `    <AcceptableResponseSchema>${RESPONSE_2006A}</AcceptableResponseSchema>\r\n` +
    "  </Request>\r\n" +
    "</Autodiscover>\r\n";
}

const LAUGHS = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' +
  ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n' +
  `<Autodiscover xmlns="${REQUEST_NS}"><Request><EMailAddress>&lol2;@example.com` +
  "</EMailAddress></Request></Autodiscover>";

const AUTODISCOVER_REQUESTS: [string, string, string | undefined][] = [
  ["Outlook's request", outlookRequest("user@example.com"), "user@example.com"],
  ["no XML declaration", outlookRequest("user@example.com", false), "user@example.com"],
  ["a byte order mark", "\uFEFF" + outlookRequest("user@example.com"), "user@example.com"],
  ["mixed case, normalised", outlookRequest(" User@Example.COM\n"), "user@example.com"],
  [
    "a namespace prefix",
    `<a:Autodiscover xmlns:a="${REQUEST_NS}"><a:Request><a:EMailAddress>user@example.com` +
    "</a:EMailAddress></a:Request></a:Autodiscover>",
    "user@example.com",
  ],
  [
    "no namespace",
    "<Autodiscover><Request><EMailAddress>user@example.com</EMailAddress></Request></Autodiscover>",
    "user@example.com",
  ],
  [
    "single quotes, comments and a CDATA section",
    `<Autodiscover xmlns='${REQUEST_NS}'><!-- hi --><Request><EMailAddress><![CDATA[user@` +
    "]]>example.com</EMailAddress></Request></Autodiscover>",
    "user@example.com",
  ],
  [
    "predefined entities",
    outlookRequest("o&apos;hara&amp;co@example.com"),
    "o'hara&co@example.com",
  ],
  ["character references", outlookRequest("&#x75;s&#101;r@example.com"), "user@example.com"],
  [
    "a mobilesync namespace",
    outlookRequest("user@example.com").replace(REQUEST_NS, MOBILESYNC_NS),
    undefined,
  ],
  [
    "a Request in another namespace than the root",
    `<a:Autodiscover xmlns:a="${REQUEST_NS}"><Request><EMailAddress>user@example.com` +
    "</EMailAddress></Request></a:Autodiscover>",
    undefined,
  ],
  [
    "another response schema asked for",
    outlookRequest("user@example.com").replace(
      RESPONSE_2006A,
      RESPONSE_2006A.replace("outlook", "mobilesync"),
    ),
    undefined,
  ],
  [
    "no AcceptableResponseSchema",
    outlookRequest("user@example.com").replace(/ *<AcceptableResponseSchema>.*\r\n/, ""),
    "user@example.com",
  ],
  ["no EMailAddress", outlookRequest("x").replace(/ *<EMailAddress>.*\r\n/, ""), undefined],
  ["an empty EMailAddress", outlookRequest(""), undefined],
  ["not an address", outlookRequest("user"), undefined],
  ["an escaped angle bracket in the address", outlookRequest("a&lt;b@example.com"), undefined],
  ["an element inside EMailAddress", outlookRequest("<b>user@example.com</b>"), undefined],
  [
    "two EMailAddress elements",
    outlookRequest("a@example.com</EMailAddress><EMailAddress>b@example.com"),
    undefined,
  ],
  ["an undeclared entity", outlookRequest("&lol;@example.com"), undefined],
  ["a reference to NUL", outlookRequest("&#0;user@example.com"), undefined],
  ["a DOCTYPE with ENTITY declarations", LAUGHS, undefined],
  [
    "an external entity",
    '<!DOCTYPE Autodiscover SYSTEM "file:///etc/passwd">' +
    outlookRequest("user@example.com", false),
    undefined,
  ],
  [
    "a bare ENTITY declaration",
    '<!ENTITY x "y">' + outlookRequest("user@example.com", false),
    undefined,
  ],
  ["a lower-case doctype", "<!doctype x>" + outlookRequest("user@example.com", false), undefined],
  [
    "an oversize body",
    outlookRequest("user@example.com").replace(
      "<Request>",
      `<!--${" ".repeat(AUTODISCOVER_REQUEST_LIMIT)}--><Request>`,
    ),
    undefined,
  ],
  [
    "a wrong root element",
    outlookRequest("user@example.com").replaceAll("Autodiscover", "Discover"),
    undefined,
  ],
  ["text after the root", outlookRequest("user@example.com") + "junk", undefined],
  ["a second root", outlookRequest("user@example.com") + "<Autodiscover/>", undefined],
  [
    "an unclosed root",
    outlookRequest("user@example.com").replace("</Autodiscover>", ""),
    undefined,
  ],
  [
    "a mismatched end tag",
    outlookRequest("user@example.com").replace("</Request>", "</request>"),
    undefined,
  ],
  ["an undeclared prefix", "<a:Autodiscover><a:Request/></a:Autodiscover>", undefined],
  ["deep nesting", "<a>".repeat(2000), undefined],
  ["an empty body", "", undefined],
  ["a bare address", "user@example.com", undefined],
  ["JSON", '{"EMailAddress":"user@example.com"}', undefined],
  ["angle-bracket garbage", "<<<>>></>/><!<?", undefined],
  ["control characters", "\u0000\u0001<\u0002>", undefined],
];

for (const [name, body, want] of AUTODISCOVER_REQUESTS) {
  Deno.test(`parseAutodiscoverRequest() with ${name}`, () => {
    assert.equal(parseAutodiscoverRequest(body), want);
  });
}

Deno.test("parseAutodiscoverRequest() accepts a body at the size limit and not one over", () => {
  const body = outlookRequest("user@example.com");
  const padded = (n: number) => body + " ".repeat(n - body.length);
  assert.equal(parseAutodiscoverRequest(padded(AUTODISCOVER_REQUEST_LIMIT)), "user@example.com");
  assert.equal(parseAutodiscoverRequest(padded(AUTODISCOVER_REQUEST_LIMIT + 1)), undefined);
  assert.equal(parseAutodiscoverRequest(`<a>${"<a>".repeat(5_000_000)}`), undefined);
});

// outlookAutodiscover()

const RESPONSE_NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}";
const ACCOUNT_NS = `{${RESPONSE_2006A}}`;

const OUTLOOK: { name: string; endpoints: MailEndpoints; protocols: string[] }[] = [
  {
    name: "every listener, implicit TLS preferred",
    endpoints: ALL,
    protocols: ["IMAP 993 SSL", "POP3 995 SSL", "SMTP 465 SSL"],
  },
  {
    name: "STARTTLS ports only",
    endpoints: { hostname: HOST, imap: 143, pop3: 110, submission: 587 },
    protocols: ["IMAP 143 TLS", "POP3 110 TLS", "SMTP 587 TLS"],
  },
  {
    name: "implicit-TLS IMAP, STARTTLS submission",
    endpoints: { hostname: HOST, imap: 143, imaps: 993, submission: 587 },
    protocols: ["IMAP 993 SSL", "SMTP 587 TLS"],
  },
  {
    name: "POP3 only",
    endpoints: { hostname: HOST, pop3s: 995, submissions: 465 },
    protocols: ["POP3 995 SSL", "SMTP 465 SSL"],
  },
  { name: "nothing running", endpoints: { hostname: HOST }, protocols: [] },
];

/** The Protocol elements of an autodiscover response as `Type Port Encryption`, checked in common. */
async function outlookProtocols(
  text: string,
  address: string,
  hostname: string,
): Promise<string[]> {
  const root = await python("etree", text) as XmlNode;
  assert.equal(root.tag, `${RESPONSE_NS}Autodiscover`);
  const account = only(only(root, `${ACCOUNT_NS}Response`), `${ACCOUNT_NS}Account`);
  const fields = leaves(account, ACCOUNT_NS);
  assert.equal(fields.AccountType, "email");
  assert.equal(fields.Action, "settings");
  return account.children.filter((c) => c.tag === `${ACCOUNT_NS}Protocol`).map((protocol) => {
    const v = leaves(protocol, ACCOUNT_NS);
    assert.equal(v.Server, hostname);
    assert.equal(v.LoginName, address);
    assert.equal(v.SPA, "off");
    assert.equal(v.AuthRequired, "on");
    assert.equal(v.SSL, "on");
    assert.equal(v.DomainRequired, "off");
    return `${v.Type} ${v.Port} ${v.Encryption}`;
  });
}

for (const { name, endpoints, protocols } of OUTLOOK) {
  Deno.test(`outlookAutodiscover() offers one port per protocol: ${name}`, async () => {
    const text = outlookAutodiscover("user@example.com", endpoints);
    assert.deepEqual(await outlookProtocols(text, "user@example.com", HOST), protocols);
  });
}

Deno.test("outlookAutodiscover() escapes hostile values so they parse back exactly", async () => {
  const hostname = `mail<&"'>.example.com`;
  const text = outlookAutodiscover(HOSTILE_ADDRESS, { hostname, imaps: 993, submissions: 465 });
  assert.ok(!text.includes(HOSTILE_ADDRESS) && !text.includes(hostname));
  assert.doesNotMatch(text, /'/, "apostrophes escaped too");
  assert.deepEqual(await outlookProtocols(text, HOSTILE_ADDRESS, hostname), [
    "IMAP 993 SSL",
    "SMTP 465 SSL",
  ]);
});

Deno.test("outlookAutodiscover() answers what parseAutodiscoverRequest() found", async () => {
  const address = parseAutodiscoverRequest(outlookRequest("o&apos;hara&amp;co@example.com"));
  assert.equal(address, "o'hara&co@example.com");
  const text = outlookAutodiscover(address, { hostname: HOST, imaps: 993, submission: 587 });
  assert.deepEqual(await outlookProtocols(text, address, HOST), ["IMAP 993 SSL", "SMTP 587 TLS"]);
});

// appleMobileconfig()

type Plist = Record<string, unknown>;
const UUID_V4 = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;

/** The profile and its one mail payload, after checking what every profile shares. */
async function readProfile(text: string): Promise<{ profile: Plist; mail: Plist }> {
  const profile = await python("plist", text) as Plist;
  assert.equal(profile.PayloadType, "Configuration");
  assert.equal(profile.PayloadVersion, 1);
  assert.match(String(profile.PayloadUUID), UUID_V4);
  const content = profile.PayloadContent as Plist[];
  assert.equal(content.length, 1);
  const mail = content[0];
  assert.equal(mail.PayloadType, "com.apple.mail.managed");
  assert.equal(mail.PayloadVersion, 1);
  assert.match(String(mail.PayloadUUID), UUID_V4);
  assert.notEqual(mail.PayloadUUID, profile.PayloadUUID);
  assert.notEqual(mail.PayloadIdentifier, profile.PayloadIdentifier);
  assert.equal(mail.IncomingMailServerAuthentication, "EmailAuthPassword");
  assert.equal(mail.OutgoingMailServerAuthentication, "EmailAuthPassword");
  assert.equal(mail.IncomingMailServerUseSSL, true);
  assert.equal(mail.OutgoingMailServerUseSSL, true);
  assert.equal(mail.OutgoingPasswordSameAsIncomingPassword, true);
  const passwords = Object.keys(mail).filter((k) => /password/i.test(k));
  assert.deepEqual(
    passwords,
    ["OutgoingPasswordSameAsIncomingPassword"],
    "no password is included",
  );
  return { profile, mail };
}

const APPLE: { name: string; endpoints: MailEndpoints; want: string }[] = [
  { name: "every listener, implicit TLS preferred", endpoints: ALL, want: "EmailTypeIMAP 993 465" },
  {
    name: "STARTTLS ports only",
    endpoints: { hostname: HOST, imap: 143, submission: 587 },
    want: "EmailTypeIMAP 143 587",
  },
  {
    name: "POP3 when no IMAP runs",
    endpoints: { hostname: HOST, pop3: 110, pop3s: 995, submission: 587 },
    want: "EmailTypePOP 995 587",
  },
];

for (const { name, endpoints, want } of APPLE) {
  Deno.test(`appleMobileconfig() sets up one account: ${name}`, async () => {
    const { profile, mail } = await readProfile(
      await appleMobileconfig("user@example.com", endpoints),
    );
    assert.equal(profile.PayloadRemovalDisallowed, false);
    assert.equal(mail.EmailAddress, "user@example.com");
    assert.equal(mail.IncomingMailServerUsername, "user@example.com");
    assert.equal(mail.OutgoingMailServerUsername, "user@example.com");
    assert.equal(mail.IncomingMailServerHostName, HOST);
    assert.equal(mail.OutgoingMailServerHostName, HOST);
    assert.equal(mail.EmailAccountDescription, "example.com", "the domain by default");
    assert.equal(
      `${mail.EmailAccountType} ${mail.IncomingMailServerPortNumber} ${mail.OutgoingMailServerPortNumber}`,
      want,
    );
    assert.match(
      String(profile.PayloadIdentifier),
      /^com\.example\.mail\.postino\.mail\.[0-9a-f-]{36}$/,
    );
  });
}

Deno.test("appleMobileconfig() derives identifiers from the address and host name only", async () => {
  const ids = async (address: string, hostname: string, displayName?: string) => {
    const endpoints = { hostname, imaps: 993, submissions: 465 };
    const { profile, mail } = await readProfile(
      await appleMobileconfig(address, endpoints, { displayName }),
    );
    return [
      profile.PayloadUUID,
      mail.PayloadUUID,
      profile.PayloadIdentifier,
      mail.PayloadIdentifier,
    ];
  };
  const first = await ids("user@example.com", HOST);
  assert.deepEqual(
    await ids("user@example.com", HOST, "Other name"),
    first,
    "stable across downloads",
  );
  for (
    const other of [
      await ids("other@example.com", HOST),
      await ids("user@example.com", "mx.example.com"),
    ]
  ) {
    for (const [i, id] of other.entries()) assert.notEqual(id, first[i]);
  }
});

Deno.test("appleMobileconfig() escapes hostile values so they parse back exactly", async () => {
  const hostname = `mail<&"'>.example.com`;
  const text = await appleMobileconfig(HOSTILE_ADDRESS, { hostname, imaps: 993, submission: 587 }, {
    displayName: HOSTILE_TEXT,
  });
  for (const raw of [HOSTILE_ADDRESS, hostname, HOSTILE_TEXT]) assert.ok(!text.includes(raw), raw);
  assert.doesNotMatch(text, /'/, "apostrophes escaped too");
  const { mail } = await readProfile(text);
  assert.equal(mail.EmailAddress, HOSTILE_ADDRESS);
  assert.equal(mail.IncomingMailServerUsername, HOSTILE_ADDRESS);
  assert.equal(mail.IncomingMailServerHostName, hostname);
  assert.equal(mail.OutgoingMailServerHostName, hostname);
  assert.equal(mail.EmailAccountDescription, HOSTILE_TEXT);
});

const INCOMPLETE: [string, MailEndpoints, RegExp][] = [
  ["no IMAP or POP3", { hostname: HOST, submissions: 465 }, /no IMAP or POP3 listener/],
  ["no submission", { hostname: HOST, imaps: 993, pop3s: 995 }, /no submission listener/],
];

for (const [name, endpoints, message] of INCOMPLETE) {
  Deno.test(`appleMobileconfig() refuses endpoints with ${name}`, async () => {
    await assert.rejects(appleMobileconfig("user@example.com", endpoints), message);
  });
}
