/**
 * Who may call the JSON API, against the real `postino serve` (black box):
 * no, wrong and malformed credentials (401 with `WWW-Authenticate: Basic
 * realm="postino"`), admin and user API tokens, deleted tokens and users,
 * admins and non-admins over Basic, one's own password and someone else's
 * (the new one then works over IMAP), the web session's cookie and its CSRF
 * rules, and the login throttle that slows repeated failures and counts them
 * in /metrics.
 *
 * Every failed login slows the next answer to the same client address, so
 * each request that fails on purpose comes from a loopback address of its
 * own (127.0.0.N, through node:http's localAddress).
 */
import assert from "node:assert/strict";
import {
  ApiClient,
  assertConforms,
  assertError,
  assertUnauthorized,
  type CallOptions,
  type OpenApiDocument,
  operations,
  parseSetCookie,
} from "./support/http_api.ts";
import { runPython } from "./support/http_probe.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const ALICE = { user: "alice@localhost", password: "pw-alice" };
const BOB = { user: "bob@localhost", password: "pw-bob" };

/** A concrete path for a templated one. */
function concrete(path: string): string {
  return path.replace("{domain}", "localhost").replace("{address}", BOB.user)
    .replace("{alias}", "nobody@localhost").replace("{id}", "999999");
}

/** Runs a CLI command that must succeed; gives stdout. */
async function cli(server: RunningPostino, args: string[]): Promise<string> {
  const r = await server.cli(args);
  assert.equal(r.code, 0, `postino ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const IMAP_LOGIN_PY = `
import imaplib, json, socket, sys
job = json.load(sys.stdin)
class Client(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(job["source"], 0))
answers = []
for password in job["passwords"]:
    c = Client("127.0.0.1", job["port"], timeout=15)
    try:
        c.login(job["user"], password)
        answers.append("OK")
    except imaplib.IMAP4.error:
        answers.append("NO")
    finally:
        try:
            c.logout()
        except Exception:
            pass
print(json.dumps(answers))
`;

/** The value of `postino_auth_failures_total{protocol="http"}` in /metrics (0 when absent). */
async function httpAuthFailures(api: ApiClient): Promise<number> {
  const r = await api.call("GET", "/metrics");
  assert.equal(r.status, 200, r.text);
  const m = /^postino_auth_failures_total\{protocol="http"\} (\d+)$/m.exec(r.text);
  return m ? Number(m[1]) : 0;
}

Deno.test("who may call the JSON API", async (t) => {
  await using server = await startPostino({
    args: ["--dev", "--http", "127.0.0.1:0", "--imap", "127.0.0.1:0"],
  });
  for (const u of [ALICE, BOB]) {
    const r = await server.cli(["user", "add", u.user, "--password-stdin"], `${u.password}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const [admin, bobToken, aliceToken] = await Promise.all([
    cli(server, ["token", "create", "ops"]),
    cli(server, ["token", "create", "bob-app", "--user", BOB.user]),
    cli(server, ["token", "create", "alice-app", "--user", ALICE.user]),
  ]).then((out) => out.map((s) => s.trim()));
  const api = new ApiClient(server.addresses.http.port);
  const doc = (await api.call("GET", "/api/v1/openapi.json")).json() as OpenApiDocument;
  let lastIp = 10;
  /** A loopback address no request has come from yet: a client the throttle has not seen. */
  const fresh = () => `127.0.0.${++lastIp}`;
  /** Calls `method path` with `credentials`, a JSON body `{}` when the operation takes one. */
  const probe = (method: string, template: string, credentials: CallOptions) =>
    api.call(method, concrete(template), {
      ...credentials,
      ...(doc.paths[template][method.toLowerCase()].requestBody ? { json: {} } : {}),
    });
  const bobBasic: [string, string] = [BOB.user, BOB.password];

  await t.step(
    "without credentials, every non-public operation is 401 with the challenge",
    async () => {
      const ops = operations(doc);
      assert.ok(ops.length >= 20, `${ops.length} operations`);
      for (const [method, path, op] of ops) {
        const r = await probe(method, path, {});
        if (op["x-access"] === "public") {
          assert.notEqual(r.status, 401, `${method} ${path} is public: ${r.text}`);
          assertError(r, 422, "address", `${method} ${path} with {}`);
        } else assertUnauthorized(r, `${method} ${path}`);
      }
      // The web pages handle a 401 themselves; a Basic challenge would make the browser ask.
      const xhr = await api.call("GET", "/api/v1/users", {
        headers: { "X-Requested-With": "XMLHttpRequest" },
      });
      assertError(xhr, 401);
      assert.equal(xhr.headers.get("www-authenticate"), null);
    },
  );

  await t.step("wrong, unknown and malformed credentials are 401 with the challenge", async () => {
    // Each wrong login once per account (the throttle also counts per account), all at once.
    const logins: [string, CallOptions][] = [
      ["a wrong password", { basic: [ALICE.user, "wrong"] }],
      ["an unknown user", { basic: ["nobody@localhost", ALICE.password] }],
      ["an empty password", { basic: [BOB.user, ""] }],
    ];
    const malformed: [string, CallOptions][] = [
      ["Basic that is not base64", { authorization: "Basic !!!not base64!!!" }],
      ["Basic without a colon", { authorization: `Basic ${btoa("alice@localhost")}` }],
      ["Basic without anything", { authorization: "Basic" }],
      ["Basic that is not UTF-8", { authorization: `Basic ${btoa("\xff\xfe:\xff")}` }],
      ["another scheme", { authorization: `Digest username="alice@localhost"` }],
      ["a bare word", { authorization: "alice" }],
    ];
    const requests = [
      ...logins.map(([what, c]) => [what, "/api/v1/users", c] as const),
      ...malformed.flatMap(([what, c]) =>
        ["/api/v1/users", "/api/v1/account"].map((path) => [what, path, c] as const)
      ),
    ];
    await Promise.all(requests.map(async ([what, path, credentials]) => {
      const r = await api.call("GET", path, { ...credentials, from: fresh() });
      assertUnauthorized(r, `${what}: GET ${path}`);
    }));
  });

  // Unknown tokens share one throttle record, so the deleted ones are tried together, later.
  const deadTokens: [string, string][] = [["a token of another shape", "not-a-token"]];

  await t.step("an admin token administers; a token works until deleted", async () => {
    for (const path of ["/api/v1/users", "/api/v1/domains", "/api/v1/stats", "/api/v1/queue"]) {
      const r = await api.call("GET", path, { bearer: admin });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
    }
    const temp = (await cli(server, ["token", "create", "temp"])).trim();
    assert.equal((await api.call("GET", "/api/v1/users", { bearer: temp })).status, 200);
    await cli(server, ["token", "del", "temp"]);
    deadTokens.push(["a deleted token", temp]);
  });

  await t.step("a user's token acts as the user: 403 on every admin operation", async () => {
    const me = await api.call("GET", "/api/v1/account", { bearer: bobToken });
    assert.equal(me.status, 200, me.text);
    assert.equal((me.json() as { address: string }).address, BOB.user);
    for (const [method, path, op] of operations(doc)) {
      if (op["x-access"] !== "admin") continue;
      assertError(
        await probe(method, path, { bearer: bobToken }),
        403,
        undefined,
        `${method} ${path}`,
      );
    }
    // An admin user's token is an admin's.
    const users = await api.call("GET", "/api/v1/users", { bearer: aliceToken });
    assert.equal(users.status, 200, users.text);
    const aliceMe = await api.call("GET", "/api/v1/account", { bearer: aliceToken });
    assert.equal((aliceMe.json() as { address: string }).address, ALICE.user);
    // The account shows the storage quota `postino user quota` set; none is null.
    type Usage = { usage: { quotaBytes: number | null } };
    assert.equal((aliceMe.json() as Usage).usage.quotaBytes, null);
    const quota = await server.cli(["user", "quota", BOB.user, "5M"]);
    assert.equal(quota.code, 0, quota.stderr);
    const bobMe = await api.call("GET", "/api/v1/account", { bearer: bobToken });
    assert.equal((bobMe.json() as Usage).usage.quotaBytes, 5 * 1024 * 1024);
  });

  await t.step("Basic: an admin may, a non-admin gets 403 on every admin operation", async () => {
    const users = await api.call("GET", "/api/v1/users", { basic: [ALICE.user, ALICE.password] });
    assert.equal(users.status, 200, users.text);
    for (const [method, path, op] of operations(doc)) {
      if (op["x-access"] !== "admin") continue;
      assertError(
        await probe(method, path, { basic: bobBasic }),
        403,
        undefined,
        `${method} ${path}`,
      );
    }
    const aliases = await api.call("GET", "/api/v1/aliases", { basic: bobBasic });
    assert.equal(aliases.status, 200, aliases.text);
  });

  await t.step("GET /api/v1/session answers as documented for Basic and tokens too", async () => {
    const schema = doc.paths["/api/v1/session"].get.responses["200"].content!["application/json"]
      .schema;
    for (const credentials of [{ basic: bobBasic }, { bearer: bobToken }, { bearer: admin }]) {
      const r = await api.call("GET", "/api/v1/session", credentials);
      assert.equal(r.status, 200, r.text);
      assertConforms(r.json(), schema, doc, `GET /api/v1/session ${Object.keys(credentials)}`);
    }
  });

  await t.step("`user admin X on|off` takes effect at once", async () => {
    await cli(server, ["user", "admin", BOB.user, "on"]);
    assert.equal((await api.call("GET", "/api/v1/users", { basic: bobBasic })).status, 200);
    assert.equal((await api.call("GET", "/api/v1/users", { bearer: bobToken })).status, 200);
    await cli(server, ["user", "admin", BOB.user, "off"]);
    assertError(await api.call("GET", "/api/v1/users", { basic: bobBasic }), 403);
    assertError(await api.call("GET", "/api/v1/users", { bearer: bobToken }), 403);
  });

  await t.step("a user sets only their own password, which then works over IMAP", async () => {
    const theirs = await api.call("PUT", `/api/v1/users/${ALICE.user}/password`, {
      basic: bobBasic,
      json: { password: "taken-over" },
    });
    assertError(theirs, 403);
    assert.equal(
      (await api.call("GET", "/api/v1/account", { basic: [ALICE.user, ALICE.password] })).status,
      200,
      "alice's password is unchanged",
    );
    const own = await api.call("PUT", `/api/v1/users/${BOB.user}/password`, {
      basic: bobBasic,
      json: { password: "pw-bob-2" },
    });
    assert.equal(own.status, 204, own.text);
    BOB.password = "pw-bob-2";
    bobBasic[1] = BOB.password;
    assertUnauthorized(
      await api.call("GET", "/api/v1/account", { basic: [BOB.user, "pw-bob"], from: fresh() }),
    );
    assert.equal((await api.call("GET", "/api/v1/account", { basic: bobBasic })).status, 200);
    const imap = await runPython<string[]>(IMAP_LOGIN_PY, {
      port: server.addresses.imap.port,
      source: fresh(),
      user: BOB.user,
      passwords: [BOB.password, "pw-bob"],
    });
    assert.deepEqual(imap, ["OK", "NO"], "the new password logs in over IMAP, the old does not");
  });

  await t.step("POST /api/v1/session sets an HttpOnly, SameSite=Strict cookie for /", async () => {
    const r = await api.call("POST", "/api/v1/session", {
      json: { address: "Alice@LOCALHOST", password: ALICE.password },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get("cache-control"), "no-store");
    const cookie = parseSetCookie(r.headers.get("set-cookie") ?? "");
    assert.equal(cookie.name, "postino_session");
    assert.match(cookie.value, /^[A-Za-z0-9_-]{40,}$/);
    assert.equal(cookie.attributes.get("path"), "/");
    assert.ok(cookie.attributes.has("httponly"), "HttpOnly");
    assert.equal(cookie.attributes.get("samesite"), "Strict");
    assert.ok(!cookie.attributes.has("secure"), "no Secure over plain http");
    assert.ok(Number(cookie.attributes.get("max-age")) > 0, "Max-Age");
    const body = r.json() as { address: string; admin: boolean; csrfToken: string };
    assert.deepEqual({ ...body, csrfToken: "" }, {
      address: ALICE.user,
      admin: true,
      csrfToken: "",
    });
    assert.ok(body.csrfToken.length >= 20, body.csrfToken);
    const session = cookie.value;
    const csrf = body.csrfToken;

    const me = await api.call("GET", "/api/v1/session", { session });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json(), { address: ALICE.user, admin: true, csrfToken: csrf });
    assert.equal((await api.call("GET", "/api/v1/users", { session })).status, 200);

    const add = (domain: string, options: CallOptions) =>
      api.call("POST", "/api/v1/domains", { session, json: { domain }, ...options });
    assertError(await add("nocsrf.test", {}), 403, "X-CSRF-Token", "no X-CSRF-Token");
    assertError(await add("wrongcsrf.test", { csrf: csrf.slice(1) + "x" }), 403, "X-CSRF-Token");
    assertError(await add("emptycsrf.test", { csrf: "" }), 403, "X-CSRF-Token");
    for (const origin of ["http://evil.example", "null", `http://localhost:${api.port}`]) {
      const r = await add("cross.test", { csrf, headers: { Origin: origin } });
      assertError(r, 403, undefined, `Origin: ${origin}`);
    }
    assert.equal((await add("right.test", { csrf })).status, 201);
    assert.equal((await add("same.test", { csrf, headers: { Origin: api.origin } })).status, 201);
    const domains = (await cli(server, ["domain", "list"])).split("\n").map((l) =>
      l.split("\t")[0]
    );
    assert.deepEqual(domains.filter((d) => d), ["localhost", "right.test", "same.test"]);
    for (const d of ["right.test", "same.test"]) {
      const r0 = await api.call("DELETE", `/api/v1/domains/${d}`, { session });
      assertError(r0, 403, "X-CSRF-Token");
      const r = await api.call("DELETE", `/api/v1/domains/${d}`, { session, csrf });
      assert.equal(r.status, 204, r.text);
    }

    // Signing in is refused from another origin and with a wrong password.
    const cross = await api.call("POST", "/api/v1/session", {
      json: { address: ALICE.user, password: ALICE.password },
      headers: { Origin: "http://evil.example" },
    });
    assertError(cross, 403);
    assert.equal(cross.headers.get("set-cookie"), null);
    const wrong = await api.call("POST", "/api/v1/session", {
      json: { address: ALICE.user, password: "wrong" },
      from: fresh(),
    });
    assertUnauthorized(wrong);
    assert.equal(wrong.headers.get("set-cookie"), null);
    assertUnauthorized(await api.call("GET", "/api/v1/session", { session: "x".repeat(43) }));
    assertUnauthorized(await api.call("GET", "/api/v1/session", { session: "" }));

    // A non-admin's session may not administer.
    const bob = await api.call("POST", "/api/v1/session", {
      json: { address: BOB.user, password: BOB.password },
    });
    const bobSession = parseSetCookie(bob.headers.get("set-cookie") ?? "").value;
    const bobCsrf = (bob.json() as { csrfToken: string }).csrfToken;
    assertError(await api.call("GET", "/api/v1/users", { session: bobSession }), 403);
    assertError(await add("bob.test", { session: bobSession, csrf: bobCsrf }), 403);
    assertError(await add("mixed.test", { csrf: bobCsrf }), 403, "X-CSRF-Token", "bob's token");

    // Signing out needs the CSRF token too, removes the cookie and ends the session.
    assertError(await api.call("DELETE", "/api/v1/session", { session }), 403, "X-CSRF-Token");
    const out = await api.call("DELETE", "/api/v1/session", { session, csrf });
    assert.equal(out.status, 204, out.text);
    const removed = parseSetCookie(out.headers.get("set-cookie") ?? "");
    assert.equal(removed.name, "postino_session");
    assert.equal(removed.value, "");
    assert.equal(removed.attributes.get("max-age"), "0");
    assertUnauthorized(await api.call("GET", "/api/v1/session", { session }));
    assertUnauthorized(await add("after.test", { csrf }));
    assert.equal((await api.call("GET", "/api/v1/session", { session: bobSession })).status, 200);
  });

  await t.step("changing one's own password from a session needs currentPassword", async () => {
    const login = await api.call("POST", "/api/v1/session", {
      json: { address: BOB.user, password: BOB.password },
    });
    assert.equal(login.status, 201, login.text);
    const session = parseSetCookie(login.headers.get("set-cookie") ?? "").value;
    const csrf = (login.json() as { csrfToken: string }).csrfToken;
    const change = (json: unknown) =>
      api.call("PUT", `/api/v1/users/${BOB.user}/password`, { session, csrf, json, from: fresh() });
    assertError(await change({ password: "pw-bob-3" }), 403, "currentPassword");
    assertError(
      await change({ password: "pw-bob-3", currentPassword: "wrong" }),
      403,
      "currentPassword",
    );
    assert.equal((await api.call("GET", "/api/v1/account", { basic: bobBasic })).status, 200);
    const ok = await change({ password: "pw-bob-3", currentPassword: BOB.password });
    assert.equal(ok.status, 204, ok.text);
    assertUnauthorized(await api.call("GET", "/api/v1/session", { session }), "the session ended");
    BOB.password = "pw-bob-3";
    bobBasic[1] = BOB.password;
    assert.equal((await api.call("GET", "/api/v1/account", { basic: bobBasic })).status, 200);
  });

  await t.step("deleting a user ends their Basic, token and session", async () => {
    const add = await api.call("POST", "/api/v1/users", {
      bearer: admin,
      json: { address: "carol@localhost", password: "pw-carol" },
    });
    assert.equal(add.status, 201, add.text);
    const token = (await cli(server, ["token", "create", "carol-app", "--user", "carol@localhost"]))
      .trim();
    const login = await api.call("POST", "/api/v1/session", {
      json: { address: "carol@localhost", password: "pw-carol" },
    });
    const session = parseSetCookie(login.headers.get("set-cookie") ?? "").value;
    const ways: CallOptions[] = [{ basic: ["carol@localhost", "pw-carol"] }, { session }];
    assert.equal((await api.call("GET", "/api/v1/account", { bearer: token })).status, 200);
    for (const way of ways) {
      assert.equal((await api.call("GET", "/api/v1/account", way)).status, 200);
    }
    const del = await api.call("DELETE", "/api/v1/users/carol@localhost", { bearer: admin });
    assert.equal(del.status, 204, del.text);
    for (const way of ways) {
      assertUnauthorized(await api.call("GET", "/api/v1/account", { ...way, from: fresh() }));
    }
    deadTokens.push(["a deleted user's token", token]);
  });

  await t.step("unknown, deleted and deleted users' tokens are 401", async () => {
    assert.equal(deadTokens.length, 3);
    await Promise.all(deadTokens.map(async ([what, bearer]) => {
      const r = await api.call("GET", "/api/v1/account", { bearer, from: fresh() });
      assertUnauthorized(r, what);
    }));
  });

  await t.step("repeated wrong passwords slow down and are counted in /metrics", async () => {
    const before = await httpAuthFailures(api);
    const client = fresh();
    const attempt = (timeoutMs?: number) =>
      api.call("GET", "/api/v1/users", {
        basic: ["victim@localhost", "guess"],
        from: client,
        timeoutMs,
      });
    const first = await attempt();
    assertUnauthorized(first);
    // The second and third failures (held back about 1 s and 2 s) at once, to save time.
    const [second, third] = await Promise.all([attempt(), attempt()]);
    assertUnauthorized(second);
    assertUnauthorized(third);
    // The fourth is held back about 4 s; give it the first's time plus 1.5 s.
    const fourth = await attempt(first.elapsedMs + 1_500);
    assert.equal(
      fourth.status,
      0,
      `the 4th failure answered in ${fourth.elapsedMs} ms, the 1st in ${first.elapsedMs} ms`,
    );
    assert.equal(await httpAuthFailures(api) - before, 4, "four failures counted");
    // Another client is not held back by this one's failures.
    const other = await api.call("GET", "/api/v1/users", { basic: [ALICE.user, ALICE.password] });
    assert.equal(other.status, 200, other.text);
  });
});
