/** The OpenAPI 3.1 document of the API, made from the route table (route.ts). */
import { VERSION } from "../version.ts";
import type { RouteSpec } from "./route.ts";
import { s } from "./schema.ts";

const ERROR_SCHEMA = s.object({
  error: s.string("What went wrong, in one sentence"),
  field: s.string("The request field at fault, when there is one"),
}, ["error"]);

const COMMON_ERRORS: Record<number, string> = {
  400: "Malformed request (not JSON, a bad id)",
  401: 'No or wrong credentials (WWW-Authenticate: Basic realm="postino")',
  403: "Not allowed: not an admin, someone else's resource, credentials over plain HTTP, or " +
    "a missing CSRF token with a session cookie",
  404: "No such resource",
  409: "Already exists, or still in use",
  413: "The body is too large",
  415: "The body is not JSON",
  422: "A field is invalid; `field` names it",
};

/** The document for `routes`. */
export function openApiDocument(routes: readonly RouteSpec<never>[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operation: Record<string, unknown> = {
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${
        route.path.replace(/^\/api\/v1/, "").replace(/[{}]/g, "").split("/").map((p) =>
          p.charAt(0).toUpperCase() + p.slice(1)
        ).join("")
      }`,
      security: route.access === "public" ? [] : [{ basic: [] }, { bearer: [] }, { session: [] }],
      "x-access": route.access,
    };
    if (route.params) {
      operation.parameters = Object.entries(route.params).map(([name, description]) => ({
        name,
        in: "path",
        required: true,
        description,
        schema: { type: "string" },
      }));
    }
    if (route.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: route.body } },
      };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      responses[status] = {
        description: spec.description,
        ...(spec.schema
          ? { content: { [spec.contentType ?? "application/json"]: { schema: spec.schema } } }
          : {}),
      };
    }
    const errors = route.access === "public" ? [400, 413, 415, 422] : Object.keys(COMMON_ERRORS);
    for (const status of errors) {
      if (!route.body && ["413", "415"].includes(String(status))) continue;
      responses[status] ??= {
        description: COMMON_ERRORS[Number(status)],
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    operation.responses = responses;
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Postino API",
      version: VERSION,
      description: "Administer a Postino mail server and send mail. Authenticate with HTTP Basic " +
        "(a user's address and password) or a Bearer token from 'postino token create'. " +
        "Credentials are accepted only over HTTPS or from loopback.",
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        basic: { type: "http", scheme: "basic" },
        bearer: { type: "http", scheme: "bearer" },
        session: {
          type: "apiKey",
          in: "cookie",
          name: "postino_session",
          description: "The web UI's session; state changes also need X-CSRF-Token",
        },
      },
    },
  };
}
