import assert from "node:assert/strict";
import { MAX_TOKENS, tokenize } from "./tokenize.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("tokenize() reads headers, decoded text and HTML, link hosts and attachment kinds", () => {
  const message = enc([
    "Received: from relay.Sender.example (relay [192.0.2.1])",
    "\tby mx.receiver.example with ESMTP id 1",
    "Message-ID: <abc.123@out.Bulk.example>",
    'From: "Deals" <Offers@Mail.Shop.example>',
    "Reply-To: claims@other.example",
    "Subject: =?utf-8?q?Gro=C3=9Fe_Preise?= today",
    "X-Mailer: BulkMailer/2.1 (pro)",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Caf=E9 prices, see http://www.Deals.example/x?y=1 don't wait 12345678",
    "--b1",
    "Content-Type: text/html; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    btoa(
      '<p>Click <a href="https://track.spam.example/c">here&nbsp;now</a></p>' +
        "<script>hidden()</script><style>p{color:red}</style>&#x263A;",
    ),
    "--b1",
    'Content-Type: application/pdf; name="invoice.PDF"',
    "Content-Disposition: attachment",
    "",
    "JVBERi0=",
    "--b1--",
    "",
  ].join("\r\n"));
  const tokens = tokenize(message);
  for (
    const want of [
      "from:offers@mail.shop.example",
      "fromdomain:mail.shop.example",
      "replyto:claims@other.example",
      "replytodomain:other.example",
      "subject:große",
      "subject:preise",
      "subject:today",
      "mailer:bulkmailer",
      "ctype:multipart",
      "café",
      "prices",
      "don't",
      "url:www.deals.example",
      "url:deals.example",
      "click",
      "here",
      "now",
      "url:track.spam.example",
      "url:spam.example",
      "attach:application/pdf",
      "attachext:pdf",
      "received:sender.example",
      "received:receiver.example",
      "msgid:bulk.example",
      "cte:quoted-printable",
      "cte:base64",
      "charset:iso-8859-1",
      "charset:utf-8",
    ]
  ) assert.ok(tokens.has(want), `has ${want}: ${[...tokens].join(" ")}`);
  for (
    const absent of ["12345678", "hidden", "color", "p", "script", "mime-version", "esmtp", "relay"]
  ) {
    assert.ok(!tokens.has(absent), `not ${absent}`);
  }
});

Deno.test("tokenize() stops at MAX_TOKENS and survives broken input", () => {
  const many = Array.from({ length: MAX_TOKENS + 500 }, (_, i) => `w${i}x`).join(" ");
  assert.equal(tokenize(enc(`Subject: big\r\n\r\n${many}\r\n`)).size, MAX_TOKENS);
  for (
    const broken of [
      "",
      "no header at all",
      "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
      "Content-Transfer-Encoding: base64\r\n\r\n!!!not base64",
      "Content-Type: text/plain; charset=klingon\r\n\r\nqapla",
      "\r\n\r\n\r\n",
    ]
  ) assert.ok(tokenize(enc(broken)) instanceof Set, JSON.stringify(broken));
});
