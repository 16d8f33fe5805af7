import assert from "node:assert/strict";
import { Authenticator } from "../auth/authenticator.ts";
import { hashPassword } from "../auth/password.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { type HostPort, type ListenerName, loadConfig } from "../config.ts";
import { SendLimits } from "../delivery/send_limits.ts";
import { ServerMetrics } from "../metrics/server_metrics.ts";
import { addDomain, addUser, findUser } from "../store/accounts.ts";
import { createApiToken } from "../store/api_tokens.ts";
import { openStore, storePath } from "../store/db.ts";
import { openWebSession } from "../store/web_sessions.ts";
import { createHttpApp } from "./app.ts";
import type { HttpEnv, HttpServices } from "./context.ts";

const PASSWORD = "pw-alice";
const FROM_AFAR: HttpEnv = { remoteAddr: "203.0.113.5", secure: false, listener: "http" };

/** A service no test here may touch: any use of it fails the test. */
function untouchable<T>(name: string): T {
  return new Proxy({}, {
    get(_, property) {
      throw new Error(`The HTTP app used services.${name}.${String(property)}`);
    },
  }) as T;
}

/**
 * The app over a real store in a temp dir with alice (an admin), an admin
 * token and a web session of alice's; `listening` says which listeners run.
 */
async function harness(listening: Partial<Record<ListenerName, HostPort>> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "postino-http-app-test-" });
  const store = openStore(storePath(dir));
  const config = loadConfig({
    flags: { data: dir, hostname: "mail.postino.test" },
    env: {},
    systemHostname: () => "mail.postino.test",
  });
  addDomain(store, "postino.test");
  addUser(store, "alice@postino.test", await hashPassword(PASSWORD));
  const token = await createApiToken(store, "ops");
  const { secret: session } = await openWebSession(
    store,
    findUser(store, "alice@postino.test")!.id,
  );
  const services = {
    config,
    store,
    authenticator: new Authenticator(store, new LoginThrottle(), () => Promise.resolve()),
    metrics: new ServerMetrics(store),
    sendLimits: new SendLimits({
      messagesPerHour: config.limits.sendPerHour,
      recipientsPerHour: config.limits.recipientsPerHour,
    }),
    listening: (name: ListenerName) => listening[name],
    healthy: () => true,
    commits: untouchable("commits"),
    locks: untouchable("locks"),
    outbound: untouchable("outbound"),
    resolver: untouchable("resolver"),
    checker: untouchable("checker"),
    changes: untouchable("changes"),
    sessionsPerUser: new Map(),
  } as HttpServices;
  const app = createHttpApp(services);
  return {
    token,
    session,
    basic: `Basic ${btoa(`alice@postino.test:${PASSWORD}`)}`,
    fetch: async (path: string, env: HttpEnv, init: RequestInit = {}) => {
      const host = env.listener === "https"
        ? "https://mail.postino.test"
        : "http://mail.postino.test";
      const r = await app.fetch(new Request(host + path, init), env);
      return { status: r.status, headers: r.headers, text: await r.text() };
    },
    async [Symbol.asyncDispose]() {
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("createHttpApp() refuses credentials sent in the clear from afar", async (t) => {
  await using h = await harness();
  const ways: [string, Record<string, string>][] = [
    ["Basic", { Authorization: h.basic }],
    ["a Bearer token", { Authorization: `Bearer ${h.token}` }],
  ];

  await t.step("Basic and Bearer get 403 on every kind of route", async () => {
    for (const [what, headers] of ways) {
      for (const path of ["/api/v1/users", "/api/v1/account", "/api/v1/session", "/metrics"]) {
        const r = await h.fetch(path, FROM_AFAR, { headers });
        assert.equal(r.status, 403, `${what} ${path}: ${r.text}`);
        const body = JSON.parse(r.text);
        assert.deepEqual(Object.keys(body), ["error"]);
        assert.match(body.error, /HTTPS/);
      }
    }
    const wrong = await h.fetch("/api/v1/users", FROM_AFAR, {
      headers: { Authorization: `Basic ${btoa("alice@postino.test:wrong")}` },
    });
    assert.equal(wrong.status, 403, "refused before the password is even checked");
  });

  await t.step("signing in over plain HTTP from afar is refused without a cookie", async () => {
    const r = await h.fetch("/api/v1/session", FROM_AFAR, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address: "alice@postino.test", password: PASSWORD }),
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.headers.get("set-cookie"), null);
  });

  await t.step("a session cookie from afar is ignored: 401, as without credentials", async () => {
    const r = await h.fetch("/api/v1/users", FROM_AFAR, {
      headers: { Cookie: `postino_session=${h.session}` },
    });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.headers.get("www-authenticate"), 'Basic realm="postino"');
  });

  await t.step("the same from loopback or over TLS is accepted", async () => {
    const envs: [string, HttpEnv][] = [
      ["127.0.0.1", { remoteAddr: "127.0.0.1", secure: false, listener: "http" }],
      ["::1", { remoteAddr: "::1", secure: false, listener: "http" }],
      ["::ffff:127.0.0.2", { remoteAddr: "::ffff:127.0.0.2", secure: false, listener: "http" }],
      ["TLS from afar", { remoteAddr: "203.0.113.5", secure: true, listener: "https" }],
    ];
    for (const [where, env] of envs) {
      for (
        const [what, headers] of [...ways, ["a session", {
          Cookie: `postino_session=${h.session}`,
        }]] as const
      ) {
        const r = await h.fetch("/api/v1/users", env, { headers });
        assert.equal(r.status, 200, `${what} from ${where}: ${r.text}`);
      }
    }
  });

  await t.step("addresses that only look like loopback are not", async () => {
    for (
      const remoteAddr of [
        "128.0.0.1",
        "::2",
        "10.127.0.0.1",
        "::ffff:10.0.0.1",
        "127.0.0.1.example",
      ]
    ) {
      const r = await h.fetch("/api/v1/users", { remoteAddr, secure: false, listener: "http" }, {
        headers: { Authorization: `Bearer ${h.token}` },
      });
      assert.equal(r.status, 403, `${remoteAddr}: ${r.text}`);
    }
  });

  await t.step(
    "/metrics from afar without credentials is 401, with an admin's over TLS 200",
    async () => {
      assert.equal((await h.fetch("/metrics", FROM_AFAR)).status, 401);
      const tls: HttpEnv = { remoteAddr: "203.0.113.5", secure: true, listener: "https" };
      const r = await h.fetch("/metrics", tls, { headers: { Authorization: `Bearer ${h.token}` } });
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /^# TYPE postino_auth_failures_total counter$/m);
    },
  );
});

