/**
 * A client for the black-box tests of the JSON API (tests/http_api_*_test.ts):
 * one call per request through `fetch`, or, when the test must choose the
 * client's address (each loopback address has its own login throttle), through
 * `node:http` with a `localAddress` in 127.0.0.0/8. Every body is read to its
 * end, so no request leaks a resource.
 *
 * Also: the checks every error answer must pass (`{"error"}` or
 * `{"error", "field"}`, JSON, 4xx, no stack trace), a checker of answers
 * against the server's own OpenAPI document, and a Set-Cookie parser.
 *
 * ```ts
 * const api = new ApiClient(server.addresses.http.port);
 * const r = await api.call("GET", "/api/v1/users", { bearer: token });
 * ```
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http from "node:http";

/** How a request authenticates. */
export interface Credentials {
  /** HTTP Basic: address and password. */
  basic?: [string, string];
  /** `Authorization: Bearer`. */
  bearer?: string;
  /** The web session's cookie value (postino_session=...). */
  session?: string;
  /** X-CSRF-Token. */
  csrf?: string;
  /** An Authorization field sent exactly as given (for malformed ones). */
  authorization?: string;
}

/** One request. */
export interface CallOptions extends Credentials {
  /** An object or array is sent as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** A raw body, sent with `contentType` (none unless given). */
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  contentType?: string;
  headers?: Record<string, string>;
  /** Send from this loopback address (through node:http) instead of 127.0.0.1. */
  from?: string;
  /** Give up (and resolve with status 0) after this long. @default 20000 */
  timeoutMs?: number;
}

/** One answer. */
export interface ApiAnswer {
  /** 0 when the request was given up after `timeoutMs`. */
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON (fails the test when it is not JSON). */
  json(): unknown;
  /** Milliseconds from sending to the end of the answer. */
  elapsedMs: number;
}

/** The header fields of `options` (credentials, content type, extras). */
function requestHeaders(options: CallOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  if (options.contentType !== undefined) headers["Content-Type"] = options.contentType;
  if (options.basic) {
    headers["Authorization"] = `Basic ${
      Buffer.from(`${options.basic[0]}:${options.basic[1]}`).toString("base64")
    }`;
  }
  if (options.bearer !== undefined) headers["Authorization"] = `Bearer ${options.bearer}`;
  if (options.authorization !== undefined) headers["Authorization"] = options.authorization;
  if (options.session !== undefined) headers["Cookie"] = `postino_session=${options.session}`;
  if (options.csrf !== undefined) headers["X-CSRF-Token"] = options.csrf;
  return { ...headers, ...options.headers };
}

function answer(status: number, headers: Headers, text: string, started: number): ApiAnswer {
  return {
    status,
    headers,
    text,
    elapsedMs: Date.now() - started,
    json() {
      try {
        return JSON.parse(text);
      } catch {
        assert.fail(`expected a JSON body, got ${status} ${JSON.stringify(text.slice(0, 300))}`);
      }
    },
  };
}

/** Talks to the API of a server on 127.0.0.1:`port`. */
export class ApiClient {
  readonly port: number;
  readonly origin: string;

  constructor(port: number) {
    this.port = port;
    this.origin = `http://127.0.0.1:${port}`;
  }

  /** Sends one request and reads the whole answer (bounded). */
  call(method: string, path: string, options: CallOptions = {}): Promise<ApiAnswer> {
    return options.from === undefined
      ? this.#fetch(method, path, options)
      : this.#nodeHttp(method, path, options);
  }

  async #fetch(method: string, path: string, options: CallOptions): Promise<ApiAnswer> {
    const started = Date.now();
    const signal = AbortSignal.timeout(options.timeoutMs ?? 20_000);
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
    try {
      const r = await fetch(this.origin + path, {
        method,
        headers: requestHeaders(options),
        body: body as BodyInit | undefined,
        signal,
        redirect: "manual",
      });
      return answer(r.status, r.headers, await r.text(), started);
    } catch (err) {
      if (signal.aborted) return answer(0, new Headers(), "", started);
      throw err;
    }
  }

  #nodeHttp(method: string, path: string, options: CallOptions): Promise<ApiAnswer> {
    const started = Date.now();
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
    assert.ok(!(body instanceof ReadableStream), "node:http calls take no stream bodies");
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    return new Promise<ApiAnswer>((resolve, reject) => {
      const headers: Record<string, string> = { ...requestHeaders(options), Connection: "close" };
      if (bytes) headers["Content-Length"] = String(bytes.length);
      const req = http.request({
        host: "127.0.0.1",
        port: this.port,
        method,
        path,
        headers,
        localAddress: options.from,
        agent: false,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          const h = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) h.append(name, v);
          }
          resolve(answer(res.statusCode ?? 0, h, Buffer.concat(chunks).toString("utf8"), started));
        });
        res.on("error", reject);
      });
      const timer = setTimeout(() => {
        req.destroy();
        resolve(answer(0, new Headers(), "", started));
      }, options.timeoutMs ?? 20_000);
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(bytes ? Buffer.from(bytes) : undefined);
    });
  }
}

