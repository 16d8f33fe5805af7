import assert from "node:assert/strict";
import {
  judgeReputation,
  networkOf,
  reputationFeatures,
  senderFacts,
  storedSenderFacts,
} from "./reputation.ts";

const AR = (results: string) => `mx.example.net; ${results}`;

Deno.test("senderFacts(): the From address only when SPF, DKIM or DMARC verified its domain", () => {
  const table: [string, string | undefined, string, string | undefined][] = [
    // authentication results, From field, want from, want spf
    [
      "spf=pass smtp.mailfrom=a@shop.example",
      "A <A@Shop.example>",
      "a@shop.example",
      "shop.example",
    ],
    ["spf=pass smtp.mailfrom=bounce@mail.shop.example", "a@shop.example", "", "mail.shop.example"],
    [
      "spf=pass smtp.mailfrom=a@mail.shop.example",
      "a@mail.shop.example",
      "a@mail.shop.example",
      "mail.shop.example",
    ],
    ["spf=fail smtp.mailfrom=a@shop.example", "a@shop.example", "", undefined],
    ["spf=softfail smtp.mailfrom=a@shop.example", "a@shop.example", "", undefined],
    [
      "dkim=pass header.d=shop.example header.s=s1",
      "a@news.shop.example",
      "a@news.shop.example",
      undefined,
    ],
    ["dkim=pass header.d=other.example", "a@shop.example", "", undefined],
    ["dkim=fail header.d=shop.example", "a@shop.example", "", undefined],
    ["dmarc=pass (p=NONE) header.from=shop.example", "a@shop.example", "a@shop.example", undefined],
    [
      "spf=pass (comment; with semicolon) smtp.mailfrom=a@shop.example",
      "a@shop.example",
      "a@shop.example",
      "shop.example",
    ],
    ["none", "a@shop.example", "", undefined],
    ["spf=pass smtp.mailfrom=a@shop.example", undefined, "", "shop.example"],
    ["spf=pass smtp.mailfrom=a@shop.example", "undisclosed-recipients:;", "", "shop.example"],
    ["spf=pass smtp.mailfrom=a@evilshop.example", "a@shop.example", "", "evilshop.example"],
  ];
  for (const [results, from, wantFrom, wantSpf] of table) {
    const facts = senderFacts(AR(results), from, undefined);
    assert.equal(facts.from ?? "", wantFrom, `${results} / ${from}`);
    assert.equal(facts.spf, wantSpf, `${results} spf`);
  }
  assert.deepEqual(
    senderFacts(
      AR(
        "dkim=pass header.d=A.example; dkim=pass header.d=b.example; dkim=pass header.d=a.example",
      ),
      "x@y.example",
      undefined,
    ).dkim,
    ["a.example", "b.example"],
  );
  assert.deepEqual(senderFacts(undefined, "a@shop.example", "192.0.2.7"), {
    from: undefined,
    dkim: [],
    spf: undefined,
    net: "192.0.2.0/24",
  });
});

Deno.test("networkOf(): public IPv4 /24 and IPv6 /48; loopback and private addresses none", () => {
  const table: [string, string | undefined][] = [
    ["192.0.2.77", "192.0.2.0/24"],
    ["::ffff:198.51.100.9", "198.51.100.0/24"],
    ["2001:db8:1234:5678::1", "2001:db8:1234::/48"],
    ["2001:db8::1", "2001:db8:0::/48"],
    ["127.0.0.1", undefined],
    ["10.1.2.3", undefined],
    ["172.16.0.1", undefined],
    ["172.32.0.1", "172.32.0.0/24"],
    ["192.168.1.1", undefined],
    ["169.254.1.1", undefined],
    ["100.64.0.1", undefined],
    ["::1", undefined],
    ["fe80::1", undefined],
    ["fd00::1", undefined],
    ["not an address", undefined],
    ["1:2:3", undefined],
    ["1::2::3", undefined],
  ];
  for (const [ip, want] of table) assert.equal(networkOf(ip), want, ip);
});

