import assert from "node:assert/strict";
import { dnsRecord, generateDkimKey } from "../security/dkim.ts";
import {
  type DnsRecord,
  type PublishInput,
  recordsToPublish,
  zoneLines,
} from "./records_to_publish.ts";

/** A record as the tables below write it: type, name, value, and whether it is required. */
type Row = [DnsRecord["type"], string, string, boolean];

function rows(records: DnsRecord[]): Row[] {
  return records.map((r) => [r.type, r.name, r.value, r.required]);
}

const DKIM_A = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const DKIM_B = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
const BASE: PublishInput = {
  domain: "example.com",
  hostname: "mail.example.com",
  dkim: [{ selector: "postino202611", record: DKIM_A }],
};

const MX: Row = ["MX", "example.com", "10 mail.example.com.", true];
const SPF: Row = ["TXT", "example.com", "v=spf1 mx -all", true];
const DKIM: Row = ["TXT", "postino202611._domainkey.example.com", DKIM_A, true];
const DMARC: Row = [
  "TXT",
  "_dmarc.example.com",
  "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com",
  true,
];
const TLSRPT: Row = [
  "TXT",
  "_smtp._tls.example.com",
  "v=TLSRPTv1; rua=mailto:postmaster@example.com",
  false,
];
const AUTOCONFIG: Row[] = [
  ["CNAME", "autoconfig.example.com", "mail.example.com.", false],
  ["CNAME", "autodiscover.example.com", "mail.example.com.", false],
];
const SRV: Row[] = [
  ["SRV", "_submissions._tcp.example.com", "0 1 465 mail.example.com.", false],
  ["SRV", "_submission._tcp.example.com", "0 1 587 mail.example.com.", false],
  ["SRV", "_imaps._tcp.example.com", "0 1 993 mail.example.com.", false],
  ["SRV", "_imap._tcp.example.com", "0 1 143 mail.example.com.", false],
  ["SRV", "_pop3s._tcp.example.com", "0 1 995 mail.example.com.", false],
  ["SRV", "_pop3._tcp.example.com", "0 1 110 mail.example.com.", false],
  ["SRV", "_autodiscover._tcp.example.com", "0 1 443 mail.example.com.", false],
];
const CLIENTS: Row[] = [...AUTOCONFIG, ...SRV];

const CASES: { name: string; input: PublishInput; want: Row[] }[] = [
  {
    name: "without IP addresses publishes no A/AAAA and an SPF of mx alone",
    input: BASE,
    want: [MX, SPF, DKIM, DMARC, TLSRPT, ...CLIENTS],
  },
  {
    name: "with IPv4 and IPv6 adds A, AAAA and ip4:/ip6: before mx",
    input: { ...BASE, ips: ["2001:DB8::25", "192.0.2.10", "192.0.2.11", "2001:db8::25"] },
    want: [
      ["A", "mail.example.com", "192.0.2.10", false],
      ["A", "mail.example.com", "192.0.2.11", false],
      ["AAAA", "mail.example.com", "2001:db8::25", false],
      MX,
      ["TXT", "example.com", "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 ip6:2001:db8::25 mx -all", true],
      DKIM,
      DMARC,
      TLSRPT,
      ...CLIENTS,
    ],
  },
  {
    name: "with several DKIM keys publishes each, in the order given",
    input: {
      ...BASE,
      dkim: [
        { selector: "postino202611", record: DKIM_A },
        { selector: "postino202612", record: DKIM_B },
      ],
    },
    want: [
      MX,
      SPF,
      DKIM,
      ["TXT", "postino202612._domainkey.example.com", DKIM_B, true],
      DMARC,
      TLSRPT,
      ...CLIENTS,
    ],
  },
  {
    name: "without DKIM keys publishes no DKIM record",
    input: { ...BASE, dkim: [] },
    want: [MX, SPF, DMARC, TLSRPT, ...CLIENTS],
  },
  {
    name: "with MTA-STS adds its TXT and CNAME after DMARC",
    input: { ...BASE, mtaStsPolicyId: "0123456789abcdef0123456789abcdef" },
    want: [
      MX,
      SPF,
      DKIM,
      DMARC,
      ["TXT", "_mta-sts.example.com", "v=STSv1; id=0123456789abcdef0123456789abcdef", false],
      ["CNAME", "mta-sts.example.com", "mail.example.com.", false],
      TLSRPT,
      ...CLIENTS,
    ],
  },
  {
    name: "with a report address sends DMARC and TLS-RPT reports there",
    input: { ...BASE, reportAddress: "dmarc+reports@reports.example.net" },
    want: [
      MX,
      SPF,
      DKIM,
      [
        "TXT",
        "_dmarc.example.com",
        "v=DMARC1; p=quarantine; rua=mailto:dmarc+reports@reports.example.net",
        true,
      ],
      [
        "TXT",
        "_smtp._tls.example.com",
        "v=TLSRPTv1; rua=mailto:dmarc+reports@reports.example.net",
        false,
      ],
      ...CLIENTS,
    ],
  },
  {
    name: "percent-encodes what would break the rua= list (RFC 7489 §6.4)",
    input: { ...BASE, reportAddress: '"a,b!c;d e%"@example.com' },
    want: [
      MX,
      SPF,
      DKIM,
      [
        "TXT",
        "_dmarc.example.com",
        "v=DMARC1; p=quarantine; rua=mailto:%22a%2Cb%21c%3Bd%20e%25%22@example.com",
        true,
      ],
      [
        "TXT",
        "_smtp._tls.example.com",
        "v=TLSRPTv1; rua=mailto:%22a%2Cb%21c%3Bd%20e%25%22@example.com",
        false,
      ],
      ...CLIENTS,
    ],
  },
  {
    name: "lower-cases names and drops a final dot",
    input: { ...BASE, domain: "Example.COM.", hostname: "MAIL.example.com." },
    want: [MX, SPF, DKIM, DMARC, TLSRPT, ...CLIENTS],
  },
  {
    name: "puts no CNAME where the host name itself is (RFC 1034 §3.6.2)",
    input: { ...BASE, hostname: "autoconfig.example.com", ips: ["192.0.2.10"] },
    want: [
      ["A", "autoconfig.example.com", "192.0.2.10", false],
      ["MX", "example.com", "10 autoconfig.example.com.", true],
      ["TXT", "example.com", "v=spf1 ip4:192.0.2.10 mx -all", true],
      DKIM,
      DMARC,
      TLSRPT,
      ["CNAME", "autodiscover.example.com", "autoconfig.example.com.", false],
      ...SRV.map((r): Row => [r[0], r[1], r[2].replace("mail.", "autoconfig."), r[3]]),
    ],
  },
];

