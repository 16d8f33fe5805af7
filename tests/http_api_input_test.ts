/**
 * Malformed input to the JSON API, against the real `postino serve` (black
 * box, `fetch` on port 0): bodies that are not JSON, not an object, miss or
 * misspell a field or give it the wrong type, or are too large (declared or
 * chunked), on every operation that takes a body; bad, unknown, duplicate and
 * still-used names; invalid queue ids; unknown paths. Each answer is a 4xx in
 * the one error shape (`{"error"}` or `{"error", "field"}` naming the field),
 * never a 500 and never a stack trace.
 */
import assert from "node:assert/strict";
import {
  ApiClient,
  assertError,
  type CallOptions,
  type OpenApiDocument,
  operations,
} from "./support/http_api.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const ALICE = { user: "alice@localhost", password: "pw-alice" };
const BOB = { user: "bob@localhost", password: "pw-bob" };

/** A valid body per operation with one, and for each field a value of the wrong type. */
const BODIES: Record<string, { valid: Record<string, unknown>; wrong: [unknown, string][] }> = {
  "POST /api/v1/session": {
    valid: { address: ALICE.user, password: ALICE.password },
    wrong: [
      [{ address: 1, password: "x" }, "address"],
      [{ address: "a", password: [] }, "password"],
    ],
  },
  "POST /api/v1/domains": {
    valid: { domain: "typed.test" },
    wrong: [[{ domain: 5 }, "domain"]],
  },
  "POST /api/v1/users": {
    valid: { address: "typed@localhost", password: "x" },
    wrong: [
      [{ address: true, password: "x" }, "address"],
      [{ address: "t@localhost", password: 12 }, "password"],
      [{ address: "t@localhost", password: "x", admin: "yes" }, "admin"],
    ],
  },
  "PUT /api/v1/users/{address}/password": {
    valid: { password: "x" },
    wrong: [
      [{ password: null }, "password"],
      [{ password: "x", currentPassword: 1 }, "currentPassword"],
    ],
  },
  "PUT /api/v1/users/{address}/admin": {
    valid: { admin: true },
    wrong: [[{ admin: "true" }, "admin"], [{ admin: 1 }, "admin"]],
  },
  "POST /api/v1/aliases": {
    valid: { alias: "typed@localhost", target: BOB.user },
    wrong: [
      [{ alias: [], target: "b@x.test" }, "alias"],
      [{ alias: "a@localhost", target: {} }, "target"],
    ],
  },
  "POST /api/v1/dkim": {
    valid: { domain: "localhost" },
    wrong: [
      [{ domain: null }, "domain"],
      [{ domain: "localhost", selector: 1 }, "selector"],
      [{ domain: "localhost", algorithm: false }, "algorithm"],
    ],
  },
  "POST /api/v1/send": {
    valid: { from: BOB.user, to: [ALICE.user], subject: "typed" },
    wrong: [
      [{ from: 1, to: [], subject: "" }, "from"],
      [{ from: BOB.user, to: "a@localhost", subject: "" }, "to"],
      [{ from: BOB.user, to: [ALICE.user, 5], subject: "" }, "to[1]"],
      [{ from: BOB.user, to: [], cc: [1], subject: "" }, "cc[0]"],
      [{ from: BOB.user, to: [], subject: 2 }, "subject"],
      [{ from: BOB.user, to: [], subject: "", attachments: [{}] }, "attachments[0].filename"],
      [{ from: BOB.user, to: [], subject: "", headers: { "X-A": 1 } }, "headers.X-A"],
    ],
  },
};

/** A concrete path for a templated one: params that exist where it matters, harmless elsewhere. */
function concrete(path: string): string {
  return path.replace("{domain}", "localhost").replace("{address}", BOB.user)
    .replace("{alias}", "nobody@localhost").replace("{id}", "999999");
}
/** Bodies that are not JSON (400). */
const NOT_JSON = ["", "{", '{"a":1', "{'a': 1}", "nul", "[1,]", "\u00ff", '{"a":1}}'];
/** JSON that is not an object (422 without a field). */
const NOT_AN_OBJECT = [
  "[]",
  "[{}]",
  "5",
  "null",
  '"text"',
  "true",
  "[".repeat(3000) + "]".repeat(3000),
];