Deno.test("storedSenderFacts(): reads only our own Authentication-Results and Received", () => {
  const stored = new TextEncoder().encode([
    "Received: from mail.shop.example ([192.0.2.7])",
    "\tby mx.example.net (Postino) with ESMTPS id X; Thu, 3 Dec 2026 10:00:00 +0000",
    "Authentication-Results: mx.example.net;",
    "\tspf=pass (domain of a@shop.example designates 192.0.2.7) smtp.mailfrom=a@shop.example",
    "Authentication-Results: other.example; dkim=pass header.d=forged.example",
    "Received: from x ([203.0.113.1]) by other.example (Postino) with ESMTP id Y",
    "From: Shop <a@shop.example>",
    "Subject: hi",
    "",
    "body",
  ].join("\r\n"));
  assert.deepEqual(storedSenderFacts(stored, "mx.example.net"), {
    from: "a@shop.example",
    dkim: [],
    spf: "shop.example",
    net: "192.0.2.0/24",
  });
  assert.deepEqual(storedSenderFacts(stored, "MX.example.net").net, "192.0.2.0/24");
  assert.deepEqual(storedSenderFacts(stored, "elsewhere.example"), {
    from: undefined,
    dkim: [],
    spf: undefined,
    net: undefined,
  });
  assert.deepEqual(
    reputationFeatures(storedSenderFacts(stored, "mx.example.net")),
    ["rep:from:a@shop.example", "rep:spf:shop.example", "rep:net:192.0.2.0/24"],
  );
});

Deno.test("judgeReputation(): a marked sender decides, a correspondent passes, domains only condemn", () => {
  const facts = {
    from: "a@shop.example",
    dkim: ["shop.example"],
    spf: "shop.example",
    net: "192.0.2.0/24",
  };
  type Row = [string, Record<string, [number, number]>, boolean, boolean | undefined];
  const table: Row[] = [
    ["nothing known", {}, false, undefined],
    ["sender marked spam once", { "rep:from:a@shop.example": [1, 0] }, false, true],
    ["sender kept once", { "rep:from:a@shop.example": [0, 1] }, false, false],
    ["sender mostly spam", { "rep:from:a@shop.example": [3, 1] }, false, true],
    ["sender mostly kept", { "rep:from:a@shop.example": [1, 3] }, false, false],
    ["sender mixed: falls through", { "rep:from:a@shop.example": [2, 2] }, false, undefined],
    ["correspondent", {}, true, false],
    ["correspondent marked spam since", { "rep:from:a@shop.example": [1, 0] }, true, true],
    ["DKIM domain marked spam twice", { "rep:dkim:shop.example": [2, 0] }, false, true],
    ["DKIM domain marked spam once", { "rep:dkim:shop.example": [1, 0] }, false, undefined],
    ["DKIM domain kept: no pass", { "rep:dkim:shop.example": [0, 9] }, false, undefined],
    ["DKIM domain mixed", { "rep:dkim:shop.example": [5, 1] }, false, undefined],
    ["SPF domain marked spam twice", { "rep:spf:shop.example": [2, 0] }, false, true],
    ["network marked spam 3 times", { "rep:net:192.0.2.0/24": [3, 0] }, false, true],
    ["network marked spam twice", { "rep:net:192.0.2.0/24": [2, 0] }, false, undefined],
  ];
  for (const [what, known, correspondent, want] of table) {
    const counts = (f: string) => known[f] && { spam: known[f][0], ham: known[f][1] };
    const verdict = judgeReputation(facts, counts, correspondent);
    assert.equal(verdict?.spam, want, what);
    if (verdict) assert.ok(verdict.reason.length > 0, what);
  }
  // Unverified: neither the sender's history nor being a correspondent counts.
  const unverified = { ...facts, from: undefined };
  const counts = () => ({ spam: 0, ham: 5 });
  assert.equal(judgeReputation(unverified, counts, true), undefined);
});
