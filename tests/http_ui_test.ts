/**
 * The web UI in a real browser: Debian's Chromium, driven by puppeteer-core,
 * against the real `postino serve` with HTTP, IMAP, SMTP and submission on
 * loopback and a greylisting remote MX behind a DNS stub.
 *
 * - The admin page: sign-in, the overview figures, a new domain and its DNS
 *   records, a new user (seen by `postino user list` too), each user's hour
 *   of sending against the send limits (bob, over `send_per_hour`, marked),
 *   "Retry now" on a queued message until the queue is empty, and sign-out
 *   ending the session.
 * - The account page of a non-admin: address and mailboxes, no admin link,
 *   "Not an admin" on /admin/, and a password change that IMAP honours.
 * - CSRF: a page on another loopback port (the same site, so SameSite does not
 *   help) posts to the API with the admin's cookie by fetch and by a
 *   text/plain form shaped like JSON; nothing is created.
 * - Full-page screenshots of the main pages at 1200x800 go to
 *   docs/screenshots/, for the README.
 *
 * Any uncaught error in a Postino page, or a console error other than the
 * expected failed loads (no favicon, the 401 of "who is signed in" before
 * sign-in), fails the step that caused it.
 */
import assert from "node:assert/strict";
import puppeteer, {
  type Browser,
  type BrowserContext,
  type ConsoleMessage,
  type HTTPRequest,
  type Page,
} from "puppeteer-core";
import { assertOk, imaplib } from "./support/imap_fixture.ts";
import {
  ALICE,
  type Login,
  message,
  startOutbound,
  startRemote,
  storedQueue,
  submit,
  waitForAttempts,
  waitForEmptyQueue,
  waitUntil,
} from "./support/outbound_fixture.ts";
import { REPO_ROOT, type RunningPostino } from "./support/server.ts";

/** Where the screenshots go. */
/**
 * Where the screenshots go: docs/screenshots/ (shown in the README) with
 * POSTINO_SCREENSHOTS=1, else a temp dir, so a test run leaves the tree clean.
 */
const SHOTS = Deno.env.get("POSTINO_SCREENSHOTS") === "1"
  ? `${REPO_ROOT}docs/screenshots`
  : `${Deno.env.get("TMPDIR") || "/tmp"}/postino-screenshots`;
/** Every puppeteer wait and navigation is bounded by this. */
const STEP_TIMEOUT_MS = 10_000;
/** A user who is not an admin (alice, added first, is). */
const BOB: Login = { user: "bob@localhost", password: "bob-old-secret" };
const BOB_NEW_PASSWORD = "bob new secret 2";
/** `[limits] send_per_hour` of the test's server, small enough for bob to pass it. */
const SEND_PER_HOUR = 5;
/** The recipient whose remote MX greylists until the test says otherwise. */
const STUCK = "stuck@remote.test";

/** Launches headless Chromium; the caller closes it. */
function launch(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: "/usr/lib/chromium/chromium",
    pipe: true,
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
}

/**
 * Loads that fail on purpose, as `STATUS PATH`: the favicon nobody serves,
 * and "who is signed in" before sign-in (the page asks, gets a 401, and
 * shows the form).
 */
const EXPECTED_FAILED_LOADS = ["404 /favicon.ico", "401 /api/v1/session"];

/** The errors each page reported and no step has looked at yet. */
const pageErrors = new Map<Page, string[]>();

/**
 * A new page at 1200x800 in `context` whose errors are collected for
 * {@link assertNoPageErrors}; a failed load listed in `expected`
 * (`STATUS PATH`) is no error.
 */
