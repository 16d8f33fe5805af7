// The account page: a user's addresses, mailboxes and storage, mail client
// settings, a new password, and mailbox downloads.
import {
  act,
  api,
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

async function main() {
  if (!await loadSession()) await signIn("Postino account");
  const links = session.admin ? [["/admin/", "Admin"]] : [];
  frame("Postino account", [["/account/", "My account"], ...links], "/account/");
  try {
    await render(document.getElementById("view"));
  } catch (err) {
    flash("error", err.message);
  }
}

async function render(view) {
  const account = await api("GET", "/api/v1/account");
  const mailboxRows = account.mailboxes.map((m) =>
    h(
      "tr",
      { "data-mailbox": m.name },
      h("td", {}, m.name),
      h("td", { class: "num" }, m.messages),
      h("td", { class: "num" }, m.unseen),
      h("td", { class: "num" }, size(m.bytes)),
      h(
        "td",
        { class: "actions" },
        h("a", {
          class: "button secondary",
          href: `/api/v1/account/mbox?mailbox=${encodeURIComponent(m.name)}`,
          download: `${m.name.replace(/[^A-Za-z0-9._-]+/g, "_") || "mailbox"}.mbox`,
        }, "Download mbox"),
      ),
    )
  );
  const s = account.servers;
  const setting = (label, host, port, security) =>
    port
      ? [
        h("dt", {}, label),
        h("dd", {}, h("span", { class: "mono" }, `${host}:${port}`), ` (${security})`),
      ]
      : [];
  const passwordForm = h(
    "form",
    {
      class: "inline",
      id: "change-password",
      onsubmit: async (event) => {
        event.preventDefault();
        const { currentPassword, password, repeat } = formValues(passwordForm);
        if (password !== repeat) {
          flash("error", "The new passwords do not match");
          return;
        }
        const ok = await act(
          passwordForm.querySelector("button"),
          () =>
            api("PUT", `/api/v1/users/${encodeURIComponent(account.address)}/password`, {
              password,
              currentPassword,
            }),
        );
        if (ok) {
          // A new password ends every session, this one too: sign in again with it.
          document.body.replaceChildren(
            h(
              "main",
              {},
              h(
                "section",
                { class: "card signin", id: "password-changed" },
                h("h1", {}, "Password changed"),
                h("p", {}, "Sign in again with your new password. Your mail clients need it too."),
                h("a", { class: "button", href: "/account/" }, "Sign in"),
              ),
            ),
          );
        }
      },
    },
    // Lets password managers know whose password this is.
    h("input", {
      type: "text",
      name: "username",
      autocomplete: "username",
      value: account.address,
      hidden: true,
      readonly: true,
    }),
    h(
      "label",
      {},
      "Current password",
      h("input", {
        type: "password",
        name: "currentPassword",
        id: "current-password",
        autocomplete: "current-password",
        required: true,
      }),
    ),
    h(
      "label",
      {},
      "New password",
      h("input", {
        type: "password",
        name: "password",
        id: "new-password",
        autocomplete: "new-password",
        required: true,
      }),
    ),
    h(
      "label",
      {},
      "Repeat",
      h("input", {
        type: "password",
        name: "repeat",
        id: "repeat-password",
        autocomplete: "new-password",
        required: true,
      }),
    ),
    h("button", { type: "submit" }, "Change password"),
  );
  view.replaceChildren(
    h("h1", {}, account.address),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Addresses and storage"),
      h(
        "dl",
        { class: "settings" },
        h("dt", {}, "Your address"),
        h("dd", { id: "account-address" }, account.address),
        h("dt", {}, "Aliases"),
        h(
          "dd",
          { id: "account-aliases" },
          account.aliases.length ? account.aliases.join(", ") : "none",
        ),
        h("dt", {}, "Stored"),
        h(
          "dd",
          { id: "account-usage" },
          `${account.usage.messages} message${account.usage.messages === 1 ? "" : "s"}, ${
            size(account.usage.bytes)
          }`,
          account.usage.quotaBytes ? ` of ${size(account.usage.quotaBytes)}` : " (no quota)",
        ),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Mailboxes"),
      table(
        [{ label: "Mailbox" }, { label: "Messages", num: true }, { label: "Unread", num: true }, {
          label: "Size",
          num: true,
        }, { label: "" }],
        mailboxRows,
        "No mailboxes.",
        { id: "mailboxes" },
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Mail client settings"),
      h(
        "p",
        { class: "hint" },
        "Thunderbird and Outlook find these by themselves from your address. Log in with your full address and password.",
      ),
      h(
        "dl",
        { class: "settings", id: "client-settings" },
        ...setting("IMAP", s.hostname, s.imaps, "TLS"),
        ...setting("IMAP", s.hostname, s.imap, "STARTTLS"),
        ...setting("POP3", s.hostname, s.pop3s, "TLS"),
        ...setting("POP3", s.hostname, s.pop3, "STARTTLS"),
        ...setting("Sending (SMTP)", s.hostname, s.submissions, "TLS"),
        ...setting("Sending (SMTP)", s.hostname, s.submission, "STARTTLS"),
      ),
      h(
        "p",
        {},
        h("a", {
          class: "button secondary",
          href: "/api/v1/account/mobileconfig",
          download: "postino.mobileconfig",
        }, "Apple Mail profile (iPhone, iPad, Mac)"),
      ),
    ),
    h("section", { class: "card" }, h("h2", {}, "Change password"), passwordForm),
  );
}

main().catch((err) => {
  document.body.textContent = `Postino account failed to start: ${err.message}`;
});
