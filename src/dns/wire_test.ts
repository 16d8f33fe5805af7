import assert from "node:assert/strict";
import {
  decodeMessage,
  type DnsMessage,
  DnsWireError,
  encodeMessage,
  encodeQuery,
  formatIp,
  fullRcode,
  nameProblem,
  normalizeName,
  parseIp,
  Rcode,
  type ResourceRecord,
  RRClass,
  RRType,
  sameName,
  typeName,
} from "./wire.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function rr(name: string, type: number, data: ResourceRecord["data"], ttl = 300): ResourceRecord {
  return { name, type, class: RRClass.IN, ttl, data };
}

/** A response holding one record of every kind the module knows, and one it does not. */
function everyKind(): DnsMessage {
  return {
    header: {
      id: 0xbeef,
      qr: true,
      opcode: 0,
      aa: true,
      tc: false,
      rd: true,
      ra: true,
      ad: false,
      cd: false,
      rcode: Rcode.NOERROR,
    },
    questions: [{ name: "Example.TEST", type: RRType.ANY, class: RRClass.IN }],
    answers: [
      rr("example.test", RRType.A, { kind: "A", address: "192.0.2.1" }),
      rr("example.test", RRType.AAAA, { kind: "AAAA", address: "2001:db8::1" }),
      rr("example.test", RRType.MX, { kind: "MX", preference: 10, exchange: "mx.example.test" }),
      rr("example.test", RRType.MX, { kind: "MX", preference: 0, exchange: "" }),
      rr("example.test", RRType.TXT, { kind: "TXT", strings: ["v=spf1 ", "-all", ""] }),
      rr("example.test", RRType.TXT, { kind: "TXT", strings: ["x".repeat(255), "é"] }),
      rr("www.example.test", RRType.CNAME, { kind: "CNAME", cname: "example.test" }),
      rr("1.2.0.192.in-addr.arpa", RRType.PTR, { kind: "PTR", ptrdname: "mx.example.test" }),
    ],
    authorities: [
      rr("_imaps._tcp.example.test", RRType.SRV, {
        kind: "SRV",
        priority: 0,
        weight: 1,
        port: 993,
        target: "mail.example.test",
      }),
      rr("example.test", RRType.NS, { kind: "NS", nsdname: "ns1.example.test" }),
      rr("example.test", RRType.SOA, {
        kind: "SOA",
        mname: "ns1.example.test",
        rname: "hostmaster.example.test",
        serial: 2024010101,
        refresh: 7200,
        retry: 3600,
        expire: 1209600,
        minimum: 0xffffffff,
      }),
    ],
    additionals: [
      rr("example.test", 99, { kind: "raw", bytes: Uint8Array.from([1, 2, 3, 0xc0, 0x0c]) }),
      rr("empty.example.test", 65400, { kind: "raw", bytes: new Uint8Array(0) }, 0),
      // A and AAAA data are class-specific: in another class they stay raw (RFC 3597 §5).
      {
        name: "x.example.test",
        type: RRType.A,
        class: 3,
        ttl: 1,
        data: {
          kind: "raw",
          bytes: Uint8Array.from([1, 2]),
        },
      },
    ],
    edns: {
      udpSize: 1232,
      extendedRcode: 0,
      version: 0,
      dnssecOk: true,
      options: [{ code: 10, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }],
    },
  };
}

Deno.test("encodeMessage() and decodeMessage() round-trip every record kind", () => {
  for (const compress of [true, false]) {
    const msg = everyKind();
    assert.deepEqual(decodeMessage(encodeMessage(msg, { compress })), msg, `compress ${compress}`);
  }
});

Deno.test("encodeMessage() round-trips each record kind alone", () => {
  const all = everyKind();
  for (const record of [...all.answers, ...all.authorities, ...all.additionals]) {
    const msg: DnsMessage = { ...all, answers: [record], authorities: [], additionals: [] };
    delete msg.edns;
    assert.deepEqual(decodeMessage(encodeMessage(msg)), msg, typeName(record.type));
  }
});

Deno.test("encodeQuery() produces the RFC 1035 layout, with an OPT record when asked", () => {
  const table: [Uint8Array, string][] = [
    [
      encodeQuery(0x1234, "example.com", RRType.A),
      "1234 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001",
    ],
    [
      encodeQuery(0xabcd, "Example.com.", RRType.MX, { edns: 1232, recursionDesired: false }),
      "abcd 0000 0001 0000 0000 0001 07 4578616d706c65 03 636f6d 00 000f 0001" +
      " 00 0029 04d0 00000000 0000",
    ],
    [encodeQuery(0, "", RRType.NS), "0000 0100 0001 0000 0000 0000 00 0002 0001"],
  ];
  for (const [bytes, want] of table) assert.equal(toHex(bytes), toHex(hex(want)), want);
});