/** Asserts that `text` shows nothing of the server's insides (a stack trace, a file path). */
export function assertNoInternals(text: string, what = "the body"): void {
  assert.doesNotMatch(text, /^\s+at .*[(:]\d+/m, `no stack trace in ${what}: ${text}`);
  assert.doesNotMatch(text, /file:\/\/|\/src\/|\.ts:\d+/, `no source paths in ${what}: ${text}`);
}

/**
 * Asserts that `r` is an error answer of `status` in the one shape
 * (`{"error": string}` or `{"error": string, "field": string}`), JSON, and
 * that its `field` is `field` (undefined: no field; `true`: some field).
 * Gives the body.
 */
export function assertError(
  r: ApiAnswer,
  status: number,
  field?: string | true,
  what = "",
): { error: string; field?: string } {
  const label = `${what ? `${what}: ` : ""}${r.status} ${r.text}`;
  assert.equal(r.status, status, label);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/, label);
  assertNoInternals(r.text);
  const body = r.json() as Record<string, unknown>;
  assert.ok(body !== null && typeof body === "object" && !Array.isArray(body), label);
  const keys = Object.keys(body).sort();
  assert.ok(
    keys.length === 1 && keys[0] === "error" ||
      keys.length === 2 && keys[0] === "error" && keys[1] === "field",
    `the body is {"error"} or {"error", "field"}: ${label}`,
  );
  assert.equal(typeof body.error, "string", label);
  assert.ok((body.error as string).length > 0, label);
  if (field === true) assert.equal(typeof body.field, "string", `a field: ${label}`);
  else assert.equal(body.field, field, `field: ${label}`);
  return body as { error: string; field?: string };
}

/** The exact challenge a 401 carries (RFC 9110 §11.6.1). */
export const CHALLENGE = 'Basic realm="postino"';

/** Asserts a 401 with the Basic challenge and the error shape. */
export function assertUnauthorized(r: ApiAnswer, what = ""): void {
  assertError(r, 401, undefined, what);
  assert.equal(r.headers.get("www-authenticate"), CHALLENGE, `${what}: WWW-Authenticate`);
}

// ---------------------------------------------------------------------------
// The OpenAPI document

/** The parts of the OpenAPI document the tests read. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema> };
}

/** One operation. */
export interface OpenApiOperation {
  "x-access": "public" | "user" | "admin";
  security: unknown[];
  requestBody?: { content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
}

/** The JSON Schema subset the document uses. */
export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: string[];
  format?: string;
}

/** Every operation of the document as [METHOD, path, operation]. */
export function operations(doc: OpenApiDocument): [string, string, OpenApiOperation][] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([m, op]) =>
      [m.toUpperCase(), path, op] as [string, string, OpenApiOperation]
    )
  );
}

/** Asserts that `value` conforms to `schema` (refs resolved in `doc`); `at` names where. */
export function assertConforms(
  value: unknown,
  schema: JsonSchema,
  doc: OpenApiDocument,
  at = "$",
): void {
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    assert.ok(doc.components.schemas[name], `${at}: unknown $ref ${schema.$ref}`);
    return assertConforms(value, doc.components.schemas[name], doc, at);
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const kind = value === null
    ? "null"
    : Array.isArray(value)
    ? "array"
    : Number.isInteger(value)
    ? "integer"
    : typeof value;
  assert.ok(
    types.includes(kind) || kind === "integer" && types.includes("number"),
    `${at}: expected ${types.join("|")}, got ${kind} ${JSON.stringify(value)}`,
  );
  if (kind === "string" && schema.enum) {
    assert.ok(schema.enum.includes(value as string), `${at}: ${value} not in ${schema.enum}`);
  }
  if (kind === "string" && schema.format === "date-time") {
    assert.ok(!Number.isNaN(Date.parse(value as string)), `${at}: a date-time, got ${value}`);
  }
  if (kind === "array" && schema.items) {
    (value as unknown[]).forEach((v, i) => assertConforms(v, schema.items!, doc, `${at}[${i}]`));
  }
  if (kind === "object" && schema.properties) {
    const record = value as Record<string, unknown>;
    for (const name of schema.required ?? []) {
      assert.ok(name in record, `${at}.${name} is required: ${JSON.stringify(value)}`);
    }
    for (const [name, v] of Object.entries(record)) {
      const property = schema.properties[name];
      if (property) assertConforms(v, property, doc, `${at}.${name}`);
      else {
        assert.notEqual(
          schema.additionalProperties ?? true,
          false,
          `${at}.${name} is not in the schema: ${JSON.stringify(value)}`,
        );
      }
    }
  }
}

/**
 * Asserts that the JSON body of `r` is what the document says `method path`
 * answers with `r.status`; gives the body.
 */
export function assertDocumented(
  r: ApiAnswer,
  doc: OpenApiDocument,
  method: string,
  path: string,
): unknown {
  const op = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${path} is in the document`);
  const response = op.responses[String(r.status)];
  assert.ok(response, `${method} ${path}: status ${r.status} is documented (${r.text})`);
  const schema = response.content?.["application/json"]?.schema;
  assert.ok(schema, `${method} ${path} ${r.status}: a JSON schema is documented`);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json\b/);
  const body = r.json();
  assertConforms(body, schema, doc);
  return body;
}

// ---------------------------------------------------------------------------
// Cookies

/** A parsed Set-Cookie field: name, value and attributes by lower-case name. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
}

/** Parses one Set-Cookie field value (RFC 6265 §5.2). */
export function parseSetCookie(text: string): SetCookie {
  const [pair, ...attrs] = text.split(";").map((p) => p.trim());
  const eq = pair.indexOf("=");
  assert.ok(eq > 0, `a name=value pair in ${text}`);
  const attributes = new Map<string, string>();
  for (const a of attrs) {
    const i = a.indexOf("=");
    attributes.set((i < 0 ? a : a.slice(0, i)).toLowerCase(), i < 0 ? "" : a.slice(i + 1));
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}