for (const { name, input, want } of CASES) {
  Deno.test(`recordsToPublish() ${name}`, () => {
    assert.deepEqual(rows(recordsToPublish(input)), want);
  });
}

Deno.test("recordsToPublish() requires exactly MX, SPF, DKIM and DMARC", () => {
  const records = recordsToPublish({
    ...BASE,
    ips: ["192.0.2.10", "2001:db8::25"],
    mtaStsPolicyId: "abc",
  });
  const required = records.filter((r) => r.required).map((r) => r.value.split(/[ ;]/)[0]);
  assert.deepEqual(required, ["10", "v=spf1", "v=DKIM1", "v=DMARC1"]);
});

Deno.test("recordsToPublish() gives every record a one-sentence purpose", () => {
  const records = recordsToPublish({
    ...BASE,
    ips: ["192.0.2.10", "2001:db8::25"],
    mtaStsPolicyId: "abc",
  });
  for (const r of records) {
    assert.match(r.purpose, /^[A-Z][^]{9,100}\.$/, `${r.type} ${r.name}`);
    assert.doesNotMatch(r.purpose.slice(0, -1), /\. /, `one sentence: ${r.purpose}`);
  }
});

const INVALID: { name: string; input: PublishInput; message: RegExp }[] = [
  { name: "an empty domain", input: { ...BASE, domain: "" }, message: /Invalid domain: ""/ },
  {
    name: "a domain with a space",
    input: { ...BASE, domain: "exa mple.com" },
    message: /Invalid domain/,
  },
  {
    name: "a U-label domain",
    input: { ...BASE, domain: "bücher.example" },
    message: /Invalid domain/,
  },
  {
    name: "a host name with a slash",
    input: { ...BASE, hostname: "mail/x" },
    message: /Invalid host name/,
  },
  {
    name: "an IP address that is none",
    input: { ...BASE, ips: ["192.0.2.300"] },
    message: /Invalid IP address: "192.0.2.300"/,
  },
  {
    name: "an MTA-STS id with punctuation",
    input: { ...BASE, mtaStsPolicyId: "2026-11-01" },
    message: /Invalid MTA-STS policy id/,
  },
  {
    name: "an MTA-STS id longer than 32 characters",
    input: { ...BASE, mtaStsPolicyId: "a".repeat(33) },
    message: /Invalid MTA-STS policy id/,
  },
  {
    name: "a report address without a domain",
    input: { ...BASE, reportAddress: "postmaster@" },
    message: /Invalid report address/,
  },
  {
    name: "a DKIM selector that is not a DNS name",
    input: { ...BASE, dkim: [{ selector: "a;b", record: DKIM_A }] },
    message: /Invalid DKIM selector/,
  },
];

for (const { name, input, message } of INVALID) {
  Deno.test(`recordsToPublish() refuses ${name}`, () => {
    assert.throws(
      () => recordsToPublish(input),
      (e) => e instanceof RangeError && message.test(e.message),
    );
  });
}

// zoneLines()

/**
 * The character-strings of a zone-file TXT record's data, unescaped (RFC 1035
 * §5.1: `\X` is X, `\DDD` is the octet DDD), as octets; fails on anything but
 * quoted strings separated by single spaces.
 */
