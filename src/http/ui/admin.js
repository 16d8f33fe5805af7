// The admin page: live figures, domains with their DNS records, users,
// aliases, DKIM keys and the outbound queue. Every change goes through the
// JSON API, as any other client's would.
import {
  act,
  age,
  api,
  dangerButton,
  flash,
  formValues,
  frame,
  h,
  loadSession,
  session,
  signIn,
  size,
  table,
} from "./common.js";

const SECTIONS = [
  ["#overview", "Overview"],
  ["#domains", "Domains"],
  ["#users", "Users"],
  ["#aliases", "Aliases"],
  ["#dkim", "DKIM"],
  ["#queue", "Queue"],
];

let pollTimer;

async function main() {
  if (!await loadSession()) await signIn("Postino admin");
  if (!session.admin) {
    frame("Postino admin", [["/account/", "My account"]], "");
    document.getElementById("view").replaceChildren(
      h(
        "section",
        { class: "card" },
        h("h1", {}, "Not an admin"),
        h(
          "p",
          {},
          `${session.address} may not administer this server. `,
          h("a", { href: "/account/" }, "Go to your account"),
          ".",
        ),
      ),
    );
    return;
  }
  addEventListener("hashchange", show);
  await show();
}

/** The section on screen, so that another one starts without the last action's message. */
let shown;

async function show() {
  const current = SECTIONS.some(([hash]) => hash === location.hash) ? location.hash : "#overview";
  if (current !== shown) document.getElementById("flash")?.replaceChildren();
  shown = current;
  frame("Postino admin", [...SECTIONS, ["/account/", "My account"]], current);
  clearInterval(pollTimer);
  const view = document.getElementById("view");
  const render = {
    "#overview": overview,
    "#domains": domains,
    "#users": users,
    "#aliases": aliases,
    "#dkim": dkim,
    "#queue": queue,
  }[current];
  try {
    await render(view);
  } catch (err) {
    flash("error", err.message);
  }
}

/** Re-renders the current section (after a change). */
function refresh() {
  return show();
}

// ---------------------------------------------------------------------------

async function overview(view) {
  const figure = (id, label) =>
    h(
      "div",
      { class: "figure" },
      h("div", { class: "value", id }, "…"),
      h("div", { class: "label" }, label),
    );
  view.replaceChildren(
    h("h1", {}, "Overview"),
    h(
      "div",
      { class: "figures" },
      figure("stat-today", "Messages today"),
      figure("stat-queue", "In the outbound queue"),
      figure("stat-connections", "Open connections"),
      figure("stat-users", "Users"),
      figure("stat-domains", "Domains"),
      figure("stat-uptime", "Up for"),
    ),
    h("p", { class: "hint", id: "stat-extra" }),
  );
  const update = async () => {
    const stats = await api("GET", "/api/v1/stats");
    const set = (id, text) => {
      const el = document.getElementById(id);
      if (el) el.textContent = text;
    };
    set("stat-today", stats.messagesToday);
    set("stat-queue", stats.queue.messages);
    set("stat-connections", stats.connections);
    set("stat-users", stats.users);
    set("stat-domains", stats.domains);
    set("stat-uptime", age(stats.uptimeSeconds));
    set(
      "stat-extra",
      `${stats.acceptedSinceStart} message${
        stats.acceptedSinceStart === 1 ? "" : "s"
      } accepted since start · memory ${size(stats.rssBytes)}` +
        (stats.queue.messages ? ` · oldest queued ${age(stats.queue.oldestAgeSeconds)} ago` : ""),
    );
  };
  await update();
  pollTimer = setInterval(() => update().catch(() => {}), 5000);
}

// ---------------------------------------------------------------------------

async function domains(view) {
  const list = await api("GET", "/api/v1/domains");
  const records = h("div", { id: "records" });
  const rows = list.map((d) =>
    h(
      "tr",
      { "data-domain": d.domain },
      h("td", {}, d.domain),
      h("td", { class: "num" }, d.users),
      h("td", { class: "num" }, d.aliases),
      h(
        "td",
        { class: "actions" },
        h("button", {
          type: "button",
          class: "secondary",
          onclick: () => showRecords(records, d.domain),
        }, "DNS records"),
        h("button", {
          type: "button",
          class: "secondary",
          onclick: (event) => showCheck(records, d.domain, event.target),
        }, "Check"),
        dangerButton("Delete", (button) =>
          act(button, () =>
            api("DELETE", `/api/v1/domains/${encodeURIComponent(d.domain)}`), `Deleted ${d.domain}`)
            .then((ok) =>
              ok && refresh()
            )),
      ),
    )
  );
  const form = h(
    "form",
    {
      class: "inline",
      id: "add-domain",
      onsubmit: async (event) => {
        event.preventDefault();
        const { domain } = formValues(form);
        const ok = await act(
          form.querySelector("button"),
          () => api("POST", "/api/v1/domains", { domain }),
          `Added ${domain}`,
        );
        if (ok) {
          await refresh();
          await showRecords(document.getElementById("records"), domain.toLowerCase());
        }
      },
    },
    h(
      "label",
      {},
      "Domain",
      h("input", { type: "text", name: "domain", required: true, placeholder: "example.com" }),
    ),
    h("button", { type: "submit" }, "Add domain"),
  );
  view.replaceChildren(
    h("h1", {}, "Domains"),
    h(
      "section",
      { class: "card" },
      table(
        [{ label: "Domain" }, { label: "Users", num: true }, { label: "Aliases", num: true }, {
          label: "",
        }],
        rows,
        "No domains yet.",
        { id: "domains" },
      ),
      form,
    ),
    records,
  );
}

