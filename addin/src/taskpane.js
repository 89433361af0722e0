// crmcal's Outlook task pane (M7). Bundled by esbuild (build.mjs) into
// src/crmcal/web/addin_static/taskpane.js; Office.js itself comes from Microsoft's CDN.
//
// Identity: Exchange Online -> Nested App Authentication (msal-browser's nestable client), else
// Office SSO (Office.auth.getAccessToken); Exchange Server -> a personal crmcal API token kept in
// the add-in's roaming settings. Item: item.itemId (EWS) plus convertToRestId(itemId, v2.0).
import { createNestablePublicClientApplication } from "@azure/msal-browser";

const TOKEN_KEY = "crmcalToken";
const $ = (id) => document.getElementById(id);
const settings = JSON.parse($("crmcal-settings").textContent || "{}");

const state = { token: null, via: null, ids: null, status: null, who: null, what: null, mailbox: "" };

function show(id, on) {
  $(id).hidden = !on;
}

function say(text, kind = "ok") {
  const m = $("message");
  m.textContent = text;
  m.className = "message" + (kind === "error" ? " error" : "");
  m.setAttribute("role", kind === "error" ? "alert" : "status");
  show("message", Boolean(text));
}

function officeAsync(fn) {
  return new Promise((resolve, reject) =>
    fn((r) => (r.status === Office.AsyncResultStatus.Succeeded ? resolve(r.value) : reject(r.error))),
  );
}

function supported(set, version) {
  try {
    return Office.context.requirements.isSetSupported(set, version);
  } catch {
    return false;
  }
}

// -- identity ------------------------------------------------------------------------------

async function entraToken() {
  if (!settings.clientId) return null;
  if (supported("NestedAppAuth", "1.1")) {
    const pca = await createNestablePublicClientApplication({
      auth: { clientId: settings.clientId, authority: settings.authority },
    });
    const request = { scopes: [settings.scope] };
    try {
      return (await pca.acquireTokenSilent(request)).accessToken;
    } catch {
      return (await pca.acquireTokenPopup(request)).accessToken;
    }
  }
  if (supported("IdentityAPI", "1.3") && Office.auth && Office.auth.getAccessToken) {
    return Office.auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true });
  }
  return null;
}

async function signIn() {
  try {
    const t = await entraToken();
    if (t) {
      state.token = t;
      state.via = "entra";
      return true;
    }
  } catch (e) {
    say("Microsoft sign-in did not work (" + (e && (e.message || e.code || e)) + "). You can use a crmcal API token instead.", "error");
  }
  const saved = Office.context.roamingSettings.get(TOKEN_KEY);
  if (saved) {
    state.token = saved;
    state.via = "token";
    return true;
  }
  return false;
}

function askForToken() {
  show("loading", false);
  show("item", false);
  show("signin", true);
  $("token-input").focus();
}

async function keepToken(token) {
  Office.context.roamingSettings.set(TOKEN_KEY, token);
  await officeAsync((cb) => Office.context.roamingSettings.saveAsync(cb));
}

// -- the API -------------------------------------------------------------------------------

async function api(method, path, body) {
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new Error("crmcal cannot be reached. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (r.status === 401 && state.via === "token") {
    Office.context.roamingSettings.remove(TOKEN_KEY);
    state.token = null;
    askForToken();
  }
  if (!r.ok) {
    const detail = data && data.detail;
    const text = typeof detail === "string" ? detail : "crmcal answered " + r.status + ".";
    throw new Error(text);
  }
  return data;
}

// -- the item ------------------------------------------------------------------------------

async function itemIds() {
  const item = Office.context.mailbox.item;
  let ews = item.itemId;
  if (!ews && item.getItemIdAsync) {
    try {
      ews = await officeAsync((cb) => item.getItemIdAsync(cb));
    } catch {
      ews = null;
    }
  }
  if (!ews) return null;
  let rest = null;
  try {
    rest = Office.context.mailbox.convertToRestId(ews, Office.MailboxEnums.RestVersion.v2_0);
  } catch {
    rest = null;
  }
  return { ews_id: ews, rest_id: rest };
}

function ref(extra = {}) {
  return { ...state.ids, mailbox: state.mailbox, ...extra };
}

function recordNode(rec) {
  if (!rec) return document.createTextNode("—");
  const span = document.createElement("span");
  const a = document.createElement(rec.url ? "a" : "span");
  a.textContent = rec.name || rec.id;
  if (rec.url) {
    a.href = rec.url;
    a.target = "_blank";
    a.rel = "noopener";
  }
  span.append(a, document.createTextNode(" (" + rec.type + ")"));
  return span;
}

function render(st) {
  state.status = st;
  show("loading", false);
  show("signin", false);
  show("item", true);
  $("subject").textContent = st.subject || "(no subject)";
  $("status").dataset.state = st.state;
  $("status-text").textContent = st.status;
  const notes = $("notes");
  notes.replaceChildren(...st.notes.map((n) => Object.assign(document.createElement("li"), { textContent: n })));
  show("event-line", Boolean(st.event_url));
  if (st.event_url) $("event-link").href = st.event_url;
  $("who-rec").replaceChildren(recordNode(st.who));
  $("what-rec").replaceChildren(recordNode(st.what));
  const sibs = st.siblings || [];
  show("siblings", sibs.length > 1);
  $("sibling-list").replaceChildren(
    ...sibs.map((s) => {
      const li = document.createElement("li");
      const a = document.createElement(s.url ? "a" : "span");
      a.textContent = s.event_id;
      if (s.url) {
        a.href = s.url;
        a.target = "_blank";
        a.rel = "noopener";
      }
      li.append(a, document.createTextNode(" owned by " + s.owner));
      return li;
    }),
  );
  const unresolved = st.unresolved || [];
  show("unresolved", unresolved.length > 0 || st.can_create_record);
  $("unresolved-list").replaceChildren(
    ...unresolved.map((a) => Object.assign(document.createElement("li"), { textContent: a })),
  );
  show("create-record", st.can_create_record);
  show("scope", st.is_occurrence);
  show("unsync", Boolean(st.event_id) && st.state !== "unsynced");
  $("save").textContent = st.event_id ? "Save and update the Event" : "Save";
}

