/** /api/v1/aliases: list, add and delete aliases. */
import { addAlias, listAliases, removeAlias } from "../../store/accounts.ts";
import { withField } from "../errors.ts";
import { json, noContent, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";
import { addressFrom } from "./users.ts";

const alias = s.object({
  alias: s.string("The alias address"),
  target: s.string("Where its mail goes (one row per target)"),
});

export const aliasRoutes = [
  {
    method: "GET",
    path: "/api/v1/aliases",
    summary: "List aliases",
    description: "An admin sees every alias; a user sees the aliases that deliver to them.",
    tag: "aliases",
    access: "user",
    responses: { 200: { description: "Aliases with their targets", schema: s.array(alias) } },
    handle: ({ principal, services }) => {
      const target = principal.admin ? undefined : principal.user?.address;
      return json(
        listAliases(services.store, { target }).map((a) => ({
          alias: a.address,
          target: a.target,
        })),
      );
    },
  } satisfies RouteSpec,
  {
    method: "POST",
    path: "/api/v1/aliases",
    summary: "Add an alias target",
    description: "The alias must be in a local domain and not a user; add it again with " +
      "another target to fan out.",
    tag: "aliases",
    access: "admin",
    body: s.object({
      alias: s.string("The alias address", { minLength: 1, maxLength: 320 }),
      target: s.string("A local or remote address", { minLength: 1, maxLength: 320 }),
    }),
    responses: { 201: { description: "Added", schema: alias } },
    handle: ({ body, services }) => {
      const address = addressFrom(body.alias, "alias");
      const target = addressFrom(body.target, "target");
      // The one rule about the target is that it differs from the alias.
      withField(
        address === target ? "target" : "alias",
        () => addAlias(services.store, address, target),
      );
      return json({ alias: address, target }, 201);
    },
  } satisfies RouteSpec<{ alias: string; target: string }>,
  {
    method: "DELETE",
    path: "/api/v1/aliases/{alias}",
    summary: "Delete an alias with all its targets",
    tag: "aliases",
    access: "admin",
    params: { alias: "The alias address" },
    responses: { 204: { description: "Deleted" } },
    handle: ({ params, services }) => {
      removeAlias(services.store, addressFrom(params.alias, "alias"));
      return noContent();
    },
  } satisfies RouteSpec,
];