function parseTxtData(data: string): Uint8Array[] {
  const strings: Uint8Array[] = [];
  let i = 0;
  while (i < data.length) {
    if (strings.length > 0) assert.equal(data[i++], " ", `a space between strings in ${data}`);
    assert.equal(data[i++], '"', `a quoted string in ${data}`);
    const octets: number[] = [];
    while (data[i] !== '"') {
      assert.ok(i < data.length, `an unterminated string in ${data}`);
      const c = data[i++];
      assert.ok(c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) <= 0x7e, "printable ASCII only");
      if (c !== "\\") octets.push(c.charCodeAt(0));
      else if (/[0-9]/.test(data[i])) {
        octets.push(Number(data.slice(i, i + 3)));
        i += 3;
      } else octets.push(data.charCodeAt(i++));
    }
    i++;
    strings.push(new Uint8Array(octets));
  }
  return strings;
}

/** One TXT record rendered by zoneLines(), split into its owner, TTL, class, type and strings. */
function renderTxt(value: string): { head: string; strings: Uint8Array[] } {
  const line = zoneLines([{
    name: "x.example.com",
    type: "TXT",
    value,
    purpose: "",
    required: false,
  }]);
  assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1, "one line");
  const head = "x.example.com. 3600 IN TXT ";
  assert.ok(line.startsWith(head), line);
  return { head, strings: parseTxtData(line.slice(head.length, -1)) };
}

const decoder = new TextDecoder();

const TXT_CASES: { name: string; value: string; line: string }[] = [
  { name: "quotes a short value", value: "v=spf1 mx -all", line: '"v=spf1 mx -all"' },
  { name: "writes an empty value as one empty string", value: "", line: '""' },
  { name: "escapes quotes and backslashes", value: 'a "b" \\c;', line: '"a \\"b\\" \\\\c;"' },
  { name: "writes non-ASCII octets as \\DDD", value: "é\t", line: '"\\195\\169\\009"' },
  { name: "keeps 255 octets in one string", value: "a".repeat(255), line: `"${"a".repeat(255)}"` },
  {
    name: "starts a second string at octet 256",
    value: "a".repeat(255) + "b",
    line: `"${"a".repeat(255)}" "b"`,
  },
  {
    name: "counts octets, not characters, and escapes after cutting",
    value: '"'.repeat(254) + "éz",
    line: `"${'\\"'.repeat(254)}\\195" "\\169z"`,
  },
];

for (const { name, value, line } of TXT_CASES) {
  Deno.test(`zoneLines() ${name}`, () => {
    const rendered = zoneLines([{
      name: "x.example.com",
      type: "TXT",
      value,
      purpose: "",
      required: false,
    }]);
    assert.equal(rendered, `x.example.com. 3600 IN TXT ${line}\n`);
    const { strings } = renderTxt(value);
    for (const s of strings) assert.ok(s.length <= 255, `${s.length} octets`);
    const joined = new Uint8Array(strings.flatMap((s) => [...s]));
    assert.equal(decoder.decode(joined), value, "the strings join back into the value");
  });
}

Deno.test("zoneLines() cuts a 2048-bit RSA DKIM record as dnsRecord() does", async () => {
  const key = await generateDkimKey("rsa");
  const record = dnsRecord("example.com", "postino202611", key);
  assert.ok(record.value.length > 255, "long enough to need two strings");
  const [published] = recordsToPublish({
    ...BASE,
    dkim: [{ selector: "postino202611", record: record.value }],
  })
    .filter((r) => r.name === record.name);
  const line = zoneLines([published]);
  const { strings } = renderTxt(record.value);
  assert.deepEqual(strings.map((s) => decoder.decode(s)), record.strings);
  assert.equal(
    line,
    `${record.name}. 3600 IN TXT ${record.strings.map((s) => `"${s}"`).join(" ")}\n`,
  );
});

Deno.test("zoneLines() writes one line per record, owner names with a final dot", () => {
  const records = recordsToPublish({
    ...BASE,
    ips: ["192.0.2.10", "2001:db8::25"],
    mtaStsPolicyId: "abc",
  });
  const lines = zoneLines(records).split("\n");
  assert.equal(lines.pop(), "", "the last line ends in a newline");
  assert.equal(lines.length, records.length);
  assert.deepEqual(lines.slice(0, 4), [
    "mail.example.com. 3600 IN A 192.0.2.10",
    "mail.example.com. 3600 IN AAAA 2001:db8::25",
    "example.com. 3600 IN MX 10 mail.example.com.",
    'example.com. 3600 IN TXT "v=spf1 ip4:192.0.2.10 ip6:2001:db8::25 mx -all"',
  ]);
  assert.ok(lines.includes("_imaps._tcp.example.com. 3600 IN SRV 0 1 993 mail.example.com."));
  assert.ok(lines.includes("mta-sts.example.com. 3600 IN CNAME mail.example.com."));
  assert.equal(zoneLines([]), "");
});
