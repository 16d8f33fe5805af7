import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mtaStsDomain, mtaStsPolicy, mtaStsPolicyId } from "./mta_sts.ts";

// RFC 8461 §3.2: sts-policy-mx-value = ["*."] Domain (RFC 5321 §4.1.2).
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
const MX_VALUE = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
// RFC 8461 §3.2: a field is name ":" *WSP value; the values of the known fields.
const FIELD = /^([A-Za-z0-9_.-]+):[ \t]*(.*)$/;
const VALUES: Record<string, RegExp> = {
  version: /^STSv1$/,
  mode: /^(?:enforce|testing|none)$/,
  mx: MX_VALUE,
  max_age: /^[0-9]{1,10}$/,
};

/** The fields of a policy, checked against the RFC 8461 §3.2 grammar line by line. */
function policyFields(text: string): [string, string][] {
  assert.ok(text.endsWith("\r\n"), "the last line ends in CRLF");
  assert.doesNotMatch(text, /[^\r]\n|\r[^\n]/, "every line ends in CRLF, no bare CR or LF");
  const fields = text.slice(0, -2).split("\r\n").map((line): [string, string] => {
    const m = FIELD.exec(line);
    assert.ok(m, `a key: value line: ${JSON.stringify(line)}`);
    assert.match(m[2], VALUES[m[1]] ?? /^$/, `the value of ${m[1]}`);
    return [m[1], m[2]];
  });
  assert.equal(fields[0][0], "version", "version comes first");
  const once = ["version", "mode", "max_age"];
  for (const key of once) assert.equal(fields.filter(([k]) => k === key).length, 1, key);
  return fields;
}

const POLICIES: {
  name: string;
  policy: Parameters<typeof mtaStsPolicy>[0];
  text: string;
}[] = [
  {
    name: "enforce with two MX hosts",
    policy: { mode: "enforce", mx: ["mx1.example.com", "mx2.example.com"], maxAgeSeconds: 604800 },
    text:
      "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmax_age: 604800\r\n",
  },
  {
    name: "testing with a wildcard",
    policy: { mode: "testing", mx: ["*.mail.example.net"], maxAgeSeconds: 86400 },
    text: "version: STSv1\r\nmode: testing\r\nmx: *.mail.example.net\r\nmax_age: 86400\r\n",
  },
  {
    name: "none without MX hosts",
    policy: { mode: "none", mx: [], maxAgeSeconds: 0 },
    text: "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n",
  },
  {
    name: "MX names lower-cased, trailing dots and duplicates dropped",
    policy: {
      mode: "enforce",
      mx: ["MX.Example.com.", "mx.example.com", "xn--bcher-kva.example"],
      maxAgeSeconds: 31557600,
    },
    text:
      "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmx: xn--bcher-kva.example\r\nmax_age: 31557600\r\n",
  },
];

for (const { name, policy, text } of POLICIES) {
  Deno.test(`mtaStsPolicy() follows RFC 8461 §3.2: ${name}`, () => {
    const got = mtaStsPolicy(policy);
    assert.equal(got, text);
    const fields = policyFields(got);
    assert.deepEqual(
      fields.map(([k]) => k),
      ["version", "mode", ...fields.filter(([k]) => k === "mx").map(() => "mx"), "max_age"],
    );
    assert.equal(fields[1][1], policy.mode);
  });
}