async function showRecords(box, domain) {
  const list = await api("GET", `/api/v1/domains/${encodeURIComponent(domain)}/dns`).catch(
    (err) => {
      flash("error", err.message);
      return null;
    },
  );
  if (!list) return;
  const rows = list.map((r) =>
    h(
      "tr",
      {},
      h("td", {}, h("code", {}, r.name)),
      h(
        "td",
        {},
        r.type,
        r.required ? null : h("span", { class: "badge", title: "Recommended" }, "optional"),
      ),
      h("td", {}, h("code", {}, r.value)),
      h("td", { class: "hint" }, r.purpose),
    )
  );
  box.replaceChildren(
    h(
      "section",
      { class: "card" },
      h("h2", {}, `DNS records for ${domain}`),
      h(
        "p",
        { class: "hint" },
        "Publish these at your DNS provider. Values are as in a zone file; long TXT values may need splitting into 255-character strings.",
      ),
      table(
        [{ label: "Name" }, { label: "Type" }, { label: "Value" }, { label: "Why" }],
        rows,
        "No records.",
        { class: "records", id: "dns-records" },
      ),
    ),
  );
  box.scrollIntoView({ behavior: "instant", block: "start" });
}

/** The report of `postino check` for a domain: what the world sees, line by line. */
async function showCheck(box, domain, button) {
  button.disabled = true;
  box.replaceChildren(
    h("section", { class: "card" }, h("p", { class: "hint" }, `Checking ${domain}…`)),
  );
  try {
    const report = await api("GET", `/api/v1/domains/${encodeURIComponent(domain)}/check`);
    const badge = { ok: "good", warn: "warn", fail: "bad" };
    const rows = report.map((r) =>
      h(
        "tr",
        {},
        h("td", {}, h("span", { class: `badge ${badge[r.status]}` }, r.status.toUpperCase())),
        h("td", {}, r.check),
        h("td", {}, r.detail),
      )
    );
    const failed = report.filter((r) => r.status === "fail").length;
    const summary = failed
      ? `${failed} check${
        failed === 1 ? "" : "s"
      } failed: mail may bounce or be distrusted until fixed.`
      : "Nothing fails.";
    box.replaceChildren(
      h(
        "section",
        { class: "card" },
        h("h2", {}, `Check of ${domain}`),
        h("div", { class: `flash ${failed ? "error" : "ok"}` }, summary),
        table(
          [{ label: "" }, { label: "Check" }, { label: "What was found" }],
          rows,
          "No checks.",
          { id: "check-report" },
        ),
      ),
    );
  } catch (err) {
    flash("error", err.message);
    box.replaceChildren();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------

async function users(view) {
  const [list, domainList] = await Promise.all([
    api("GET", "/api/v1/users"),
    api("GET", "/api/v1/domains"),
  ]);
  const rows = list.map((u) => {
    const passwordForm = h(
      "form",
      {
        class: "inline",
        hidden: true,
        onsubmit: async (event) => {
          event.preventDefault();
          const { password } = formValues(passwordForm);
          const ok = await act(
            passwordForm.querySelector("button"),
            () =>
              api("PUT", `/api/v1/users/${encodeURIComponent(u.address)}/password`, { password }),
            `Set a new password for ${u.address}`,
          );
          if (ok) passwordForm.hidden = true;
        },
      },
      h("input", {
        type: "password",
        name: "password",
        required: true,
        autocomplete: "new-password",
        placeholder: "New password",
      }),
      h("button", { type: "submit" }, "Save"),
    );
    return h(
      "tr",
      { "data-user": u.address },
      h(
        "td",
        {},
        u.address,
        " ",
        u.admin ? h("span", { class: "badge" }, "admin") : null,
        passwordForm,
      ),
      h("td", { class: "num" }, u.messages),
      h("td", { class: "num" }, size(u.bytes)),
      h("td", { class: "num sending" }, sending(u.sending)),
      h(
        "td",
        { class: "actions" },
        h("button", {
          type: "button",
          class: "secondary",
          onclick: () => passwordForm.hidden = !passwordForm.hidden,
        }, "Reset password"),
        h("button", {
          type: "button",
          class: "secondary",
          onclick: (event) =>
            act(
              event.target,
              () =>
                api("PUT", `/api/v1/users/${encodeURIComponent(u.address)}/admin`, {
                  admin: !u.admin,
                }),
              `${u.address} is ${u.admin ? "no longer" : "now"} an admin`,
            ).then((ok) => ok && refresh()),
        }, u.admin ? "Remove admin" : "Make admin"),
        dangerButton(
          "Delete",
          (button) =>
            act(
              button,
              () => api("DELETE", `/api/v1/users/${encodeURIComponent(u.address)}`),
              `Deleted ${u.address} and their mail`,
            ).then((ok) => ok && refresh()),
        ),
      ),
    );
  });
  const form = h(
    "form",
    {
      class: "inline",
      id: "add-user",
      onsubmit: async (event) => {
        event.preventDefault();
        const { address, password, admin } = formValues(form);
        const ok = await act(
          form.querySelector("button"),
          () => api("POST", "/api/v1/users", { address, password, admin }),
          `Added ${address}`,
        );
        if (ok) await refresh();
      },
    },
    h(
      "label",
      {},
      "Address",
      h("input", {
        type: "email",
        name: "address",
        required: true,
        placeholder: domainList.length ? `someone@${domainList[0].domain}` : "someone@example.com",
      }),
    ),
    h(
      "label",
      {},
      "Password",
      h("input", {
        type: "password",
        name: "password",
        required: true,
        autocomplete: "new-password",
      }),
    ),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "admin" }), "Admin"),
    h("button", { type: "submit" }, "Add user"),
  );
  view.replaceChildren(
    h("h1", {}, "Users"),
    h(
      "section",
      { class: "card" },
      table(
        [
          { label: "Address" },
          { label: "Messages", num: true },
          { label: "Stored", num: true },
          { label: "Sent in the last hour", num: true },
          { label: "" },
        ],
        rows,
        "No users yet.",
        { id: "users" },
      ),
      domainList.length
        ? form
        : h("p", { class: "hint" }, "Add a domain first; users live in local domains."),
    ),
  );
}