/** The non-empty lines of a CLI's output. */
function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/** Runs a CLI command that must succeed; gives stdout. */
async function cli(server: RunningPostino, args: string[]): Promise<string> {
  const r = await server.cli(args);
  assert.equal(r.code, 0, `postino ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test("malformed input to the JSON API gets a 4xx in the one error shape", async (t) => {
  await using server = await startPostino({
    args: ["--dev", "--http", "127.0.0.1:0", "--max-message-size", "100K"],
  });
  for (const u of [ALICE, BOB]) {
    const r = await server.cli(["user", "add", u.user, "--password-stdin"], `${u.password}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const admin = (await cli(server, ["token", "create", "ops"])).trim();
  const bobToken = (await cli(server, ["token", "create", "bob-app", "--user", BOB.user])).trim();
  const api = new ApiClient(server.addresses.http.port);
  const doc = (await api.call("GET", "/api/v1/openapi.json")).json() as OpenApiDocument;
  const call = async (method: string, path: string, options: CallOptions = {}) => {
    const r = await api.call(method, path, options);
    assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${r.text}`);
    return r;
  };
  const asAdmin = (method: string, path: string, options: CallOptions = {}) =>
    call(method, path, { bearer: admin, ...options });
  // Things to collide with: an alias and a DKIM key.
  for (
    const [path, json] of [
      ["/api/v1/aliases", { alias: "sales@localhost", target: ALICE.user }],
      ["/api/v1/dkim", { domain: "localhost", selector: "ed1", algorithm: "ed25519" }],
    ] as const
  ) {
    const r = await asAdmin("POST", path, { json });
    assert.equal(r.status, 201, r.text);
  }

  await t.step("the test knows a valid body for every operation that takes one", () => {
    const withBody = operations(doc).filter(([, , op]) => op.requestBody).map(([m, p]) =>
      `${m} ${p}`
    );
    assert.deepEqual(withBody.sort(), Object.keys(BODIES).sort());
  });

  await t.step("malformed bodies: 415, 400, 422 with the field, 413, on every route", async () => {
    const big = new TextEncoder().encode(JSON.stringify({ padding: "x".repeat(1 << 20) }));
    for (const [method, template, op] of operations(doc)) {
      if (!op.requestBody) continue;
      const key = `${method} ${template}`;
      const path = concrete(template);
      const send = (options: CallOptions) => asAdmin(method, path, options);
      const { valid, wrong } = BODIES[key];
      for (const contentType of [undefined, "text/plain", "application/x-www-form-urlencoded"]) {
        const r = await send({ body: "a=b", contentType });
        assertError(r, 415, undefined, `${key} ${contentType}`);
      }
      for (const body of NOT_JSON) {
        assertError(await send({ body, contentType: "application/json" }), 400, undefined, key);
      }
      for (const body of NOT_AN_OBJECT) {
        const r = await send({ body, contentType: "application/json" });
        assertError(r, 422, undefined, `${key} ${body.slice(0, 9)}`);
      }
      const schema = op.requestBody.content["application/json"].schema;
      assertError(await send({ json: {} }), 422, schema.required![0], `${key} {}`);
      for (const name of schema.required!) {
        const { [name]: _, ...rest } = valid;
        assertError(await send({ json: rest }), 422, name, `${key} without ${name}`);
      }
      assertError(await send({ json: { ...valid, bogus: 1 } }), 422, "bogus", `${key} bogus`);
      for (const [body, field] of wrong) {
        assertError(await send({ json: body }), 422, field, `${key} ${JSON.stringify(body)}`);
      }
      assertError(await send({ body: big, contentType: "application/json" }), 413, undefined, key);
      const chunked = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < big.length; i += 16_384) controller.enqueue(big.slice(i, i + 16_384));
          controller.close();
        },
      });
      const r = await send({ body: chunked, contentType: "application/json" });
      assertError(r, 413, undefined, `${key} chunked`);
    }
  });

  await t.step("bad addresses and domains: 422 naming the field", async () => {
    const cases: [string, string, unknown, string][] = [
      ["POST", "/api/v1/domains", { domain: "bad domain!" }, "domain"],
      ["POST", "/api/v1/domains", { domain: "-x-.test" }, "domain"],
      ["POST", "/api/v1/domains", { domain: "a..b" }, "domain"],
      ["POST", "/api/v1/users", { address: "not an address", password: "x" }, "address"],
      ["POST", "/api/v1/users", { address: "x@bad domain", password: "x" }, "address"],
      ["POST", "/api/v1/users", { address: "new@localhost", password: "a\nb" }, "password"],
      ["POST", "/api/v1/aliases", { alias: "nope", target: BOB.user }, "alias"],
      ["POST", "/api/v1/aliases", { alias: "new@localhost", target: "a b" }, "target"],
      ["POST", "/api/v1/dkim", { domain: "bad domain!" }, "domain"],
      ["POST", "/api/v1/dkim", { domain: "localhost", selector: "a b" }, "selector"],
      ["POST", "/api/v1/dkim", { domain: "localhost", algorithm: "dsa" }, "algorithm"],
      ["PUT", "/api/v1/users/bob@localhost/password", { password: "a\u0000b" }, "password"],
      ["DELETE", "/api/v1/users/not-an-address", undefined, "address"],
      ["DELETE", "/api/v1/users/%ZZ", undefined, "address"],
      ["DELETE", "/api/v1/aliases/nope", undefined, "alias"],
      ["DELETE", "/api/v1/domains/bad%20domain", undefined, "domain"],
      ["GET", "/api/v1/domains/bad%20domain/dns", undefined, "domain"],
      ["GET", `/api/v1/domains/${"a".repeat(300)}.test/dns`, undefined, "domain"],
    ];
    for (const [method, path, json, field] of cases) {
      assertError(
        await asAdmin(method, path, { json }),
        422,
        field,
        `${method} ${path} ${JSON.stringify(json)}`,
      );
    }
    const sends: [unknown, string][] = [
      [{ from: "not an address", to: [ALICE.user], subject: "" }, "from"],
      [{ from: BOB.user, to: [ALICE.user, "nope"], subject: "" }, "to[1]"],
      [{ from: BOB.user, to: [], cc: ["a@b@c"], subject: "" }, "cc[0]"],
      [{
        from: BOB.user,
        to: [ALICE.user],
        subject: "",
        attachments: [{ filename: "a", contentType: "text/plain", content: "!!" }],
      }, "attachments[0].content"],
    ];
    for (const [json, field] of sends) {
      assertError(
        await call("POST", "/api/v1/send", { bearer: bobToken, json }),
        422,
        field,
        JSON.stringify(json),
      );
    }
    assertError(
      await call("POST", "/api/v1/send", {
        bearer: bobToken,
        json: { from: BOB.user, to: [], subject: "" },
      }),
      422,
      true,
      "no recipient",
    );
    assert.deepEqual(lines(await cli(server, ["domain", "list"])), [
      "localhost\t2 users\t1 aliases",
    ]);
  });

  await t.step("an address or domain that is not local: 422 naming the field", async () => {
    // OpenAPI: "422: A field is invalid; `field` names it". Each case is checked, then all reported.
    const cases: [string, unknown, string][] = [
      ["/api/v1/users", { address: "x@elsewhere.test", password: "x" }, "address"],
      ["/api/v1/aliases", { alias: "x@elsewhere.test", target: BOB.user }, "alias"],
      ["/api/v1/aliases", { alias: "self@localhost", target: "self@localhost" }, "target"],
      ["/api/v1/dkim", { domain: "elsewhere.test" }, "domain"],
    ];
    const wrong: string[] = [];
    for (const [path, json, field] of cases) {
      const r = await asAdmin("POST", path, { json });
      assertError(r, 422, r.status === 422 ? (r.json() as { field?: string }).field : undefined);
      if ((r.json() as { field?: string }).field !== field) {
        wrong.push(`POST ${path} ${JSON.stringify(json)}: want field ${field}, got ${r.text}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  await t.step("duplicates 409, unknown things 404, a domain in use 409", async () => {
    const conflicts: [string, string, unknown][] = [
      ["POST", "/api/v1/domains", { domain: "LocalHost" }],
      ["POST", "/api/v1/users", { address: "Bob@localhost", password: "x" }],
      ["POST", "/api/v1/aliases", { alias: "sales@localhost", target: ALICE.user }],
      ["POST", "/api/v1/aliases", { alias: BOB.user, target: ALICE.user }],
      ["POST", "/api/v1/dkim", { domain: "localhost", selector: "ed1", algorithm: "ed25519" }],
      ["DELETE", "/api/v1/domains/localhost", undefined],
    ];
    for (const [method, path, json] of conflicts) {
      assertError(
        await asAdmin(method, path, { json }),
        409,
        undefined,
        `${method} ${path} ${JSON.stringify(json)}`,
      );
    }
    const unknown: [string, string, unknown][] = [
      ["DELETE", "/api/v1/domains/nowhere.test", undefined],
      ["GET", "/api/v1/domains/nowhere.test/dns", undefined],
      ["DELETE", "/api/v1/users/nobody@localhost", undefined],
      ["DELETE", "/api/v1/aliases/nobody@localhost", undefined],
      ["PUT", "/api/v1/users/nobody@localhost/admin", { admin: true }],
      ["PUT", "/api/v1/users/nobody@localhost/password", { password: "x" }],
      ["DELETE", "/api/v1/queue/987654", undefined],
      ["POST", "/api/v1/queue/987654/retry", undefined],
      ["POST", "/api/v1/queue/0/retry", undefined],
    ];
    for (const [method, path, json] of unknown) {
      assertError(await asAdmin(method, path, { json }), 404, undefined, `${method} ${path}`);
    }
    assert.deepEqual(lines(await cli(server, ["user", "list"])).length, 2);
  });

  await t.step("invalid queue ids are 400; unknown API paths are 404 JSON", async () => {
    for (const id of ["abc", "-1", "1.5", "1e3", "0x10", "99999999999999999999", "%20"]) {
      for (
        const [method, path] of [["DELETE", `/api/v1/queue/${id}`], [
          "POST",
          `/api/v1/queue/${id}/retry`,
        ]]
      ) {
        assertError(await asAdmin(method, path), 400, "id", `${method} ${path}`);
      }
    }
    for (
      const path of [
        "/api/v1/nope",
        "/api/v1",
        "/api/v2/users",
        "/api/v1/domains/localhost/nope",
      ]
    ) {
      assertError(await asAdmin("GET", path), 404, undefined, path);
      assertError(await api.call("GET", path), 404, undefined, `${path} without credentials`);
    }
    const wrongMethod = await asAdmin("PATCH", "/api/v1/domains", { json: {} });
    assertError(wrongMethod, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, POST");
  });

  await t.step("a trailing slash never gets a 405 that allows the very method used", async () => {
    // RFC 9110 §15.5.6: a 405's Allow lists what the resource supports, so not the method used.
    const wrong: string[] = [];
    const paths = ["/api/v1/domains/", "/api/v1/users/", "/api/v1/domains/localhost/dns/"];
    for (const path of paths) {
      const r = await asAdmin("GET", path);
      assertError(r, r.status, undefined, `GET ${path}`);
      const allow = (r.headers.get("allow") ?? "").split(/,\s*/);
      if (r.status === 405 && allow.includes("GET")) {
        wrong.push(`GET ${path}: 405, Allow: ${allow.join(", ")}: ${r.text}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  await t.step("nothing above made the server log a failed handler", () => {
    const failures = server.entries().filter((e) => /HTTP handler failed/.test(e.message));
    assert.deepEqual(failures.map((e) => e.properties), []);
  });
});