async function openPage(context: BrowserContext, expected: string[] = []): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  await page.setViewport({ width: 1200, height: 800 });
  page.on("pageerror", (err) => errors.push(`page error on ${page.url()}: ${String(err)}`));
  page.on("console", (msg: ConsoleMessage) => {
    if (msg.type() !== "error") return;
    const url = msg.location().url ?? "";
    const status = /^Failed to load resource: .* status of (\d+)/.exec(msg.text())?.[1];
    const load = `${status} ${url ? new URL(url).pathname : ""}`;
    if (status && [...EXPECTED_FAILED_LOADS, ...expected].includes(load)) return;
    errors.push(`console error on ${page.url()}: ${msg.text()} (${url})`);
  });
  return page;
}

/** Fails when `page` reported errors; empties its list for the next step. */
function assertNoPageErrors(page: Page): void {
  const seen = pageErrors.get(page)?.splice(0) ?? [];
  assert.deepEqual(seen, [], `errors in the page:\n${seen.join("\n")}`);
}

/** The text of the first element matching `selector`. */
function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? "");
}

/** Waits until the text of `selector` contains `want` (or matches it); says what it saw if not. */
async function waitText(page: Page, selector: string, want: string | RegExp): Promise<string> {
  const test = typeof want === "string"
    ? `t.includes(${JSON.stringify(want)})`
    : `new RegExp(${JSON.stringify(want.source)}, ${JSON.stringify(want.flags)}).test(t)`;
  try {
    await page.waitForFunction(
      `(() => { const t = document.querySelector(${
        JSON.stringify(selector)
      })?.textContent; return t != null && ${test}; })()`,
    );
  } catch (err) {
    const body = await page.evaluate("document.body.innerText").catch(() => "?");
    throw new Error(
      `${selector} never showed ${String(want)} (${
        (err as Error).message
      }); the page says:\n${body}`,
    );
  }
  return await text(page, selector);
}

/** Fills and sends the sign-in form; resolves once the page frame shows who is signed in. */
async function signIn(page: Page, login: Login): Promise<void> {
  await page.waitForSelector("#signin");
  await page.type("#address", login.user);
  await page.type("#password", login.password);
  await page.click("#signin button[type=submit]");
  await waitText(page, "#who", login.user);
}

/** Goes to a section of the admin page by its navigation link. */
async function adminTab(page: Page, hash: string, heading: string): Promise<void> {
  await page.click(`header.top nav a[href="${hash}"]`);
  await waitText(page, "#view h1", heading);
}

