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

/** The assets, with an ETag from their content so browsers revalidate cheaply. */
const ASSETS: Record<string, { body: string; type: string }> = {
  "app.css": { body: css, type: "text/css; charset=utf-8" },
  "common.js": { body: commonJs, type: "text/javascript; charset=utf-8" },
  "admin.js": { body: adminJs, type: "text/javascript; charset=utf-8" },
  "account.js": { body: accountJs, type: "text/javascript; charset=utf-8" },
};

function etag(text: string): string {
  // FNV-1a: enough to tell versions apart; not a security property.
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `"${hash.toString(36)}-${text.length.toString(36)}"`;
}

const ETAGS = Object.fromEntries(Object.entries(ASSETS).map(([name, a]) => [name, etag(a.body)]));

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
  app.get("/ui/:name", (c) => {
    const name = c.req.param("name");
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!asset) return c.notFound();
    const tag = ETAGS[name];
    if (c.req.header("if-none-match") === tag) {
      return new Response(null, { status: 304, headers: { ETag: tag } });
    }
    return new Response(asset.body, {
      headers: { "Content-Type": asset.type, ETag: tag, "Cache-Control": "no-cache" },
    });
  });
}