/**
 * What a user sent in the last hour against the hourly limits, and a mark
 * when a limit refused them in that hour.
 */
function sending(s) {
  const of = (count, limit, what) => limit ? `${count} / ${limit} ${what}` : `${count} ${what}`;
  const counts = [
    of(s.messages, s.messagesLimit, "messages"),
    h("div", { class: "hint" }, of(s.recipients, s.recipientsLimit, "recipients")),
  ];
  if (!s.limitedAt) return counts;
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(s.limitedAt)) / 1000));
  const ago = seconds < 60 ? "just now" : `${age(seconds)} ago`;
  return [
    h("span", {
      class: "badge bad",
      title: `The hourly ${s.limitedBy} limit refused mail of this user ${ago}`,
    }, `limited ${ago}`),
    " ",
    ...counts,
  ];
}

// ---------------------------------------------------------------------------

async function aliases(view) {
  const list = await api("GET", "/api/v1/aliases");
  const rows = list.map((a) =>
    h(
      "tr",
      {},
      h("td", {}, a.alias),
      h("td", {}, a.target),
      h(
        "td",
        { class: "actions" },
        dangerButton("Delete", (button) =>
          act(
            button,
            () => api("DELETE", `/api/v1/aliases/${encodeURIComponent(a.alias)}`),
            `Deleted ${a.alias}`,
          ).then((ok) => ok && refresh())),
      ),
    )
  );
  const form = h(
    "form",
    {
      class: "inline",
      id: "add-alias",
      onsubmit: async (event) => {
        event.preventDefault();
        const { alias, target } = formValues(form);
        const ok = await act(
          form.querySelector("button"),
          () => api("POST", "/api/v1/aliases", { alias, target }),
          `${alias} now delivers to ${target}`,
        );
        if (ok) await refresh();
      },
    },
    h(
      "label",
      {},
      "Alias",
      h("input", { type: "email", name: "alias", required: true, placeholder: "info@example.com" }),
    ),
    h(
      "label",
      {},
      "Delivers to",
      h("input", {
        type: "email",
        name: "target",
        required: true,
        placeholder: "alice@example.com",
      }),
    ),
    h("button", { type: "submit" }, "Add alias"),
  );
  view.replaceChildren(
    h("h1", {}, "Aliases"),
    h(
      "section",
      { class: "card" },
      table([{ label: "Alias" }, { label: "Delivers to" }, { label: "" }], rows, "No aliases.", {
        id: "aliases",
      }),
      form,
      h(
        "p",
        { class: "hint" },
        "Add an alias again with another target to deliver to several addresses.",
      ),
    ),
  );
}