/** A full-page PNG in {@link SHOTS}. */
async function shoot(page: Page, name: string): Promise<void> {
  const path: `${string}.png` = `${SHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
}

/** The value of the session cookie in `context`. */
async function sessionCookie(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === "postino_session");
  assert.ok(cookie, "the session cookie is set");
  assert.equal(cookie.httpOnly, true, "HttpOnly");
  assert.equal(cookie.sameSite, "Strict");
  return cookie.value;
}

/** GET /api/v1/session with only `cookie`, as the UI asks; gives the status. */
async function sessionStatus(base: string, cookie: string): Promise<number> {
  const r = await fetch(`${base}/api/v1/session`, {
    headers: { Cookie: `postino_session=${cookie}`, "X-Requested-With": "XMLHttpRequest" },
  });
  await r.body?.cancel();
  return r.status;
}

/** How many HTTP requests Postino has answered with a 4xx, from its metrics. */
async function httpErrorCount(base: string): Promise<number> {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const m = /^postino_http_requests_total\{listener="http",status="4xx"\} (\d+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

/** The addresses `postino user list` prints. */
async function cliUsers(server: RunningPostino): Promise<string[]> {
  const r = await server.cli(["user", "list"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[0]);
}

/** The domains `postino domain list` prints. */
async function cliDomains(server: RunningPostino): Promise<string[]> {
  const r = await server.cli(["domain", "list"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l.trim()).map((l) => l.trim().split(/\s+/)[0]);
}

/**
 * A page on another origin that tries to make the signed-in browser change
 * things at `target`: fetches with the cookie (a "simple" text/plain POST and
 * a JSON one that needs a preflight), and two auto-submitted text/plain forms
 * whose bodies read as JSON (`{"domain":"evil.test","pad":"="}`).
 */
function attackerPage(target: string): string {
  const user = { address: "mallory@localhost", password: "mallory-pw", admin: true };
  const domain = { domain: "evil.test" };
  const formField = (body: Record<string, unknown>) => {
    const json = JSON.stringify({ ...body, pad: "" });
    // name="{...,"pad":"" value=""}" makes the text/plain body name=value valid JSON.
    const name = json.slice(0, -2);
    return `<input type="hidden" name='${name}' value='"}'>`;
  };
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>win a prize</title></head><body>
<iframe name="sink-users"></iframe><iframe name="sink-domains"></iframe>
<form id="users" action="${target}/api/v1/users" method="post" enctype="text/plain"
  target="sink-users">${formField(user)}</form>
<form id="domains" action="${target}/api/v1/domains" method="post" enctype="text/plain"
  target="sink-domains">${formField(domain)}</form>
<script>
const target = ${JSON.stringify(target)};
const user = ${JSON.stringify(JSON.stringify(user))};
const domain = ${JSON.stringify(JSON.stringify(domain))};
const results = [];
async function attempt(name, path, init) {
  try {
    const r = await fetch(target + path, { method: "POST", credentials: "include", ...init });
    results.push(name + ": " + r.status);
  } catch (err) {
    results.push(name + ": " + err.name);
  }
}
(async () => {
  await attempt("users text/plain", "/api/v1/users", {
    headers: { "Content-Type": "text/plain" }, body: user });
  await attempt("users json", "/api/v1/users", {
    headers: { "Content-Type": "application/json", "X-CSRF-Token": "guess" }, body: user });
  await attempt("domains text/plain", "/api/v1/domains", {
    headers: { "Content-Type": "text/plain" }, body: domain });
  await attempt("domains no-cors", "/api/v1/domains", {
    mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: domain });
  document.getElementById("users").submit();
  document.getElementById("domains").submit();
  window.attackResults = results;
  document.title = "sent";
})();
</script>
</body></html>
`;
}

