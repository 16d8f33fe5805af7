/**
 * The JSON Schema subset the API's bodies and answers are described in. One
 * description serves twice: requests are checked against it at the edge, and
 * the OpenAPI document is made from it, so the two cannot drift apart.
 *
 * Why not zod and @hono/zod-openapi: our bodies are small flat objects, and
 * these hundred lines cost nothing at start, where those packages cost
 * megabytes of a small VPS's memory.
 */
import { ApiError } from "./errors.ts";

/** A JSON Schema (OpenAPI 3.1 dialect) of the kinds the API uses. */
export type Schema =
  | {
    type: "string";
    description?: string;
    minLength?: number;
    maxLength?: number;
    format?: string;
    enum?: readonly string[];
    pattern?: string;
    example?: string;
  }
  | { type: "boolean"; description?: string }
  | { type: "integer"; description?: string; minimum?: number; maximum?: number }
  | { type: "array"; description?: string; items: Schema; maxItems?: number; minItems?: number }
  | {
    type: "object";
    description?: string;
    properties: Record<string, Schema>;
    required?: readonly string[];
    additionalProperties?: boolean | Schema;
  }
  | { type: ["string", "null"]; description?: string; format?: string }
  | { type: ["integer", "null"]; description?: string };

/**
 * Checks `value` against `schema`; throws a 422 {@link ApiError} naming the
 * first field at fault (`to[2]`, `attachments[0].content`). Unknown object
 * properties are refused unless the schema allows them, so a misspelt
 * field is an error rather than silently ignored.
 */
export function validate(value: unknown, schema: Schema, field = ""): void {
  const fail = (message: string): never => {
    throw new ApiError(422, field ? `${field}: ${message}` : message, field || undefined);
  };
  const type = schema.type;
  if (Array.isArray(type)) {
    if (value === null) return;
    if (type[0] === "string" && typeof value !== "string") fail("must be a string or null");
    if (type[0] === "integer" && !Number.isSafeInteger(value)) fail("must be an integer or null");
    return;
  }
  switch (type) {
    case "string": {
      if (typeof value !== "string") return fail("must be a string");
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        fail(
          schema.minLength === 1
            ? "must not be empty"
            : `must have ${schema.minLength}+ characters`,
        );
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        fail(`must have at most ${schema.maxLength} characters`);
      }
      if (schema.enum && !schema.enum.includes(value)) {
        fail(`must be one of ${schema.enum.join(", ")}`);
      }
      if (schema.pattern && !new RegExp(schema.pattern).test(value)) fail("has an invalid format");
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") fail("must be true or false");
      return;
    case "integer":
      if (typeof value !== "number" || !Number.isSafeInteger(value)) {
        return fail("must be an integer");
      }
      if (schema.minimum !== undefined && value < schema.minimum) {
        fail(`must be ≥ ${schema.minimum}`);
      }
      if (schema.maximum !== undefined && value > schema.maximum) {
        fail(`must be ≤ ${schema.maximum}`);
      }
      return;
    case "array": {
      if (!Array.isArray(value)) return fail("must be an array");
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        fail(`must have at most ${schema.maxItems} items`);
      }
      if (schema.minItems !== undefined && value.length < schema.minItems) {
        fail(schema.minItems === 1 ? "must not be empty" : `must have ${schema.minItems}+ items`);
      }
      value.forEach((item, i) => validate(item, schema.items, `${field}[${i}]`));
      return;
    }
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return fail("must be an object");
      }
      const record = value as Record<string, unknown>;
      const child = (name: string) => field ? `${field}.${name}` : name;
      for (const name of schema.required ?? []) {
        if (record[name] === undefined) {
          throw new ApiError(422, `${child(name)}: is required`, child(name));
        }
      }
      for (const [name, item] of Object.entries(record)) {
        const property = Object.hasOwn(schema.properties, name)
          ? schema.properties[name]
          : schema.additionalProperties;
        if (property === undefined || property === false) {
          throw new ApiError(422, `${child(name)}: is not a known field`, child(name));
        }
        if (property === true || item === undefined) continue;
        validate(item, property, child(name));
      }
      return;
    }
  }
}

/** Shorthands for writing schemas. */
export const s = {
  string: (description: string, extra: Omit<Extract<Schema, { type: "string" }>, "type"> = {}) =>
    ({ type: "string", description, ...extra }) as const satisfies Schema,
  boolean: (description: string) => ({ type: "boolean", description }) as const satisfies Schema,
  integer: (description: string) => ({ type: "integer", description }) as const satisfies Schema,
  array: (items: Schema, description = "", maxItems?: number): Schema => ({
    type: "array",
    items,
    ...(description ? { description } : {}),
    ...(maxItems !== undefined ? { maxItems } : {}),
  }),
  object: (
    properties: Record<string, Schema>,
    required: readonly string[] = Object.keys(properties),
    description?: string,
  ): Schema => ({
    type: "object",
    properties,
    required,
    additionalProperties: false,
    ...(description ? { description } : {}),
  }),
};