// ---------------------------------------------------------------------------

async function dkim(view) {
  const [keys, domainList] = await Promise.all([
    api("GET", "/api/v1/dkim"),
    api("GET", "/api/v1/domains"),
  ]);
  const rows = keys.map((k) =>
    h(
      "tr",
      {},
      h("td", {}, k.domain),
      h("td", {}, k.selector),
      h("td", {}, k.algorithm),
      h(
        "td",
        {},
        k.active
          ? h("span", { class: "badge good" }, "active")
          : h("span", { class: "badge" }, "inactive"),
      ),
      h("td", {}, h("code", {}, k.name), h("br"), h("code", {}, k.record)),
    )
  );
  const form = h(
    "form",
    {
      class: "inline",
      id: "add-dkim",
      onsubmit: async (event) => {
        event.preventDefault();
        const { domain, algorithm } = formValues(form);
        const ok = await act(
          form.querySelector("button"),
          () => api("POST", "/api/v1/dkim", { domain, algorithm }),
          `Made a ${algorithm} key for ${domain}: publish its record now`,
        );
        if (ok) await refresh();
      },
    },
    h(
      "label",
      {},
      "Domain",
      h(
        "select",
        { name: "domain", required: true },
        domainList.map((d) => h("option", { value: d.domain }, d.domain)),
      ),
    ),
    h(
      "label",
      {},
      "Algorithm",
      h(
        "select",
        { name: "algorithm" },
        h("option", { value: "rsa" }, "RSA 2048 (works everywhere)"),
        h("option", { value: "ed25519" }, "Ed25519"),
      ),
    ),
    h("button", { type: "submit" }, "Make key"),
  );
  view.replaceChildren(
    h("h1", {}, "DKIM keys"),
    h(
      "section",
      { class: "card" },
      table(
        [{ label: "Domain" }, { label: "Selector" }, { label: "Type" }, { label: "State" }, {
          label: "TXT record",
        }],
        rows,
        "No keys yet: outbound mail goes unsigned.",
        { id: "dkim", class: "records" },
      ),
      domainList.length ? form : null,
    ),
  );
}

// ---------------------------------------------------------------------------

async function queue(view) {
  const items = await api("GET", "/api/v1/queue");
  const now = Date.now();
  const rows = items.map((item) =>
    h(
      "tr",
      { "data-queue-id": item.id },
      h("td", { class: "num" }, item.id),
      h("td", {}, item.sender || "<> (bounce)"),
      h(
        "td",
        {},
        item.recipients.map((r) =>
          h(
            "div",
            {},
            r.address,
            " ",
            h("span", {
              class: `badge ${
                r.status === "failed" ? "bad" : r.status === "delivered" ? "good" : "warn"
              }`,
            }, r.status),
            ` ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}`,
            r.lastError ? h("div", { class: "hint mono" }, r.lastError) : null,
          )
        ),
      ),
      h("td", {}, age(Math.max(0, Math.floor((now - Date.parse(item.queuedAt)) / 1000)))),
      h(
        "td",
        { class: "actions" },
        h("button", {
          type: "button",
          class: "secondary",
          onclick: (event) =>
            act(event.target, () =>
              api("POST", `/api/v1/queue/${item.id}/retry`), `Message ${item.id} is due now`).then((
                ok,
              ) =>
                ok && setTimeout(refresh, 1500)
              ),
        }, "Retry now"),
        dangerButton("Delete", (button) =>
          act(button, () =>
            api("DELETE", `/api/v1/queue/${item.id}`), `Removed message ${item.id}`).then((ok) =>
              ok && refresh()
            )),
      ),
    )
  );
  view.replaceChildren(
    h("h1", {}, "Outbound queue"),
    h(
      "section",
      { class: "card" },
      table(
        [{ label: "Id", num: true }, { label: "From" }, { label: "Recipients" }, { label: "Age" }, {
          label: "",
        }],
        rows,
        "The queue is empty.",
        { id: "queue" },
      ),
      h(
        "p",
        { class: "hint" },
        "Failed deliveries are retried after 1m, 5m, 15m, 30m, 1h, 2h, then every 4h, for up to 5 days.",
      ),
      h("button", { type: "button", class: "secondary", onclick: refresh }, "Reload"),
    ),
  );
}

main().catch((err) => {
  document.body.textContent = `Postino admin failed to start: ${err.message}`;
});