const BAD_POLICIES: [string, Parameters<typeof mtaStsPolicy>[0], RegExp][] = [
  [
    "an unknown mode",
    { mode: "strict" as "none", mx: ["mx.example.com"], maxAgeSeconds: 86400 },
    /mode/,
  ],
  ["enforce without mx", { mode: "enforce", mx: [], maxAgeSeconds: 86400 }, /at least one mx/],
  ["testing without mx", { mode: "testing", mx: [], maxAgeSeconds: 86400 }, /at least one mx/],
  ["an empty mx", { mode: "enforce", mx: [""], maxAgeSeconds: 86400 }, /mx pattern/],
  [
    "an mx smuggling a line",
    { mode: "enforce", mx: ["mx.example.com\r\nmode: none"], maxAgeSeconds: 86400 },
    /mx pattern/,
  ],
  [
    "an mx with a space",
    { mode: "enforce", mx: ["mx example.com"], maxAgeSeconds: 86400 },
    /mx pattern/,
  ],
  ["a bare wildcard", { mode: "enforce", mx: ["*."], maxAgeSeconds: 86400 }, /mx pattern/],
  [
    "a double wildcard",
    { mode: "enforce", mx: ["*.*.example.com"], maxAgeSeconds: 86400 },
    /mx pattern/,
  ],
  [
    "an inner wildcard",
    { mode: "enforce", mx: ["mx.*.example.com"], maxAgeSeconds: 86400 },
    /mx pattern/,
  ],
  ["a negative max_age", { mode: "none", mx: [], maxAgeSeconds: -1 }, /max_age/],
  ["a max_age over a year", { mode: "none", mx: [], maxAgeSeconds: 31557601 }, /max_age/],
  ["a fractional max_age", { mode: "none", mx: [], maxAgeSeconds: 86400.5 }, /max_age/],
  ["a NaN max_age", { mode: "none", mx: [], maxAgeSeconds: NaN }, /max_age/],
];

for (const [name, policy, message] of BAD_POLICIES) {
  Deno.test(`mtaStsPolicy() throws RangeError for ${name}`, () => {
    assert.throws(
      () => mtaStsPolicy(policy),
      (e) => e instanceof RangeError && message.test(e.message),
    );
  });
}

const LOCAL = new Set(["example.com", "example.org"]);

const HOSTS: [string | null | undefined, string | undefined][] = [
  ["mta-sts.example.com", "example.com"],
  ["mta-sts.example.org", "example.org"],
  ["mta-sts.example.com:443", "example.com"],
  ["mta-sts.example.com:", "example.com"],
  ["MTA-STS.Example.COM", "example.com"],
  ["mta-sts.example.com.", "example.com"],
  ["Mta-Sts.Example.Com.:8443", "example.com"],
  ["mta-sts.other.net", undefined],
  ["mta-sts.sub.example.com", undefined],
  ["example.com", undefined],
  ["mail.example.com", undefined],
  ["mta-sts.", undefined],
  ["mta-sts", undefined],
  ["mta-sts.:443", undefined],
  ["mta-sts..example.com", undefined],
  ["xmta-sts.example.com", undefined],
  ["mta-stsexample.com", undefined],
  ["www.mta-sts.example.com", undefined],
  ["mta-sts.example.com:https", undefined],
  ["[::1]:443", undefined],
  ["", undefined],
  [null, undefined],
  [undefined, undefined],
];

for (const [host, want] of HOSTS) {
  Deno.test(`mtaStsDomain() maps ${JSON.stringify(host)} to ${want ?? "nothing"}`, () => {
    const asked: string[] = [];
    const got = mtaStsDomain(host, (domain) => {
      asked.push(domain);
      return LOCAL.has(domain);
    });
    assert.equal(got, want);
    for (const domain of asked) assert.equal(domain, domain.toLowerCase(), "asks in lower case");
  });
}

Deno.test("mtaStsPolicyId() gives 1 to 32 alphanumerics that change with the text", async () => {
  const texts = [
    ...POLICIES.map((p) => p.text),
    POLICIES[0].text.replace("604800", "604801"),
    POLICIES[0].text.replace("enforce", "testing"),
    "",
  ];
  const ids = await Promise.all(texts.map(mtaStsPolicyId));
  for (const id of ids) assert.match(id, /^[A-Za-z0-9]{1,32}$/); // RFC 8461 §3.1 sts-id-value
  assert.equal(new Set(ids).size, texts.length, "a different id for each text");
  assert.deepEqual(
    await Promise.all(texts.map(mtaStsPolicyId)),
    ids,
    "the same id for the same text",
  );
  const sha256 = createHash("sha256").update(texts[0]).digest("hex");
  assert.equal(ids[0], sha256.slice(0, 32));
});
