/**
 * Every error the HTTP layer answers is made here, in one shape:
 * `{"error": "...", "field": "..."}` with a 4xx status (RFC 9110 §15.5).
 * Anything that is not a known, user-caused error becomes a 500 whose body
 * says nothing about the cause; the cause is logged.
 */
import { AddressError } from "../address.ts";
import { log } from "../log.ts";
import { StoreError } from "../store/db.ts";

/** An error answer: status, message, and the request field at fault when there is one. */
export class ApiError extends Error {
  readonly status: number;
  readonly field?: string;
  readonly headers?: Record<string, string>;
  constructor(status: number, message: string, field?: string, headers?: Record<string, string>) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.field = field;
    this.headers = headers;
  }
}

/** The challenge sent with every 401 (RFC 9110 §11.6.1). */
export const CHALLENGE = { "WWW-Authenticate": 'Basic realm="postino"' };

/** A 401 asking for credentials. */
export function unauthorized(message = "Authentication required"): ApiError {
  return new ApiError(401, message, undefined, CHALLENGE);
}

/**
 * Runs a store call whose refusals are about the request field `field` (a
 * user in a domain that is not local: "address"), so the 422 names it.
 */
export function withField<T>(field: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof StoreError && err.kind === "invalid") {
      throw new ApiError(422, err.message, field);
    }
    throw err;
  }
}

const STORE_STATUS = { not_found: 404, conflict: 409, invalid: 422 } as const;

const logger = log("http");

/** The JSON answer for `err`; `field` names the input an address error came from. */
export function errorResponse(err: unknown, field?: string): Response {
  if (err instanceof ApiError) return jsonError(err.status, err.message, err.field, err.headers);
  if (err instanceof StoreError) return jsonError(STORE_STATUS[err.kind], err.message, field);
  if (err instanceof AddressError) return jsonError(422, err.message, field);
  logger.error("HTTP handler failed: {error}", { error: (err as Error)?.stack ?? String(err) });
  return jsonError(500, "Internal error; the server log has the details");
}

/** A JSON error body with `status`. */
export function jsonError(
  status: number,
  message: string,
  field?: string,
  headers: Record<string, string> = {},
): Response {
  const body = field === undefined ? { error: message } : { error: message, field };
  return Response.json(body, { status, headers });
}
