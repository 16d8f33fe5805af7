/**
 * Which folder of src/ may import which: the store and the message code know
 * no protocol, and delivery uses only the SMTP client, not the server that
 * hands it messages. A new import across these lines fails here.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = dirname(fileURLToPath(import.meta.url));

/** Folders each folder must not import from (relative paths under src/). */
const FORBIDDEN: Record<string, string[]> = {
  store: ["smtp", "pop3", "imap", "delivery", "security", "cli", "http"],
  mail: ["smtp", "pop3", "imap", "delivery", "security", "store", "cli", "http", "net"],
  dns: ["smtp", "pop3", "imap", "delivery", "security", "store", "cli", "http"],
  auth: ["smtp", "pop3", "imap", "delivery", "cli", "http"],
  delivery: ["pop3", "imap", "cli", "http"],
  security: ["smtp", "pop3", "imap", "cli", "http"],
  junk: ["smtp", "pop3", "imap", "delivery", "cli", "http", "net"],
};

/** Files of src/smtp/ that delivery may use: the outbound client. */
const DELIVERY_MAY_USE_FROM_SMTP = ["smtp/client.ts", "smtp/reply.ts"];

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield path;
  }
}

/**
 * The src/-relative paths that `file` imports with relative specifiers;
 * `import type` is left out, as it brings in no code.
 */
async function importsOf(file: string): Promise<string[]> {
  const text = (await Deno.readTextFile(file)).replace(/^import type [^;]*;/gm, "");
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    found.push(relative(SRC, join(dirname(file), m[1])));
  }
  return found;
}

Deno.test("src/ folders import only what their layer allows", async () => {
  const violations: string[] = [];
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    for await (const file of sourceFiles(join(SRC, folder))) {
      for (const target of await importsOf(file)) {
        const top = target.split("/")[0];
        if (!forbidden.includes(top)) continue;
        if (folder === "delivery" && DELIVERY_MAY_USE_FROM_SMTP.includes(target)) continue;
        violations.push(`${relative(SRC, file)} imports ${target}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("src/delivery/ may use the SMTP client but not the SMTP server", async () => {
  const used = new Set<string>();
  for await (const file of sourceFiles(join(SRC, "delivery"))) {
    for (const target of await importsOf(file)) if (target.startsWith("smtp/")) used.add(target);
  }
  for (const target of used) assert.ok(DELIVERY_MAY_USE_FROM_SMTP.includes(target), target);
});