Deno.test("encodeMessage() compresses repeated names with pointers", () => {
  const msg = everyKind();
  const compressed = encodeMessage(msg);
  const plain = encodeMessage(msg, { compress: false });
  assert.ok(compressed.length < plain.length - 100, `${compressed.length} vs ${plain.length}`);
  const query = encodeMessage({
    header: { id: 1, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, rcode: 0 },
    questions: [{ name: "example.test", type: RRType.MX, class: RRClass.IN }],
    answers: [
      rr("example.test", RRType.MX, { kind: "MX", preference: 10, exchange: "mx.example.test" }),
    ],
    authorities: [],
    additionals: [],
  });
  // Question name at 12 (14 octets), type/class, answer owner is a pointer to 12,
  // and the exchange is "mx" plus a pointer to 12.
  assert.equal(toHex(query.subarray(30, 32)), "c00c");
  assert.equal(toHex(query.subarray(42)), "000a 02 6d78 c00c".replace(/ /g, ""));
  assert.equal(query.length, 42 + 7);
});

Deno.test("decodeMessage() follows compression pointers into the middle of names", () => {
  // Question "a.example.test", answer owner = pointer to "example.test" inside it (offset 14),
  // CNAME data "b" + pointer to offset 14.
  const bytes = hex(
    "0001 8180 0001 0001 0000 0000" +
      "01 61 07 6578616d706c65 04 74657374 00 0005 0001" +
      "c00e 0005 0001 0000003c 0004 01 62 c00e",
  );
  const msg = decodeMessage(bytes);
  assert.equal(msg.questions[0].name, "a.example.test");
  assert.deepEqual(
    msg.answers[0],
    rr("example.test", RRType.CNAME, {
      kind: "CNAME",
      cname: "b.example.test",
    }, 60),
  );
});

Deno.test("decodeMessage() reports the header flags and the extended rcode", () => {
  const bytes = hex("ffff fff0 0000 0000 0000 0001 00 0029 0200 01000000 0000");
  const msg = decodeMessage(bytes);
  assert.deepEqual(msg.header, {
    id: 0xffff,
    qr: true,
    opcode: 15,
    aa: true,
    tc: true,
    rd: true,
    ra: true,
    ad: true,
    cd: true,
    rcode: 0,
  });
  assert.deepEqual(msg.edns, {
    udpSize: 512,
    extendedRcode: 1,
    version: 0,
    dnssecOk: false,
    options: [],
  });
  assert.equal(fullRcode(msg), 16); // BADVERS (RFC 6891 §9)
  assert.deepEqual(msg.additionals, []);
});

