/**
 * The Authentication-Results fields of mail received over MX (RFC 8601 §5):
 * those that claim our authserv-id (mx.local.test) can only be forged and are
 * removed before ours is added; those of other hosts stay. And mail from an
 * authenticated user (submission, or AUTH on the MX listener) is not checked
 * at all: no verdicts, no DNS lookups, no DMARC refusal.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  deliver,
  fieldValues,
  HOSTNAME,
  mail,
  ourResults,
  parseAuthResults,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const ZONE = {
  "clean.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  // Were our own users' mail checked, SPF and DMARC would refuse it.
  "localhost": { TXT: ["v=spf1 -all"] },
  "_dmarc.localhost": { TXT: ["v=DMARC1; p=reject"] },
};

/** The stored message whose Subject is `subject`. */
function bySubject(messages: string[], subject: string): string {
  const found = messages.filter((m) => m.includes(`\r\nSubject: ${subject}\r\n`));
  assert.equal(found.length, 1, `one message with Subject ${subject}`);
  return found[0];
}

Deno.test("Authentication-Results with our authserv-id are removed from MX mail", async (t) => {
  await using mx = await startInbound(ZONE);

  await t.step("forged fields of ours go, fields of other hosts and the body stay", async () => {
    const kept = [
      "Authentication-Results: relay.example.net; dmarc=pass header.from=clean.test",
      "Authentication-Results: mx.local.test.evil.example; spf=pass smtp.mailfrom=clean.test",
    ];
    const message = mail({
      from: "news@clean.test",
      subject: "forged",
      extra: [
        `Authentication-Results: ${HOSTNAME}; dmarc=pass header.from=evil.test`,
        ...kept,
        "AUTHENTICATION-RESULTS: MX.LOCAL.TEST; spf=pass smtp.mailfrom=boss@evil.test",
        `Authentication-Results:\r\n\t${HOSTNAME};\r\n\tdkim=pass header.d=evil.test`,
      ],
      body:
        `Quoted below:\r\nAuthentication-Results: ${HOSTNAME}; dmarc=pass header.from=evil.test\r\n`,
    });
    assertDelivered(await deliver(mx, { sender: "news@clean.test", message }));
    const stored = bySubject(storedMessages(mx, ALICE.user), "forged");
    const [head, body] = [
      stored.slice(0, stored.indexOf("\r\n\r\n")),
      stored.slice(stored.indexOf("\r\n\r\n")),
    ];
    assert.doesNotMatch(head, /evil\.test/, stored);
    // Ours, added on top, says what really happened.
    const ours = ourResults(stored);
    assert.deepEqual(
      ours.filter((r) => r.method !== "arc").map((r) => `${r.method}=${r.result}`).sort(),
      ["dkim=none", "dmarc=none", "spf=pass"],
    );
    for (const field of kept) assert.ok(stored.includes(`\r\n${field}\r\n`), field);
    const ids = fieldValues(stored, "Authentication-Results").map((v) =>
      parseAuthResults(v).authservId
    );
    assert.deepEqual(ids, [HOSTNAME, "relay.example.net", "mx.local.test.evil.example"]);
    assert.ok(
      body.includes(
        `\r\nAuthentication-Results: ${HOSTNAME}; dmarc=pass header.from=evil.test\r\n`,
      ),
    );
  });

  await t.step({
    name: "forged fields of ours with a version, a comment or quotes go too",
    fn: async () => {
      const message = mail({
        from: "news@clean.test",
        subject: "forged variants",
        extra: [
          `Authentication-Results: ${HOSTNAME} 1; dmarc=pass header.from=evil.test`,
          `Authentication-Results: ${HOSTNAME} (trusted); spf=pass smtp.mailfrom=boss@evil.test`,
          `Authentication-Results: "${HOSTNAME}"; dkim=pass header.d=evil.test`,
        ],
      });
      assertDelivered(await deliver(mx, { sender: "news@clean.test", message }));
      const stored = bySubject(storedMessages(mx, ALICE.user), "forged variants");
      assert.doesNotMatch(stored, /evil\.test/, stored);
    },
  });

  await t.step("the server logged no error", () => {
    const errors = mx.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});

Deno.test("authenticated mail skips the inbound checks", async (t) => {
  await using mx = await startInbound(ZONE, { submission: true });
  const login = { security: "starttls" as const, user: ALICE.user, password: ALICE.password };

  /** Asserts a message went through unchecked: none of our verdicts, no DNS asked. */
  function assertUnchecked(stored: string): void {
    const ours = fieldValues(stored, "Authentication-Results")
      .filter((v) => parseAuthResults(v).authservId === HOSTNAME);
    assert.deepEqual(ours, [], stored);
    assert.deepEqual(fieldValues(stored, "Received-SPF"), [], stored);
    const asked = mx.dns.queries.filter((q) => q.name.endsWith("localhost"));
    assert.deepEqual(asked, [], "no SPF or DMARC lookup for the sender's domain");
  }

  await t.step("submission with AUTH: delivered without our verdicts or lookups", async () => {
    const r = await deliver(mx, {
      ...login,
      port: mx.submission,
      sender: ALICE.user,
      message: mail({ from: ALICE.user, subject: "submitted" }),
    });
    assertDelivered(r);
    const stored = bySubject(storedMessages(mx, ALICE.user), "submitted");
    assert.match(stored, / with ESMTPSA id /);
    assertUnchecked(stored);
  });

  await t.step("AUTH on the MX listener: delivered without our verdicts or lookups", async () => {
    const r = await deliver(mx, {
      ...login,
      sender: ALICE.user,
      message: mail({ from: ALICE.user, subject: "mx with auth" }),
    });
    assertDelivered(r);
    const stored = bySubject(storedMessages(mx, ALICE.user), "mx with auth");
    assert.match(stored, / with ESMTPSA id /);
    assertUnchecked(stored);
  });

  await t.step("the same sender without AUTH on MX is checked and refused by DMARC", async () => {
    const r = await deliver(mx, {
      sender: ALICE.user,
      message: mail({ from: ALICE.user, subject: "unauthenticated" }),
    });
    assert.equal(r.error?.code, 550, JSON.stringify(r));
    assert.match(r.error?.message ?? "", /^5\.7\.1 .*DMARC/);
    assert.ok(mx.dns.queries.some((q) => q.name === "_dmarc.localhost"));
  });

  // Open question for the issue (not a failure of what session.ts promises): the issue asks to
  // remove "any incoming Authentication-Results header carrying our own authserv-id", but the
  // removal lives in the MX checks, so a local user can submit to another local user a message
  // carrying `Authentication-Results: mx.local.test; dmarc=pass header.from=bank.example`, and
  // it is stored as it came.
  await t.step({
    name: "a forged field of ours in submitted mail is removed as well",
    fn: async () => {
      const r = await deliver(mx, {
        ...login,
        port: mx.submission,
        sender: ALICE.user,
        message: mail({
          from: "security@bank.example",
          subject: "submitted forgery",
          extra: [`Authentication-Results: ${HOSTNAME}; dmarc=pass header.from=bank.example`],
        }),
      });
      assertDelivered(r);
      const stored = bySubject(storedMessages(mx, ALICE.user), "submitted forgery");
      assert.doesNotMatch(stored, /header\.from=bank\.example/, stored);
    },
  });
});
