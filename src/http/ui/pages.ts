/**
 * The web UI: two small pages (admin and account) that call the JSON API
 * from plain ES modules, embedded in the executable as text imports, so
 * nothing is installed beside it and no CDN is asked. A strict Content
 * Security Policy allows only our own scripts and styles.
 */
import type { Hono } from "hono";
import type { HttpEnv } from "../context.ts";
import css from "./app.css" with { type: "text" };
import adminJs from "./admin.js" with { type: "text" };
import accountJs from "./account.js" with { type: "text" };
import commonJs from "./common.js" with { type: "text" };

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join("; ");

/** The assets; an ETag from their content lets browsers revalidate cheaply. */
const ASSETS: Record<string, { body: string; type: string }> = {
  "app.css": { body: css, type: "text/css; charset=utf-8" },
  "common.js": { body: commonJs, type: "text/javascript; charset=utf-8" },
  "admin.js": { body: adminJs, type: "text/javascript; charset=utf-8" },
  "account.js": { body: accountJs, type: "text/javascript; charset=utf-8" },
};

/**
 * The ETag of an asset, made at its first request: hashing at start would
 * cost more than it seems, as a hot loop at start makes V8 compile it, and
 * the compiler's memory stays with the process (about 5 MB, measured).
 */
const etags = new Map<string, Promise<string>>();
function etag(name: string, text: string): Promise<string> {
  let tag = etags.get(name);
  if (!tag) {
    tag = crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then((digest) =>
      `"${
        Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0"))
          .join("")
      }"`
    );
    etags.set(name, tag);
  }
  return tag;
}

function shell(title: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/${script}"></script>
</head>
<body>
<noscript>This page needs JavaScript. The JSON API at /api/v1/ works without it.</noscript>
</body>
</html>
`;
}

function page(title: string, script: string): Response {
  return new Response(shell(title, script), {
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": CSP,
      "Cache-Control": "no-cache",
    },
  });
}

/** Registers `/admin/`, `/account/`, their assets, and `/` (to the account page). */
export function mountUi(app: Hono<{ Bindings: HttpEnv }>): void {
  app.get("/", (c) => c.redirect("/account/", 302));
  app.get("/admin", (c) => c.redirect("/admin/", 301));
  app.get("/account", (c) => c.redirect("/account/", 301));
  app.get("/admin/", () => page("Postino admin", "admin.js"));
  app.get("/account/", () => page("Postino account", "account.js"));
  app.get("/ui/:name", async (c) => {
    const name = c.req.param("name");
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return c.notFound();
    const tag = await etag(name, asset.body);
    if (c.req.header("if-none-match") === tag) {
      return new Response(null, { status: 304, headers: { ETag: tag } });
    }
    return new Response(asset.body, {
      headers: { "Content-Type": asset.type, ETag: tag, "Cache-Control": "no-cache" },
    });
  });
}
