/**
 * Our `authenticate()` over mailauth's single checks against mailauth's own
 * `authenticate()` in strict mode: the same header fields and verdicts for
 * unsigned, DKIM-signed, tampered, ARC-sealed and From-less messages, with
 * every HELO form. DNS is a loopback stub.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { authenticate as mailauthAuthenticate, type DNSResolver } from "mailauth";
import { startDnsStub } from "../../tests/support/dns_stub.ts";
import { Resolver } from "../dns/resolver.ts";
import { headerSection } from "../mail/headers.ts";
import { authenticate } from "./authenticate.ts";
import { generateDkimKey, signMessage } from "./dkim.ts";
import { mailauthResolver } from "./dns_adapter.ts";

const enc = new TextEncoder();

function mail(from: string, extra = ""): Uint8Array {
  return enc.encode(
    `${from}To: alice@localhost\r\nSubject: check\r\nMessage-ID: <1@sender.test>\r\n` +
      `Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n${extra}\r\nHello.\r\n`,
  );
}

Deno.test("authenticate() gives what mailauth's authenticate() gives in strict mode", async () => {
  const dkimKey = await generateDkimKey("rsa");
  const arcKey = await generateDkimKey("rsa");
  await using dns = await startDnsStub({
    "sender.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    "_dmarc.sender.test": { TXT: ["v=DMARC1; p=reject"] },
    "sel._domainkey.sender.test": { TXT: [`v=DKIM1; k=rsa; p=${dkimKey.publicKey}`] },
    "arc._domainkey.forwarder.test": { TXT: [`v=DKIM1; k=rsa; p=${arcKey.publicKey}`] },
    "fail.test": { TXT: ["v=spf1 -all"] },
    "_dmarc.fail.test": { TXT: ["v=DMARC1; p=quarantine"] },
  }, { negativeTtl: 60 });
  const resolver = new Resolver({ servers: [{ host: dns.host, port: dns.port }], cache: true });
  const lookup = mailauthResolver(resolver, { signal: AbortSignal.timeout(20_000) }) as DNSResolver;

  const signed = await signMessage(mail("From: News <news@sender.test>\r\n"), {
    domain: "sender.test",
    selector: "sel",
    algorithm: "rsa",
    privateKeyPem: dkimKey.privateKeyPem,
  });
  const tampered = new Uint8Array([...signed.subarray(0, signed.length - 3), 0x21, 0x0d, 0x0a]);
  // A forwarder that checked the signed message and sealed its result (RFC 8617).
  const sealedBy = await mailauthAuthenticate(Buffer.from(signed), {
    ip: "127.0.0.1",
    helo: "mx.sender.test",
    sender: "bounce@sender.test",
    mta: "forwarder.test",
    resolver: lookup,
    disableBimi: true,
    strict: true,
    seal: { signingDomain: "forwarder.test", selector: "arc", privateKey: arcKey.privateKeyPem },
  });
  const sealed = new Uint8Array([...enc.encode(sealedBy.headers), ...signed]);

  const messages: [string, Uint8Array][] = [
    ["unsigned, SPF pass", mail("From: news@sender.test\r\n")],
    ["DKIM-signed", signed],
    ["DKIM-signed, body changed", tampered],
    ["ARC-sealed", sealed],
    ["SPF fail", mail("From: x@fail.test\r\n")],
    ["no From", mail("")],
    ["two From", mail("From: a@sender.test\r\nFrom: b@fail.test\r\n")],
  ];
  const sessions = [
    { ip: "127.0.0.1", helo: "mx.sender.test", sender: "bounce@sender.test" },
    { ip: "127.0.0.1", helo: "", sender: "bounce@fail.test" },
    { ip: "127.0.0.1", helo: "127.0.0.1", sender: "" },
    { ip: "::1", helo: "::1", sender: "bounce@sender.test" },
  ];
  for (const [name, message] of messages) {
    for (const session of sessions) {
      const what = `${name} with ${JSON.stringify(session)}`;
      const want = await mailauthAuthenticate(Buffer.from(message), {
        ...session,
        mta: "mx.local.test",
        resolver: lookup,
        disableBimi: true,
        strict: true,
      });
      const got = await authenticate(Buffer.from(message), {
        ...session,
        mta: "mx.local.test",
        resolver: lookup,
      });
      assert.equal(got.headers, want.headers, what);
      assert.deepEqual(
        [got.spf && got.spf.status, got.dmarc && got.dmarc.status, got.arc && got.arc.status],
        [want.spf && want.spf.status, want.dmarc && want.dmarc.status, want.arc && want.arc.status],
        what,
      );
      assert.deepEqual(
        got.dkim.results?.map((r) => r.info),
        want.dkim.results?.map((r) => r.info),
        what,
      );
    }
  }
  // The header section alone is enough for a message nothing in it signs.
  const unsigned = messages[0][1];
  const session = { ...sessions[0], mta: "mx.local.test", resolver: lookup };
  assert.equal(
    (await authenticate(Buffer.from(headerSection(unsigned)), session)).headers,
    (await authenticate(Buffer.from(unsigned), session)).headers,
  );
  // The verdicts these cases are about, so the comparison is not between two empty results.
  const verdicts = async (message: Uint8Array) => {
    const r = await authenticate(Buffer.from(message), session);
    return [
      r.spf && r.spf.status.result,
      r.dkim.results?.[0]?.status.result,
      r.arc && r.arc.status.result,
    ];
  };
  assert.deepEqual(await verdicts(signed), ["pass", "pass", "none"]);
  assert.deepEqual(await verdicts(tampered), ["pass", "fail", "none"]);
  assert.deepEqual(await verdicts(sealed), ["pass", "pass", "pass"]);
});
