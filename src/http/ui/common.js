// What the admin and account pages share: calling the JSON API with the
// session's CSRF token, building DOM nodes (text only, never HTML strings),
// sign-in, sign-out and the messages shown after an action.

/** The signed-in session: { address, admin, csrfToken }, or null. */
export let session = null;

/** An error the API answered, with the field at fault. */
export class ApiFailure extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

/** Calls the API; resolves with the parsed JSON (or null for 204). */
export async function api(method, path, body) {
  // X-Requested-With keeps the server from sending a Basic challenge (and the browser's dialog).
  const headers = { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session?.csrfToken) headers["X-CSRF-Token"] = session.csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiFailure(response.status, data?.error ?? `HTTP ${response.status}`, data?.field);
  }
  return data;
}

/** An element: `h("td", { class: "num" }, "3")`. Strings become text nodes. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A table with a header row, or a line saying there is nothing. */
export function table(columns, rows, emptyText, attributes = {}) {
  if (rows.length === 0) return h("p", { class: "empty" }, emptyText);
  return h(
    "table",
    attributes,
    h(
      "thead",
      {},
      h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.label))),
    ),
    h("tbody", {}, rows),
  );
}

/** Bytes for people: 1.5 MB. */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A duration in seconds for people: 3h 5m. */
export function age(seconds) {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

let flashTimer;

/** Shows the outcome of an action at the top of the page. */
export function flash(kind, text) {
  const box = document.getElementById("flash");
  box.replaceChildren(
    h("div", { class: `flash ${kind}`, role: kind === "error" ? "alert" : "status" }, text),
  );
  clearTimeout(flashTimer);
  if (kind === "ok") flashTimer = setTimeout(() => box.replaceChildren(), 6000);
}

/** Runs an action from a button or form, showing its success or error. */
export async function act(button, work, successText) {
  if (button) button.disabled = true;
  try {
    await work();
    if (successText) flash("ok", successText);
    return true;
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 401) {
      session = null;
      location.reload();
      return false;
    }
    flash("error", err.message);
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * A delete button that asks once more: the first click arms it, the second
 * (within a few seconds) acts.
 */
export function dangerButton(label, work) {
  let armed = false;
  let timer;
  const button = h("button", {
    type: "button",
    class: "danger",
    onclick: async () => {
      if (!armed) {
        armed = true;
        button.classList.add("armed");
        button.textContent = `Confirm ${label.toLowerCase()}`;
        timer = setTimeout(() => {
          armed = false;
          button.classList.remove("armed");
          button.textContent = label;
        }, 4000);
        return;
      }
      clearTimeout(timer);
      await work(button);
    },
  }, label);
  return button;
}

/** The values of a form's named inputs (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    values[element.name] = element.type === "checkbox" ? element.checked : element.value;
  }
  return values;
}

/** The page frame: top bar with the product, the navigation and who is signed in. */
export function frame(title, links, current) {
  const nav = h(
    "nav",
    { "aria-label": "Sections" },
    links.map(([href, label]) =>
      h("a", { href, "aria-current": href === current ? "page" : null }, label)
    ),
  );
  const who = session
    ? h(
      "div",
      { class: "who" },
      h("span", { id: "who" }, session.address ?? "admin token"),
      h("button", { type: "button", class: "link", id: "signout", onclick: signOut }, "Sign out"),
    )
    : null;
  // The message of the action that led here (a re-render after "Add") stays on screen.
  const flashBox = document.getElementById("flash") ?? h("div", { id: "flash" });
  document.body.replaceChildren(
    h("header", { class: "top" }, h("span", { class: "brand" }, title), nav, who),
    h("main", {}, flashBox, h("div", { id: "view" })),
  );
}

async function signOut() {
  await api("DELETE", "/api/v1/session").catch(() => {});
  session = null;
  // Without the section in the address, so nothing renders (and calls the API) before the reload.
  history.replaceState(null, "", location.pathname);
  location.reload();
}

/** Loads the session; resolves with it, or null when nobody is signed in. */
export async function loadSession() {
  try {
    session = await api("GET", "/api/v1/session");
  } catch (err) {
    if (!(err instanceof ApiFailure) || err.status !== 401) throw err;
    session = null;
  }
  return session;
}

/** Shows the sign-in form; resolves once signed in. */
export function signIn(title) {
  return new Promise((resolve) => {
    const error = h("div", { id: "flash" });
    const form = h(
      "form",
      {
        id: "signin",
        onsubmit: async (event) => {
          event.preventDefault();
          const { address, password } = formValues(form);
          const button = form.querySelector("button");
          button.disabled = true;
          try {
            session = await api("POST", "/api/v1/session", { address, password });
            resolve(session);
          } catch (err) {
            error.replaceChildren(h("div", { class: "flash error", role: "alert" }, err.message));
            button.disabled = false;
          }
        },
      },
      h(
        "label",
        {},
        "Address",
        h("input", {
          type: "email",
          name: "address",
          id: "address",
          autocomplete: "username",
          required: true,
          autofocus: true,
        }),
      ),
      h(
        "label",
        {},
        "Password",
        h("input", {
          type: "password",
          name: "password",
          id: "password",
          autocomplete: "current-password",
          required: true,
        }),
      ),
      h("button", { type: "submit" }, "Sign in"),
    );
    document.body.replaceChildren(
      h("main", {}, h("section", { class: "card signin" }, h("h1", {}, title), error, form)),
    );
  });
}
