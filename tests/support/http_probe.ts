/**
 * A small HTTP/1.1 client over a raw TCP connection for the black-box HTTP
 * tests, and a runner for Debian's Python (for its `email`, `xml.etree` and
 * `prometheus_client` packages).
 *
 * The client writes the request line and header fields exactly as given
 * (fetch() in Deno replaces a Host header, which MTA-STS tests must set), asks
 * for `Connection: close`, reads to the end with a deadline, and decodes a
 * chunked answer. Nothing is pooled, so no connection outlives a request.
 *
 * ```ts
 * const r = await httpRequest(port, { path: "/.well-known/mta-sts.txt", host: "mta-sts.localhost" });
 * ```
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { PYTHON } from "./outbound_fixture.ts";
import { concat } from "./pop3_fixture.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One request. */
export interface HttpRequestOptions {
  /** @default "GET" */
  method?: string;
  /** The request target, e.g. "/healthz?x=1". */
  path: string;
  /** The Host field's value. @default "127.0.0.1:PORT" */
  host?: string;
  /** More header fields (Host, Connection and Content-Length are written by the client). */
  headers?: Record<string, string>;
  /** A string is sent as UTF-8; an object as JSON with its Content-Type. */
  body?: string | Uint8Array | Record<string, unknown> | unknown[];
  /** Basic credentials, `[user, password]`. */
  basic?: [string, string];
  /** A Bearer token. */
  bearer?: string;
  /** The request fails the test after this long. @default 20000 */
  timeoutMs?: number;
}

/** One answer. */
export interface HttpAnswer {
  status: number;
  /** Header fields by lower-case name; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: Uint8Array;
  /** The body as UTF-8. */
  text: string;
  /** The body parsed as JSON (throws when it is not). */
  json(): unknown;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CRLF = encoder.encode("\r\n");

/** The body of a chunked message (RFC 9112 §7.1); trailers are ignored. */
function dechunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    const end = indexOf(data, CRLF, at);
    assert.ok(end >= 0, "a chunk size line");
    const size = parseInt(decoder.decode(data.subarray(at, end)).split(";")[0].trim(), 16);
    assert.ok(Number.isInteger(size), "a hexadecimal chunk size");
    if (size === 0) return concat(...parts);
    parts.push(data.subarray(end + 2, end + 2 + size));
    at = end + 2 + size + 2;
  }
}

/** Sends one request to 127.0.0.1:`port` and reads the whole answer (bounded). */
export async function httpRequest(port: number, options: HttpRequestOptions): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: Uint8Array | undefined;
  if (typeof options.body === "string") body = encoder.encode(options.body);
  else if (options.body instanceof Uint8Array) body = options.body;
  else if (options.body !== undefined) {
    body = encoder.encode(JSON.stringify(options.body));
    headers["Content-Type"] ??= "application/json";
  }
  if (options.basic) {
    headers["Authorization"] = `Basic ${
      Buffer.from(`${options.basic[0]}:${options.basic[1]}`).toString("base64")
    }`;
  }
  if (options.bearer) headers["Authorization"] = `Bearer ${options.bearer}`;
  const lines = [
    `${options.method ?? "GET"} ${options.path} HTTP/1.1`,
    `Host: ${options.host ?? `127.0.0.1:${port}`}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ...(body ? [`Content-Length: ${body.length}`] : []),
  ];
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");

  const timeoutMs = options.timeoutMs ?? 20_000;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(body ? concat(head, body) : head);
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch (err) {
    if (!timedOut) throw err;
  } finally {
    clearTimeout(timer);
    if (!timedOut) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }
  assert.ok(!timedOut, `${options.method ?? "GET"} ${options.path}: no answer in ${timeoutMs} ms`);

  const data = concat(...chunks);
  const split = indexOf(data, encoder.encode("\r\n\r\n"));
  assert.ok(split >= 0, `an HTTP answer, got ${JSON.stringify(decoder.decode(data))}`);
  const [statusLine, ...fieldLines] = decoder.decode(data.subarray(0, split)).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  assert.ok(m, `a status line, got ${JSON.stringify(statusLine)}`);
  const answerHeaders: Record<string, string> = {};
  for (const line of fieldLines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    answerHeaders[name] = name in answerHeaders ? `${answerHeaders[name]}, ${value}` : value;
  }
  let answerBody = data.subarray(split + 4);
  if (/chunked/i.test(answerHeaders["transfer-encoding"] ?? "")) answerBody = dechunk(answerBody);
  else if (answerHeaders["content-length"] !== undefined) {
    answerBody = answerBody.subarray(0, Number(answerHeaders["content-length"]));
  }
  const text = decoder.decode(answerBody);
  return {
    status: Number(m[1]),
    headers: answerHeaders,
    body: answerBody,
    text,
    json: () => JSON.parse(text),
  };
}

/**
 * Runs `code` with Debian's /usr/bin/python3 (the interpreter that sees
 * python3-dkim and python3-prometheus-client), `input` as JSON on stdin;
 * gives what it printed on stdout, parsed as JSON. Fails the test when it
 * exits non-zero or takes longer than `timeoutMs`.
 */
export async function runPython<T = unknown>(
  code: string,
  input: unknown,
  timeoutMs = 30_000,
): Promise<T> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(JSON.stringify(input))).catch(() => {});
    await writer.close().catch(() => {});
    const out = await child.output();
    const stderr = decoder.decode(out.stderr);
    assert.ok(!killed, `python timed out after ${timeoutMs} ms; stderr:\n${stderr}`);
    assert.equal(out.code, 0, `python failed:\n${stderr}`);
    return JSON.parse(decoder.decode(out.stdout)) as T;
  } finally {
    clearTimeout(timer);
  }
}

/** An element of an XML document as Python's xml.etree parsed it ({ns}local tags). */
export interface XmlNode {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: XmlNode[];
}

const PARSE_XML_PY = `
import json, sys
import xml.etree.ElementTree as ET
def node(e):
    return {"tag": e.tag, "attrib": dict(e.attrib), "text": (e.text or "").strip(),
            "children": [node(c) for c in e]}
doc = json.load(sys.stdin)
print(json.dumps(node(ET.fromstring(doc["xml"].encode("utf-8")))))
`;

/** Parses `xml` with Python's xml.etree.ElementTree; fails the test when it is not well-formed. */
export function parseXml(xml: string): Promise<XmlNode> {
  return runPython<XmlNode>(PARSE_XML_PY, { xml });
}

/** The children of `node` whose local name (namespace dropped) is `local`. */
export function childrenNamed(node: XmlNode, local: string): XmlNode[] {
  return node.children.filter((c) => c.tag.replace(/^\{[^}]*\}/, "") === local);
}

/** The text of the only child of `node` named `local`; fails the test when there is not one. */
export function childText(node: XmlNode, local: string): string {
  const found = childrenNamed(node, local);
  assert.equal(found.length, 1, `one <${local}> in <${node.tag}>: ${JSON.stringify(node)}`);
  return found[0].text;
}
