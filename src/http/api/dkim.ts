/** /api/v1/dkim: list DKIM keys and make new ones (with the TXT record to publish). */
import {
  defaultSelector,
  DKIM_ALGORITHMS,
  type DkimAlgorithm,
  dnsRecord,
  generateDkimKey,
  isValidSelector,
} from "../../security/dkim.ts";
import { addDkimKey, checkCanAddDkimKey, listDkimKeys } from "../../store/dkim_keys.ts";
import { ApiError, withField } from "../errors.ts";
import { domainFrom } from "./domains.ts";
import { json, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

const key = s.object({
  domain: s.string("The signing domain"),
  selector: s.string("The selector"),
  algorithm: s.string("Key type", { enum: DKIM_ALGORITHMS }),
  active: s.boolean("The newest active key of a domain signs its mail"),
  createdAt: s.string("When the key was made (ISO 8601)", { format: "date-time" }),
  name: s.string("The TXT record's name: <selector>._domainkey.<domain>"),
  record: s.string("The TXT record's value to publish"),
});

export const dkimRoutes = [
  {
    method: "GET",
    path: "/api/v1/dkim",
    summary: "List DKIM keys",
    tag: "dkim",
    access: "admin",
    responses: { 200: { description: "Every key, with its DNS record", schema: s.array(key) } },
    handle: ({ services }) =>
      json(
        listDkimKeys(services.store).map((k) => {
          const record = dnsRecord(k.domain, k.selector, k);
          return {
            domain: k.domain,
            selector: k.selector,
            algorithm: k.algorithm,
            active: k.active,
            createdAt: k.createdAt.toISOString(),
            name: record.name,
            record: record.value,
          };
        }),
      ),
  } satisfies RouteSpec,
  {
    method: "POST",
    path: "/api/v1/dkim",
    summary: "Make a DKIM key for a local domain",
    description: "It signs the domain's outbound mail at once, so publish the record right away.",
    tag: "dkim",
    access: "admin",
    body: s.object({
      domain: s.string("A local domain", { minLength: 1, maxLength: 253 }),
      selector: s.string("Default postino<YYYYMM>", { minLength: 1, maxLength: 252 }),
      algorithm: s.string("Default rsa (2048 bits)", { enum: DKIM_ALGORITHMS }),
    }, ["domain"]),
    responses: { 201: { description: "Made", schema: key } },
    handle: async ({ body, services }) => {
      const domain = domainFrom(body.domain);
      const selector = (body.selector ?? defaultSelector()).toLowerCase();
      if (!isValidSelector(selector)) {
        throw new ApiError(422, "Use letters, digits, hyphens and dots", "selector");
      }
      const algorithm = (body.algorithm ?? "rsa") as DkimAlgorithm;
      withField("domain", () => checkCanAddDkimKey(services.store, domain, selector));
      const made = await generateDkimKey(algorithm);
      addDkimKey(services.store, { domain, selector, ...made });
      const record = dnsRecord(domain, selector, made);
      return json({
        domain,
        selector,
        algorithm,
        active: true,
        createdAt: new Date().toISOString(),
        name: record.name,
        record: record.value,
      }, 201);
    },
  } satisfies RouteSpec<{ domain: string; selector?: string; algorithm?: string }>,
];