Deno.test("decodeMessage() throws DnsWireError for malformed packets", () => {
  const header = (qd: number, an: number, ar = 0) =>
    `0001 8180 ${qd.toString(16).padStart(4, "0")} ${an.toString(16).padStart(4, "0")} 0000 ` +
    ar.toString(16).padStart(4, "0");
  const question = "07 6578616d706c65 04 74657374 00 0001 0001"; // example.test A IN
  const longName = Array.from({ length: 5 }, () => `3f ${"61".repeat(63)}`).join(" ") + " 00";
  const table: [string, string, RegExp][] = [
    ["empty", "", /shorter than the 12-octet header/],
    ["truncated header", "0001 8180 0001", /6 octets is shorter than the 12-octet header/],
    ["question missing", header(1, 0), /name runs past the end/],
    ["question cut in its type", `${header(1, 0)} 00 00`, /question runs past the end/],
    ["pointer to itself", `${header(1, 0)} c00c 0001 0001`, /too many compression pointers/],
    ["two pointers in a loop", `${header(1, 0)} c00e c00c`, /too many compression pointers/],
    [
      "label looping back on itself",
      `${header(1, 0)} 01 61 c00c 0001 0001`,
      /name exceeds 255 octets|too many compression pointers/,
    ],
    ["pointer past the end", `${header(1, 0)} c0ff 0001 0001`, /pointer to 255 past the end/],
    ["pointer cut in half", `${header(1, 0)} c0`, /compression pointer runs past the end/],
    ["label > 63 (0x40)", `${header(1, 0)} 40 ${"61".repeat(64)} 00 0001 0001`, /label length 64/],
    ["reserved label type 0x80", `${header(1, 0)} 80 00 0001 0001`, /label length 128/],
    ["name > 255 octets", `${header(1, 0)} ${longName} 0001 0001`, /name exceeds 255 octets/],
    ["label past the end", `${header(1, 0)} 07 6578616d`, /label runs past the end/],
    [
      "rdlength past the end",
      `${header(1, 1)} ${question} c00c 0001 0001 0000003c 0010 c0000201`,
      /record data length 16 runs past the end/,
    ],
    ["record header cut", `${header(1, 1)} ${question} c00c 0001`, /record header runs past/],
    [
      "A record of 3 octets",
      `${header(1, 1)} ${question} c00c 0001 0001 0000003c 0003 c00002`,
      /A record with 3 octets of data/,
    ],
    [
      "AAAA record of 4 octets",
      `${header(1, 1)} ${question} c00c 001c 0001 0000003c 0004 c0000201`,
      /AAAA record with 4 octets of data/,
    ],
    [
      "MX exchange beyond its rdlength",
      `${header(1, 1)} ${question} c00c 000f 0001 0000003c 0004 000a 02 6d78 00`,
      /runs past the end/,
    ],
    [
      "MX shorter than its rdlength",
      `${header(1, 1)} ${question} c00c 000f 0001 0000003c 0005 000a c00c 00`,
      /MX record data shorter than its length/,
    ],
    [
      "TXT string beyond its rdlength",
      `${header(1, 1)} ${question} c00c 0010 0001 0000003c 0003 05 6162 0000`,
      /TXT character-string runs past the end/,
    ],
    [
      "SOA cut short",
      `${header(1, 1)} ${question} c00c 0006 0001 0000003c 0006 c00c c00c 0000`,
      /record data runs past the end/,
    ],
    [
      "two OPT records",
      `${header(0, 0, 2)} 00 0029 0200 00000000 0000 00 0029 0200 00000000 0000`,
      /more than one OPT record/,
    ],
    ["OPT owned by a name", `${header(0, 0, 1)} 01 61 00 0029 0200 00000000 0000`, /not owned/],
    [
      "OPT in the answer section",
      `${header(0, 1)} 00 0029 0200 00000000 0000`,
      /OPT record outside the additional section/,
    ],
    ["EDNS option cut", `${header(0, 0, 1)} 00 0029 0200 00000000 0003 000a 00`, /EDNS option/],
  ];
  for (const [label, bytes, message] of table) {
    assert.throws(() => decodeMessage(hex(bytes)), (e: unknown) => {
      assert.ok(e instanceof DnsWireError, `${label}: ${e}`);
      assert.match(e.message, /^Cannot decode DNS message: /, label);
      assert.match(e.message, message, label);
      return true;
    });
  }
});

Deno.test("decodeMessage() only ever throws DnsWireError on corrupted input", () => {
  const valid = encodeMessage(everyKind());
  // A deterministic generator, so a failure can be replayed.
  let seed = 12345;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 3000; i++) {
    const bytes = valid.slice(0, 12 + random(valid.length - 11));
    for (let flips = random(4) + 1; flips > 0; flips--) bytes[random(bytes.length)] = random(256);
    try {
      decodeMessage(bytes);
    } catch (e) {
      assert.ok(e instanceof DnsWireError, `case ${i}: ${e}`);
    }
  }
});

