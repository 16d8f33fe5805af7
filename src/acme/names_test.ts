import assert from "node:assert/strict";
import { startDnsStub } from "../../tests/support/dns_stub.ts";
import { Resolver } from "../dns/resolver.ts";
import { addDomain } from "../store/accounts.ts";
import { openStore, storePath } from "../store/db.ts";
import { renewalTime } from "./manager.ts";
import { acmeNames } from "./names.ts";

Deno.test("acmeNames() adds the mta-sts and autoconfig names that point here, only those", async () => {
  await using dns = await startDnsStub({
    "mail.example.test": { A: ["192.0.2.10"], AAAA: ["2001:db8::10"] },
    "mta-sts.example.test": { CNAME: "mail.example.test" },
    "autoconfig.example.test": { A: ["192.0.2.10"] },
    "mta-sts.other.test": { A: ["198.51.100.1"] }, // elsewhere: the CA would fail the order
    "autoconfig.other.test": { A: ["192.0.2.10", "198.51.100.1"] }, // partly elsewhere
  });
  const dir = await Deno.makeTempDir({ prefix: "postino-acme-names-" });
  const store = openStore(storePath(dir));
  try {
    for (const d of ["example.test", "other.test", "nowhere.test", "localhost"]) {
      addDomain(store, d);
    }
    const [host, port] = dns.address.split(":");
    const resolver = new Resolver({ servers: [{ host, port: Number(port) }] });
    assert.deepEqual(await acmeNames("mail.example.test", store, resolver), [
      "mail.example.test",
      "mta-sts.example.test",
      "autoconfig.example.test",
    ]);
    // A host name that resolves nowhere gets a certificate for itself alone.
    assert.deepEqual(await acmeNames("unknown.example.test", store, resolver), [
      "unknown.example.test",
    ]);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renewalTime() is two thirds into the lifetime", () => {
  const day = 86_400_000;
  assert.equal(renewalTime({ notBefore: 0, notAfter: 90 * day }), 60 * day);
  assert.equal(renewalTime({ notBefore: 1000, notAfter: 1000 + 3 * day }), 1000 + 2 * day);
});
