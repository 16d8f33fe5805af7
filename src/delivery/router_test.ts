import assert from "node:assert/strict";
import { addAlias, addDomain, addUser } from "../store/accounts.ts";
import { openStore, type Store, storePath } from "../store/db.ts";
import { maySendAs, normalizeRecipient, resolveRecipient, type Route } from "./router.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdA==$a2V5";

/**
 * Runs `fn` with a store holding the local domains example.com and
 * example.org, the users alice, bob and carol@example.com and dave@example.org,
 * and these aliases:
 *   team@example.com    -> alice, bob
 *   all@example.com     -> team, carol, alice (nested, with a duplicate)
 *   info@example.org    -> alice@example.com (across local domains)
 *   fwd@example.com     -> someone@remote.example
 *   mixed@example.com   -> bob, someone@remote.example, other@remote.example
 *   ghost@example.com   -> nobody@example.com (leads nowhere)
 *   half@example.com    -> nobody@example.com, carol (one target leads nowhere)
 *   loop1@example.com  <-> loop2@example.com (a cycle with no exit)
 *   ring1@example.com  <-> ring2@example.com, ring1 also -> dave@example.org
 *   alice+list@example.com -> bob (an alias shadowing a plus-address)
 */
async function withStore(fn: (store: Store) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-router-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addDomain(store, "example.org");
    for (const u of ["alice@example.com", "bob@example.com", "carol@example.com"]) {
      addUser(store, u, HASH);
    }
    addUser(store, "dave@example.org", HASH);
    const aliases: [string, string][] = [
      ["team@example.com", "alice@example.com"],
      ["team@example.com", "bob@example.com"],
      ["all@example.com", "team@example.com"],
      ["all@example.com", "carol@example.com"],
      ["all@example.com", "alice@example.com"],
      ["info@example.org", "alice@example.com"],
      ["fwd@example.com", "someone@remote.example"],
      ["mixed@example.com", "bob@example.com"],
      ["mixed@example.com", "someone@remote.example"],
      ["mixed@example.com", "other@remote.example"],
      ["ghost@example.com", "nobody@example.com"],
      ["half@example.com", "nobody@example.com"],
      ["half@example.com", "carol@example.com"],
      ["loop1@example.com", "loop2@example.com"],
      ["loop2@example.com", "loop1@example.com"],
      ["ring1@example.com", "ring2@example.com"],
      ["ring1@example.com", "dave@example.org"],
      ["ring2@example.com", "ring1@example.com"],
      ["alice+list@example.com", "bob@example.com"],
    ];
    for (const [address, target] of aliases) addAlias(store, address, target);
    fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Routes as sorted strings: "local:alice@example.com", "remote:x@y". */
function routes(list: Route[] | undefined): string[] | undefined {
  return list?.map((r) => `${r.kind}:${r.address}`).sort();
}

const L = (address: string) => `local:${address}`;
const R = (address: string) => `remote:${address}`;

const RESOLVE_CASES: { address: string; expected: string[] | undefined; why: string }[] = [
  { address: "alice@example.com", expected: [L("alice@example.com")], why: "a user" },
  { address: "Alice@example.com", expected: [L("alice@example.com")], why: "any case, locally" },
  { address: "Friend@remote.example", expected: [R("Friend@remote.example")], why: "remote case" },
  { address: "dave@example.org", expected: [L("dave@example.org")], why: "a user elsewhere" },
  { address: "nobody@example.com", expected: undefined, why: "an unknown local user" },
  { address: "alice@example.org", expected: undefined, why: "a user of another local domain" },
  { address: "alice+tag@example.com", expected: [L("alice@example.com")], why: "plus" },
  { address: "alice+@example.com", expected: [L("alice@example.com")], why: "an empty tag" },
  { address: "alice+a+b@example.com", expected: [L("alice@example.com")], why: "two pluses" },
  { address: "+tag@example.com", expected: undefined, why: "a plus with nothing before it" },
  { address: "nobody+tag@example.com", expected: undefined, why: "plus on an unknown user" },
  {
    address: "alice+list@example.com",
    expected: [L("bob@example.com")],
    why: "an alias named like a plus-address wins",
  },
  {
    address: "team@example.com",
    expected: [L("alice@example.com"), L("bob@example.com")],
    why: "alias fan-out",
  },
  {
    address: "team+x@example.com",
    expected: [L("alice@example.com"), L("bob@example.com")],
    why: "plus on an alias",
  },
  {
    address: "all@example.com",
    expected: [L("alice@example.com"), L("bob@example.com"), L("carol@example.com")],
    why: "nested aliases, each user once",
  },
  { address: "info@example.org", expected: [L("alice@example.com")], why: "across domains" },
  { address: "fwd@example.com", expected: [R("someone@remote.example")], why: "remote target" },
  {
    address: "mixed@example.com",
    expected: [L("bob@example.com"), R("other@remote.example"), R("someone@remote.example")],
    why: "local and remote targets",
  },
  { address: "ghost@example.com", expected: undefined, why: "an alias that leads nowhere" },
  { address: "half@example.com", expected: [L("carol@example.com")], why: "a dead target" },
  { address: "loop1@example.com", expected: undefined, why: "a cycle with no exit" },
  { address: "loop2@example.com", expected: undefined, why: "a cycle from its other end" },
  { address: "ring1@example.com", expected: [L("dave@example.org")], why: "a cycle with exit" },
  { address: "ring2@example.com", expected: [L("dave@example.org")], why: "exit via the cycle" },
  { address: "x@remote.example", expected: [R("x@remote.example")], why: "a remote address" },
  { address: "alice@[192.0.2.1]", expected: [R("alice@[192.0.2.1]")], why: "an address literal" },
];

for (const c of RESOLVE_CASES) {
  Deno.test(`resolveRecipient() routes ${c.address}: ${c.why}`, async () => {
    await withStore((store) => {
      assert.deepEqual(routes(resolveRecipient(store, c.address)), c.expected);
    });
  });
}

Deno.test("resolveRecipient() gives ids of the users it routes to", async () => {
  await withStore((store) => {
    const [route] = resolveRecipient(store, "alice+x@example.com")!;
    assert.equal(route.kind, "local");
    const id = store.get<{ id: number }>(
      "SELECT id FROM users WHERE address = 'alice@example.com'",
    )!.id;
    assert.equal(route.kind === "local" && route.userId, id);
  });
});

Deno.test("resolveRecipient() follows a chain of aliases but not an endless one", async () => {
  await withStore((store) => {
    // chain0 -> chain1 -> ... -> chainN -> alice
    const chain = (n: number, prefix: string) => {
      for (let i = 0; i < n; i++) {
        const target = i === n - 1 ? "alice@example.com" : `${prefix}${i + 1}@example.com`;
        addAlias(store, `${prefix}${i}@example.com`, target);
      }
      return `${prefix}0@example.com`;
    };
    assert.deepEqual(routes(resolveRecipient(store, chain(5, "short"))), [L("alice@example.com")]);
    assert.equal(resolveRecipient(store, chain(50, "long")), undefined);
  });
});

Deno.test("resolveRecipient() sends postmaster@ a local domain to the postmaster option", async () => {
  await withStore((store) => {
    const options = { postmaster: "carol@example.com" };
    for (const address of ["postmaster@example.com", "postmaster@example.org"]) {
      assert.deepEqual(routes(resolveRecipient(store, address, options)), [
        L("carol@example.com"),
      ]);
    }
    assert.deepEqual(
      routes(
        resolveRecipient(store, "postmaster@example.com", { postmaster: "pm@remote.example" }),
      ),
      [R("pm@remote.example")],
    );
    // A remote postmaster is a remote address like any other.
    assert.deepEqual(routes(resolveRecipient(store, "postmaster@remote.example", options)), [
      R("postmaster@remote.example"),
    ]);
    // The option points at itself: nowhere to go.
    assert.equal(
      resolveRecipient(store, "postmaster@example.com", { postmaster: "postmaster@example.com" }),
      undefined,
    );
  });
});

Deno.test("resolveRecipient() prefers a postmaster user or alias to the option", async () => {
  await withStore((store) => {
    addUser(store, "postmaster@example.com", HASH);
    addAlias(store, "postmaster@example.org", "dave@example.org");
    const options = { postmaster: "carol@example.com" };
    assert.deepEqual(routes(resolveRecipient(store, "postmaster@example.com", options)), [
      L("postmaster@example.com"),
    ]);
    assert.deepEqual(routes(resolveRecipient(store, "postmaster@example.org", options)), [
      L("dave@example.org"),
    ]);
  });
});

const NORMALIZE_CASES: [string, string, string][] = [
  ["alice", "example.com", "alice@example.com"],
  // Local parts keep their case (RFC 5321 §2.4); only lookups in our domains ignore it.
  ["Alice", "EXAMPLE.COM", "Alice@example.com"],
  ["Alice.Smith+Tag", "Example.Com", "Alice.Smith+Tag@example.com"],
  ["bob", "bücher.example", "bob@xn--bcher-kva.example"],
  ["bob", "example.com.", "bob@example.com"],
  ["Ålice", "example.com", "Ålice@example.com"],
  ["x", "[192.0.2.1]", "x@[192.0.2.1]"],
  ["x", "[IPv6:2001:db8::1]", "x@[IPv6:2001:db8::1]"],
];

for (const [local, domain, expected] of NORMALIZE_CASES) {
  Deno.test(`normalizeRecipient() turns ${local}@${domain} into ${expected}`, () => {
    assert.equal(normalizeRecipient(local, domain), expected);
  });
}

const SEND_AS_CASES: { user: string; sender: string; allowed: boolean; why: string }[] = [
  { user: "alice@example.com", sender: "alice@example.com", allowed: true, why: "own address" },
  { user: "alice@example.com", sender: "alice+news@example.com", allowed: true, why: "plus" },
  { user: "alice@example.com", sender: "team@example.com", allowed: true, why: "an alias" },
  { user: "bob@example.com", sender: "team@example.com", allowed: true, why: "shared alias" },
  { user: "carol@example.com", sender: "all@example.com", allowed: true, why: "nested alias" },
  { user: "alice@example.com", sender: "info@example.org", allowed: true, why: "other domain" },
  { user: "dave@example.org", sender: "ring1@example.com", allowed: true, why: "via a cycle" },
  { user: "alice@example.com", sender: "bob@example.com", allowed: false, why: "another user" },
  { user: "alice@example.com", sender: "bob+x@example.com", allowed: false, why: "their plus" },
  {
    user: "alice@example.com",
    sender: "alice+list@example.com",
    allowed: false,
    why: "an alias named like her plus-address that goes to bob",
  },
  { user: "carol@example.com", sender: "team@example.com", allowed: false, why: "not a member" },
  { user: "alice@example.com", sender: "fwd@example.com", allowed: false, why: "remote alias" },
  { user: "alice@example.com", sender: "nobody@example.com", allowed: false, why: "unknown" },
  { user: "alice@example.com", sender: "loop1@example.com", allowed: false, why: "a cycle" },
  { user: "alice@example.com", sender: "alice@remote.example", allowed: false, why: "remote" },
  { user: "alice@example.com", sender: "alice@example.org", allowed: false, why: "other user" },
];

for (const c of SEND_AS_CASES) {
  Deno.test(
    `maySendAs() ${c.allowed ? "lets" : "does not let"} ${c.user} send as ${c.sender}: ${c.why}`,
    async () => {
      await withStore((store) => {
        assert.equal(maySendAs(store, c.user, c.sender), c.allowed);
      });
    },
  );
}