Deno.test("encodeMessage() rejects names and data that cannot go on the wire", () => {
  const msg = (
    name: string,
    data?: ResourceRecord["data"],
    type: number = RRType.A,
  ): DnsMessage => ({
    header: { id: 1, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0 },
    questions: [],
    answers: [rr(name, type, data ?? { kind: "A", address: "192.0.2.1" })],
    authorities: [],
    additionals: [],
  });
  const table: [string, DnsMessage, RegExp][] = [
    ["label > 63", msg(`${"a".repeat(64)}.test`), /label longer than 63 octets/],
    ["name > 255", msg(`${"a".repeat(63)}.`.repeat(4) + "a"), /longer than 255 octets/],
    ["empty label", msg("a..test"), /empty label/],
    ["leading dot", msg(".test"), /empty label/],
    ["U-label", msg("bücher.test"), /non-ASCII character \(pass IDNs as A-labels\)/],
    ["bad escape", msg("a\\300.test"), /bad escape/],
    ["dangling backslash", msg("a\\"), /dangling backslash/],
    ["bad IPv4", msg("a.test", { kind: "A", address: "192.0.2" }), /not an IPv4 address/],
    ["IPv6 in A", msg("a.test", { kind: "A", address: "::1" }), /not an IPv4 address/],
    [
      "IPv4 in AAAA",
      msg("a.test", { kind: "AAAA", address: "192.0.2.1" }, RRType.AAAA),
      /not an IPv6 address/,
    ],
    [
      "TXT string > 255",
      msg("a.test", { kind: "TXT", strings: ["x".repeat(256)] }, RRType.TXT),
      /256 octets exceeds 255/,
    ],
    ["type and data differ", msg("a.test", undefined, RRType.MX), /type 15 does not match data A/],
    [
      "OPT as a record",
      msg("", { kind: "raw", bytes: new Uint8Array(0) }, RRType.OPT),
      /Cannot encode OPT record: use edns/,
    ],
    [
      "rcode above 4 bits",
      { ...msg("a.test"), header: { ...msg("a.test").header, rcode: 16 } },
      /Cannot encode header rcode 16/,
    ],
  ];
  for (const [label, m, message] of table) {
    assert.throws(() => encodeMessage(m), (e: unknown) => {
      assert.ok(e instanceof DnsWireError, `${label}: ${e}`);
      assert.match(e.message, message, label);
      return true;
    });
  }
  // Exactly 255 octets on the wire is fine: 3 × 64 + 62 + 1.
  const longest = `${"a".repeat(63)}.`.repeat(3) + "a".repeat(61);
  assert.equal(nameProblem(longest), undefined);
  assert.match(nameProblem(`${longest}a`) ?? "", /longer than 255 octets/);
});

Deno.test("decodeMessage() escapes label octets so names stay unambiguous", () => {
  const table: [string, string][] = [
    ["a\\.b.example.test", "a\\.b.example.test"], // one label holding a dot
    ["back\\\\slash.test", "back\\\\slash.test"],
    ["sp\\032ace.test", "sp\\032ace.test"],
    ["\\065bc.test", "Abc.test"], // an escaped printable octet comes back plain
    ["nul\\000.test", "nul\\000.test"],
    ["hi\\255.test", "hi\\255.test"],
    ["trailing.dot.", "trailing.dot"],
    ["escaped.dot\\.", "escaped.dot\\."],
    [".", ""],
  ];
  for (const [name, want] of table) {
    const bytes = encodeQuery(7, name, RRType.TXT);
    assert.equal(decodeMessage(bytes).questions[0].name, want, name);
  }
  const oneLabel = encodeQuery(7, "a\\.b", RRType.TXT);
  assert.equal(toHex(oneLabel.subarray(12, 17)), "03612e6200");
});

Deno.test("formatIp() and parseIp() follow RFC 5952 text forms", () => {
  const table: [string, string | undefined][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run is shortened
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first of equal runs
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::ffff:c000:0201", "::ffff:192.0.2.1"],
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
    ["256.0.0.1", undefined],
    ["1.2.3", undefined],
    ["01.2.3.4", undefined],
    ["1.2.3.4.5", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1:2:3:4:5:6:7", undefined],
    ["1::2::3", undefined],
    ["1:2:3:4:5:6:7::8", undefined],
    ["12345::", undefined],
    ["g::", undefined],
    ["fe80::1%eth0", undefined],
    ["", undefined],
  ];
  for (const [text, want] of table) {
    const bytes = parseIp(text);
    assert.equal(bytes === undefined ? undefined : formatIp(bytes), want, text);
  }
  assert.throws(() => formatIp(new Uint8Array(5)), DnsWireError);
});

Deno.test("sameName() and normalizeName() compare names as DNS does", () => {
  const table: [string, string, boolean][] = [
    ["Example.TEST", "example.test", true],
    ["example.test.", "example.test", true],
    ["example.test", "example.tes", false],
    ["a\\.b", "a\\.b.", true],
    ["a\\.", "a", false], // an escaped dot is part of the label
    ["ÄB", "äb", false], // ASCII case folding only (RFC 4343 §3)
  ];
  for (const [a, b, want] of table) assert.equal(sameName(a, b), want, `${a} ${b}`);
  assert.equal(normalizeName("MX.Example.Test."), "mx.example.test");
  assert.equal(normalizeName("a\\\\."), "a\\\\");
});

Deno.test("typeName() names known types and falls back to TYPEn", () => {
  const table: [number, string][] = [
    [RRType.A, "A"],
    [RRType.MX, "MX"],
    [RRType.AAAA, "AAAA"],
    [RRType.OPT, "OPT"],
    [99, "TYPE99"],
  ];
  for (const [code, want] of table) assert.equal(typeName(code), want);
});