async function refresh() {
  render(await api("POST", "/addin/api/item", ref()));
}

// -- pickers -------------------------------------------------------------------------------

function choose(kind, rec) {
  state[kind] = rec;
  if (kind === "who") {
    const lead = rec && rec.type === "Lead";
    $("what-search").disabled = lead;
    show("what-hint", lead);
    if (lead) {
      state.what = null;
      $("what-results").replaceChildren();
    }
  }
  const parts = [];
  if (state.who) parts.push("Name: " + state.who.name + " (" + state.who.type + ")");
  if (state.what) parts.push("Related To: " + state.what.name + " (" + state.what.type + ")");
  $("chosen").textContent = parts.length ? parts.join("; ") : "nothing yet";
}

function picker(kind) {
  const input = $(kind + "-search");
  const list = $(kind + "-results");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) {
      list.replaceChildren();
      return;
    }
    timer = setTimeout(async () => {
      try {
        const found = await api("GET", "/addin/api/records?kind=" + kind + "&q=" + encodeURIComponent(q));
        list.replaceChildren(
          ...found.map((rec) => {
            const li = document.createElement("li");
            li.setAttribute("role", "option");
            li.tabIndex = 0;
            li.dataset.id = rec.id;
            li.dataset.type = rec.type;
            li.append(document.createTextNode(rec.name));
            const small = document.createElement("small");
            small.textContent = rec.type + (rec.email ? " · " + rec.email : "");
            li.append(small);
            const pick = () => {
              for (const other of list.children) other.setAttribute("aria-selected", "false");
              li.setAttribute("aria-selected", "true");
              choose(kind, rec);
            };
            li.addEventListener("click", pick);
            li.addEventListener("keydown", (e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                pick();
              }
            });
            return li;
          }),
        );
        if (!found.length) list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "No match." }));
      } catch (e) {
        say(e.message, "error");
      }
    }, 250);
  });
}

// -- actions -------------------------------------------------------------------------------

async function act(button, fn) {
  button.disabled = true;
  say("");
  try {
    const out = await fn();
    say(out.message, out.ok ? "ok" : "error");
    if (out.status) render(out.status);
  } catch (e) {
    say(e.message, "error");
  } finally {
    button.disabled = false;
  }
}

function wire() {
  picker("who");
  picker("what");
  $("save-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!state.who && !state.what) {
      say("Choose a Name or a Related To first (or both).", "error");
      return;
    }
    const series = state.status && state.status.is_occurrence &&
      document.querySelector("input[name=scope]:checked").value === "series";
    const target = series ? { rest_id: state.status.series_master_id, ews_id: null } : {};
    act($("save"), () =>
      api("POST", "/addin/api/save", ref({ ...target, who_id: state.who && state.who.id, what_id: state.what && state.what.id })),
    );
  });
  $("unsync").addEventListener("click", () => act($("unsync"), () => api("POST", "/addin/api/unsync", ref())));
  $("create-record").addEventListener("click", () =>
    act($("create-record"), () => api("POST", "/addin/api/create-record", ref())),
  );
  $("token-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    state.token = token;
    state.via = "token";
    try {
      await api("GET", "/addin/api/me");
      await keepToken(token);
      $("token-input").value = "";
      await start();
    } catch (err) {
      say(err.message, "error");
    }
  });
}

function theme() {
  const t = Office.context.officeTheme;
  if (!t || !t.bodyBackgroundColor) return;
  const hex = t.bodyBackgroundColor.replace("#", "");
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  document.documentElement.dataset.theme = 0.299 * r + 0.587 * g + 0.114 * b < 128 ? "dark" : "light";
}

async function demoPicker() {
  // demo mode without an item: the user's next items, each opening the pane on it
  const items = await api("GET", "/addin/api/items");
  show("loading", false);
  show("signin", false);
  show("picker", true);
  const mailbox = encodeURIComponent(state.mailbox);
  $("picker-list").replaceChildren(
    ...items.map((it) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "?demo=" + encodeURIComponent(it.id) + "&mailbox=" + mailbox;
      a.textContent = it.subject || "(no subject)";
      const when = document.createElement("small");
      when.textContent = " " + new Date(it.start).toLocaleString();
      li.append(a, when);
      return li;
    }),
  );
}

async function start() {
  state.mailbox = (Office.context.mailbox.userProfile || {}).emailAddress || "";
  state.ids = await itemIds();
  if (!state.ids && !settings.demo) {
    show("loading", false);
    say("Save this meeting in Outlook first; then crmcal can see it.", "error");
    return;
  }
  if (!state.token && !(await signIn())) {
    askForToken();
    return;
  }
  try {
    const me = await api("GET", "/addin/api/me");
    $("who").textContent = me.mailbox || me.username;
    if (!state.mailbox) state.mailbox = me.mailbox || "";
    if (!state.ids) {
      await demoPicker();
      return;
    }
    await refresh();
  } catch (e) {
    show("loading", false);
    if (state.token) say(e.message, "error");
  }
}

Office.onReady((info) => {
  if (info.host && info.host !== Office.HostType.Outlook) {
    say("This add-in works in Outlook only.", "error");
    return;
  }
  theme();
  wire();
  start();
});