Deno.test({
  name: "web UI in Chromium: admin and account pages, CSRF refusal, screenshots",
  fn: async (t) => {
    const started = performance.now();
    await using remote = await startRemote({ script: { data: () => "451 4.7.1 Greylisted" } });
    await using server = await startOutbound({
      args: [...remote.args, "--http", "127.0.0.1:0", "--imap", "127.0.0.1:0"],
      env: { POSTINO_SEND_PER_HOUR: String(SEND_PER_HOUR) },
    });
    // alice (added by startOutbound, the first user) is the admin; bob is not.
    const added = await server.cli(
      ["user", "add", BOB.user, "--password-stdin"],
      `${BOB.password}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
    const base = `http://127.0.0.1:${server.addresses.http.port}`;
    const imapPort = server.addresses.imap.port;
    await Deno.mkdir(SHOTS, { recursive: true });

    // A message the greylisting remote keeps in the queue.
    await submit(server, { to: [STUCK], message: message(ALICE.user, "stuck in the queue") });
    await waitForAttempts(server, STUCK, 1);
    const [queued] = storedQueue(server);
    assert.equal(queued.status, "pending");

    const browser = await launch();
    try {
      const adminContext = await browser.createBrowserContext();
      const admin = await openPage(adminContext);
      /** What #flash said right after each add had shown its result. */
      const flashes = { domain: "", user: "" };

      await t.step(
        "admin page: sign in as the first user and see the overview figures",
        async () => {
          await admin.goto(`${base}/admin/`);
          await admin.waitForSelector("#signin");
          assert.equal(await text(admin, "section.signin h1"), "Postino admin");
          await shoot(admin, "signin");
          await signIn(admin, ALICE);
          await waitText(admin, "#view h1", "Overview");
          // The figures arrive from /api/v1/stats: alice and bob, localhost, one queued message.
          await waitText(admin, "#stat-users", /^2$/);
          assert.equal(await text(admin, "#stat-domains"), "1");
          assert.equal(await text(admin, "#stat-queue"), "1");
          assert.match(await text(admin, "#stat-uptime"), /^\d+[smhd]/);
          assert.match(await text(admin, "#stat-extra"), /oldest queued/);
          await shoot(admin, "admin-overview");
          assertNoPageErrors(admin);
        },
      );

      await t.step("admin page: add a domain and see the DNS records to publish", async () => {
        await adminTab(admin, "#domains", "Domains");
        await admin.type("#add-domain input[name=domain]", "example.test");
        await admin.click("#add-domain button[type=submit]");
        await admin.waitForSelector('#domains tr[data-domain="example.test"]');
        await waitText(admin, "#records h2", "DNS records for example.test");
        flashes.domain = await text(admin, "#flash");
        const rows = await admin.$$eval(
          "#dns-records tbody tr",
          (trs) =>
            trs.map((tr) =>
              Array.from(
                tr.children,
                (td) => (td as { textContent: string | null }).textContent ?? "",
              )
            ),
        );
        const mx = rows.find((r) => r[1].startsWith("MX"));
        assert.ok(mx, `an MX row in ${JSON.stringify(rows)}`);
        assert.equal(mx[0], "example.test");
        assert.match(mx[2], /^10 postino\.test\.?$/, "the MX names our host");
        assert.ok(rows.some((r) => r[1].startsWith("TXT") && /v=spf1/.test(r[2])), "an SPF row");
        assert.deepEqual((await cliDomains(server)).sort(), ["example.test", "localhost"]);
        await shoot(admin, "admin-domains");
        assertNoPageErrors(admin);
      });

      await t.step("admin page: Check shows what the world sees of the domain", async () => {
        await admin.click('#domains tr[data-domain="example.test"] button:nth-of-type(2)');
        await waitText(admin, "#records h2", "Check of example.test");
        const rows = await admin.$$eval(
          "#check-report tbody tr",
          (trs) =>
            trs.map((tr) =>
              Array.from(
                tr.children,
                (td) => (td as { textContent: string | null }).textContent ?? "",
              )
            ),
        );
        // The test DNS knows nothing of example.test: its MX is a FAIL with the record to publish.
        const mx = rows.find((r) => r[1] === "mx");
        assert.ok(mx, JSON.stringify(rows));
        assert.equal(mx[0], "FAIL");
        assert.match(mx[2], /MX 10 postino\.test\./);
        await shoot(admin, "admin-check");
        assertNoPageErrors(admin);
      });

      await t.step("admin page: add a user and see it listed", async () => {
        await adminTab(admin, "#users", "Users");
        await admin.type("#add-user input[name=address]", "carol@example.test");
        await admin.type("#add-user input[name=password]", "carol-secret");
        await admin.click("#add-user button[type=submit]");
        await waitText(admin, '#users tr[data-user="carol@example.test"] td', "carol@example.test");
        flashes.user = await text(admin, "#flash");
        assert.match(await text(admin, '#users tr[data-user="alice@localhost"] td'), /admin/);
        assert.doesNotMatch(
          await text(admin, '#users tr[data-user="carol@example.test"] td'),
          /admin/,
        );
        assert.deepEqual((await cliUsers(server)).sort(), [
          "alice@localhost",
          "bob@localhost",
          "carol@example.test",
        ]);
        assertNoPageErrors(admin);
      });

      await t.step("admin page: each user's hour of sending, and who a limit refused", async () => {
        // bob sends as many messages as the hour allows through the API, and one more.
        const send = () =>
          fetch(`${base}/api/v1/send`, {
            method: "POST",
            headers: {
              Authorization: `Basic ${btoa(`${BOB.user}:${BOB.password}`)}`,
              "Content-Type": "application/json",
            },
            body: JSON.stringify({ from: BOB.user, to: [ALICE.user], subject: "hi", text: "hi" }),
          });
        for (let i = 0; i < SEND_PER_HOUR; i++) {
          const r = await send();
          assert.equal(r.status, 202, await r.text());
        }
        const refused = await send();
        assert.equal(refused.status, 429, await refused.text());
        await adminTab(admin, "#overview", "Overview");
        await adminTab(admin, "#users", "Users");
        const cell = (user: string) => `#users tr[data-user="${user}"] td.sending`;
        const bob = await waitText(
          admin,
          cell(BOB.user),
          `${SEND_PER_HOUR} / ${SEND_PER_HOUR} messages`,
        );
        assert.match(bob, /^limited just now /);
        assert.match(bob, /5 \/ 1000 recipients$/);
        const alice = await text(admin, cell(ALICE.user));
        assert.equal(alice, "1 / 5 messages1 / 1000 recipients", "the stuck message, not limited");
        assert.equal(
          await text(admin, cell("carol@example.test")),
          "0 / 5 messages0 / 1000 recipients",
        );
        await shoot(admin, "admin-users");
        assertNoPageErrors(admin);
      });

      await t.step("admin page: the success message of an add outlives the list's reload", () => {
        // flash() shows it for 6 s; the new row was on screen well within that.
        assert.deepEqual(flashes, {
          domain: "Added example.test",
          user: "Added carol@example.test",
        });
      });

      await t.step(
        "admin page: a user's password form shows only after Reset password",
        async () => {
          const row = '#users tr[data-user="carol@example.test"]';
          const visible = async () => await (await admin.$(`${row} form`))?.isVisible();
          assert.equal(await visible(), false, "hidden at first");
          await admin.click(`${row} td.actions button.secondary`);
          assert.equal(await visible(), true, "shown after Reset password");
          await admin.click(`${row} td.actions button.secondary`);
          assert.equal(await visible(), false, "hidden again after a second click");
          assertNoPageErrors(admin);
        },
      );

      await t.step("admin page: Retry now on a queued message delivers it", async () => {
        await adminTab(admin, "#queue", "Outbound queue");
        // The message of the last action on another section does not follow here.
        assert.equal(await text(admin, "#flash"), "");
        const row = `#queue tr[data-queue-id="${queued.queueId}"]`;
        await waitText(admin, row, STUCK);
        assert.match(await text(admin, row), /pending/);
        assert.match(await text(admin, row), /451 4\.7\.1 Greylisted/);
        await shoot(admin, "admin-queue");
        remote.sink.script = {};
        await admin.click(`${row} td.actions button.secondary`);
        await waitText(admin, "#flash", `Message ${queued.queueId} is due now`);
        await remote.sink.waitFor(() => remote.sink.delivered.length >= 1, 10_000, "the retry");
        await waitForEmptyQueue(server, 10_000);
        const listed = await server.cli(["queue", "list", "--json"]);
        assert.equal(listed.code, 0, listed.stderr);
        assert.deepEqual(JSON.parse(listed.stdout), []);
        // The page reloads the queue by itself 1.5 s after the retry; Reload does it now.
        await admin.click("#view section.card > button.secondary");
        await waitText(admin, "#view", "The queue is empty.");
        assertNoPageErrors(admin);
      });

      await t.step("admin page: sign out shows the sign-in form and ends the session", async () => {
        const cookie = await sessionCookie(adminContext);
        assert.equal(await sessionStatus(base, cookie), 200);
        // What the page asks of the API from the click until the sign-in form shows.
        const asked: string[] = [];
        const record = (r: HTTPRequest) => {
          const url = new URL(r.url());
          if (url.pathname.startsWith("/api/")) asked.push(`${r.method()} ${url.pathname}`);
        };
        admin.on("request", record);
        await admin.click("#signout");
        await admin.waitForSelector("#signin");
        assert.equal(await admin.$("#who"), null);
        assert.equal(await sessionStatus(base, cookie), 401, "the old cookie no longer works");
        admin.off("request", record);
        // Signing out ends the session, then asks only who is signed in (nobody) after the
        // reload: no section re-renders and calls the API with the ended session.
        assert.deepEqual(asked, ["DELETE /api/v1/session", "GET /api/v1/session"]);
        assertNoPageErrors(admin);
      });
      await adminContext.close();

      await t.step("account page: a user sees their address and mailboxes, no admin", async () => {
        const context = await browser.createBrowserContext();
        const account = await openPage(context);
        await account.goto(`${base}/account/`);
        await signIn(account, BOB);
        await waitText(account, "#account-address", BOB.user);
        assert.equal(await text(account, "#view h1"), BOB.user);
        const mailboxes = await account.$$eval(
          "#mailboxes tbody tr",
          (trs) => trs.map((tr) => tr.getAttribute("data-mailbox")),
        );
        assert.ok(mailboxes.includes("INBOX"), `INBOX in ${mailboxes}`);
        assert.match(await text(account, "#client-settings"), new RegExp(`:${imapPort}`));
        assert.equal(await account.$('a[href="/admin/"]'), null, "no admin link for a non-admin");
        await shoot(account, "account");
        await account.goto(`${base}/admin/`);
        await waitText(account, "#view h1", "Not an admin");
        assert.match(await text(account, "#view"), /bob@localhost may not administer/);
        assertNoPageErrors(account);
        await context.close();
      });

      await t.step("account page: a new password works over IMAP, the old one not", async () => {
        const context = await browser.createBrowserContext();
        // The wrong current password below is refused on purpose.
        const account = await openPage(context, [
          `403 /api/v1/users/${encodeURIComponent(BOB.user)}/password`,
        ]);
        await account.goto(`${base}/account/`);
        await signIn(account, BOB);
        await account.waitForSelector("#change-password");
        const cookie = await sessionCookie(context);
        const fill = async (current: string, password: string, repeat: string) => {
          for (const [id, value] of [["current", current], ["new", password], ["repeat", repeat]]) {
            await account.$eval(`#${id}-password`, (e) => (e as { value: string }).value = "");
            await account.type(`#${id}-password`, value);
          }
          await account.click("#change-password button[type=submit]");
        };
        // Two new passwords that differ never reach the server.
        await fill(BOB.password, BOB_NEW_PASSWORD, `${BOB_NEW_PASSWORD}x`);
        await waitText(account, "#flash", "The new passwords do not match");
        // A session cookie alone (a wrong current password) does not change it.
        await fill("not the password", BOB_NEW_PASSWORD, BOB_NEW_PASSWORD);
        await waitText(account, "#flash", "The current password is wrong");
        assert.equal(await sessionStatus(base, cookie), 200, "still signed in");
        await fill(BOB.password, BOB_NEW_PASSWORD, BOB_NEW_PASSWORD);
        await waitText(account, "#password-changed h1", "Password changed");
        assert.equal(await sessionStatus(base, cookie), 401, "the change ended the session");

        const [connectNew, loginNew, , loginOld] = await imaplib([
          { s: "new", op: "connect", port: imapPort, tls: "plain" },
          { s: "new", op: "login", user: BOB.user, password: BOB_NEW_PASSWORD },
          { s: "old", op: "connect", port: imapPort, tls: "plain" },
          { s: "old", op: "login", user: BOB.user, password: BOB.password },
          { s: "new", op: "logout" },
        ]);
        assertOk(connectNew);
        assertOk(loginNew, "LOGIN with the new password");
        assert.equal(loginOld.ok, false, `LOGIN with the old password: ${loginOld.wire}`);
        assert.match(loginOld.wire, /NO/);

        // And the page: its link leads to the sign-in form, which takes the new password.
        await account.click("#password-changed a");
        await signIn(account, { user: BOB.user, password: BOB_NEW_PASSWORD });
        await waitText(account, "#account-address", BOB.user);
        assertNoPageErrors(account);
        await context.close();
      });

      await t.step("a page on another origin cannot make changes with the cookie", async () => {
        const context = await browser.createBrowserContext();
        const victim = await openPage(context);
        await victim.goto(`${base}/admin/`);
        await signIn(victim, ALICE);
        await sessionCookie(context);

        await using attacker = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          () =>
            new Response(attackerPage(base), {
              headers: { "Content-Type": "text/html; charset=utf-8" },
            }),
        );
        const errorsBefore = await httpErrorCount(base);
        const evil = await context.newPage();
        evil.setDefaultTimeout(STEP_TIMEOUT_MS);
        // Every request the attacker's page made to Postino once it has ended, with the
        // status when the browser let the page see one (CORS hides it from fetch).
        const ended: string[] = [];
        const end = (r: HTTPRequest) => {
          if (!r.url().startsWith(base)) return;
          const status = r.response()?.status() ?? r.failure()?.errorText;
          ended.push(`${r.method()} ${new URL(r.url()).pathname} ${status}`);
        };
        evil.on("requestfinished", end);
        evil.on("requestfailed", end);
        await evil.goto(`http://127.0.0.1:${attacker.addr.port}/`);
        assert.notEqual(new URL(evil.url()).origin, base);
        await evil.waitForFunction(`document.title === "sent"`);
        const results = await evil.evaluate("window.attackResults") as string[];
        // Postino answers all six requests that leave the browser with an error: three
        // fetches, the preflight of the fourth (which then never goes), and two form posts.
        await waitUntil(
          async () => (await httpErrorCount(base)) - errorsBefore >= 6 || undefined,
          `Postino to answer the attacker's requests: ${ended}`,
          STEP_TIMEOUT_MS,
        );
        // The no-cors fetch and the forms: the status is visible to puppeteer, not the page.
        const seen = () => ended.filter((e) => /^POST .* \d+$/.test(e));
        await waitUntil(
          () => seen().length >= 3 || undefined,
          `the attacker's posts to end: ${ended}`,
          STEP_TIMEOUT_MS,
        );
        await evil.close();
        const report = `fetch results ${JSON.stringify(results)}; requests ${
          JSON.stringify(ended)
        }`;

        assert.deepEqual(
          (await cliUsers(server)).sort(),
          ["alice@localhost", "bob@localhost", "carol@example.test"],
          report,
        );
        assert.deepEqual((await cliDomains(server)).sort(), ["example.test", "localhost"], report);
        assert.equal((await httpErrorCount(base)) - errorsBefore, 6, report);
        assert.ok(ended.includes("OPTIONS /api/v1/users 405"), report);
        // The posts carried the cookie (else 401) and were refused as cross-origin (403).
        for (const e of seen()) assert.match(e, / 403$/, report);

        // Without an Origin (not a browser), the CSRF token is still required.
        const cookie = await sessionCookie(context);
        for (const token of [undefined, "wrong"]) {
          const r = await fetch(`${base}/api/v1/domains`, {
            method: "POST",
            headers: {
              Cookie: `postino_session=${cookie}`,
              "Content-Type": "application/json",
              ...(token ? { "X-CSRF-Token": token } : {}),
            },
            body: JSON.stringify({ domain: "evil.test" }),
          });
          assert.equal(r.status, 403, `token ${token}`);
          assert.deepEqual(await r.json(), {
            error: "Missing or wrong CSRF token",
            field: "X-CSRF-Token",
          });
        }
        assert.deepEqual((await cliDomains(server)).sort(), ["example.test", "localhost"]);
        // The admin's own page still works with the same session.
        await adminTab(victim, "#users", "Users");
        assert.equal(await victim.$('#users tr[data-user="mallory@localhost"]'), null);
        assertNoPageErrors(victim);
        await context.close();
      });
    } finally {
      await browser.close();
    }
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 90, `the whole file took ${seconds.toFixed(1)} s`);
  },
});
