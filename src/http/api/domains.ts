/** /api/v1/domains: list, add and delete local domains; the DNS records to publish. */
import { normalizeDomain } from "../../address.ts";
import { addDomain, listDomains, removeDomain } from "../../store/accounts.ts";
import { checkDomain } from "../../setup/check.ts";
import { domainRecords } from "../../setup/domain_records.ts";
import { storedPublicIps } from "../../setup/identity.ts";
import { isLocalDomain } from "../../store/accounts.ts";
import { ApiError } from "../errors.ts";
import { json, noContent, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

const domain = s.object({
  domain: s.string("The domain, IDNs as A-labels"),
  users: s.integer("Users in the domain"),
  aliases: s.integer("Aliases in the domain"),
  createdAt: s.string("When it was added (ISO 8601)", { format: "date-time" }),
});
const record = s.object({
  name: s.string("Owner name, without the final dot"),
  type: s.string("Record type", { enum: ["MX", "TXT", "CNAME", "SRV", "A", "AAAA"] }),
  value: s.string("Record data as in a zone file; TXT as one unquoted string"),
  purpose: s.string("Why the record is there"),
  required: s.boolean("Mail fails or is distrusted without it"),
});
const domainParam = { domain: "The domain" };

/** A domain from a request, normalised; a 422 naming `field` when it is not one. */
export function domainFrom(value: string, field = "domain"): string {
  try {
    return normalizeDomain(value);
  } catch (err) {
    throw new ApiError(422, (err as Error).message, field);
  }
}

export const domainRoutes = [
  {
    method: "GET",
    path: "/api/v1/domains",
    summary: "List local domains",
    tag: "domains",
    access: "admin",
    responses: { 200: { description: "Every local domain, by name", schema: s.array(domain) } },
    handle: ({ services }) =>
      json(
        listDomains(services.store).map((d) => ({
          domain: d.name,
          users: d.users,
          aliases: d.aliases,
          createdAt: d.createdAt.toISOString(),
        })),
      ),
  } satisfies RouteSpec,
  {
    method: "POST",
    path: "/api/v1/domains",
    summary: "Add a local domain",
    tag: "domains",
    access: "admin",
    body: s.object({ domain: s.string("The domain", { minLength: 1, maxLength: 253 }) }),
    responses: { 201: { description: "Added", schema: domain } },
    handle: ({ body, services }) => {
      const name = domainFrom(body.domain);
      addDomain(services.store, name);
      return json(
        { domain: name, users: 0, aliases: 0, createdAt: new Date().toISOString() },
        201,
        { Location: `/api/v1/domains/${name}` },
      );
    },
  } satisfies RouteSpec<{ domain: string }>,
  {
    method: "DELETE",
    path: "/api/v1/domains/{domain}",
    summary: "Delete a local domain",
    description: "Only a domain without users and aliases (409 otherwise).",
    tag: "domains",
    access: "admin",
    params: domainParam,
    responses: { 204: { description: "Deleted" } },
    handle: ({ params, services }) => {
      removeDomain(services.store, domainFrom(params.domain));
      return noContent();
    },
  } satisfies RouteSpec,
  {
    method: "GET",
    path: "/api/v1/domains/{domain}/dns",
    summary: "The DNS records to publish for a domain",
    tag: "domains",
    access: "admin",
    params: domainParam,
    responses: { 200: { description: "Records, required ones first", schema: s.array(record) } },
    handle: async ({ params, services }) =>
      json(await domainRecords(services.store, services.config, domainFrom(params.domain))),
  } satisfies RouteSpec,
  {
    method: "GET",
    path: "/api/v1/domains/{domain}/check",
    summary: "What the world sees of a domain and this server",
    description: "The report of 'postino check': DNS records, blocklists, the certificate. " +
      "`?port25=1` also tries an outbound connection to port 25.",
    tag: "domains",
    access: "admin",
    params: domainParam,
    responses: {
      200: {
        description: "One entry per check",
        schema: s.array(s.object({
          check: s.string("What was checked"),
          status: s.string("The outcome", { enum: ["ok", "warn", "fail"] }),
          detail: s.string("What was found, and what to change"),
        })),
      },
    },
    handle: async ({ params, services, request }) => {
      const domain = domainFrom(params.domain);
      if (!isLocalDomain(services.store, domain)) {
        throw new ApiError(404, `Domain ${domain} does not exist`);
      }
      return json(
        await checkDomain({
          store: services.store,
          config: services.config,
          domain,
          resolver: services.resolver,
          ips: storedPublicIps(services.store),
          port25: new URL(request.url).searchParams.get("port25") === "1",
        }),
        200,
        { "Cache-Control": "no-store" },
      );
    },
  } satisfies RouteSpec,
];