Deno.test("createHttpApp() sends plain HTTP from afar to HTTPS when HTTPS runs", async (t) => {
  await using h = await harness({ https: { host: "", port: 8443 } });

  await t.step("the web UI and the API are redirected with 308 to the same path", async () => {
    for (const path of ["/admin/", "/account/", "/api/v1/users?x=1", "/api/v1/openapi.json"]) {
      const r = await h.fetch(path, FROM_AFAR, { headers: { Authorization: `Bearer ${h.token}` } });
      assert.equal(r.status, 308, `${path}: ${r.text}`);
      assert.equal(r.headers.get("location"), `https://mail.postino.test:8443${path}`);
    }
    const post = await h.fetch("/api/v1/session", FROM_AFAR, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    assert.equal(post.status, 308, "308 keeps the method and body, unlike 301");
  });

  await t.step("health and autoconfig stay on plain HTTP", async () => {
    const health = await h.fetch("/healthz", FROM_AFAR);
    assert.equal(health.status, 200, health.text);
    for (
      const path of [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@postino.test",
        "/mail/config-v1.1.xml?emailaddress=alice@postino.test",
      ]
    ) {
      const r = await h.fetch(path, FROM_AFAR);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.match(r.text, /<incomingServer type="imap">|<clientConfig/);
      assert.equal(r.headers.get("location"), null, path);
    }
  });

  await t.step("loopback and TLS requests are not redirected", async () => {
    const loopback: HttpEnv = { remoteAddr: "127.0.0.1", secure: false, listener: "http" };
    const admin = await h.fetch("/admin/", loopback);
    assert.equal(admin.status, 200, admin.text);
    const tls: HttpEnv = { remoteAddr: "203.0.113.5", secure: true, listener: "https" };
    const r = await h.fetch("/admin/", tls);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get("strict-transport-security"), "max-age=31536000");
  });

  await t.step("on port 443 the redirect names no port", async () => {
    await using h443 = await harness({ https: { host: "", port: 443 } });
    const r = await h443.fetch("/admin/", FROM_AFAR);
    assert.equal(r.status, 308);
    assert.equal(r.headers.get("location"), "https://mail.postino.test/admin/");
  });
});
