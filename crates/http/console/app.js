// vouch console: plain ES modules over the REST API, no external resources. The API key lives
// in sessionStorage only; every request sends it, and the server decides what the caller sees.

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");

// ---- API -------------------------------------------------------------------------------

function session() {
  try { return JSON.parse(sessionStorage.getItem("vouch") || "null"); } catch { return null; }
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(method, path, body, contentType = "application/json", key) {
  const headers = {};
  const k = key || (session() || {}).key;
  if (k) headers["Authorization"] = `Bearer ${k}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    payload = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  const resp = await fetch(path, { method, headers, body: payload });
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json === null ? text : json;
}

// ---- small DOM helpers ------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let fieldSeq = 0;
// A labelled field: input, select (options [value, text]) or textarea, with hint and error slots.
function field(name, label, opts = {}) {
  const id = `f-${name}-${++fieldSeq}`;
  const hintId = `${id}-hint`, errId = `${id}-err`;
  let control;
  if (opts.options) {
    control = h("select", { id, name }, opts.options.map(([v, t]) => h("option", { value: v }, t)));
  } else if (opts.textarea) {
    control = h("textarea", { id, name });
  } else {
    control = h("input", { id, name, type: opts.type || "text", placeholder: opts.placeholder, step: opts.step });
  }
  if (opts.value !== undefined) control.value = opts.value;
  if (opts.required) control.setAttribute("required", "");
  control.setAttribute("aria-describedby", `${hintId} ${errId}`);
  if (opts.type === "checkbox") {
    control.checked = !!opts.checked;
    return h("div", { class: "field check" + (opts.wide ? " wide" : "") }, control, h("label", { for: id }, label),
      h("span", { id: hintId, class: "hint" }, opts.hint || ""), h("span", { id: errId, class: "error" }));
  }
  return h("div", { class: "field" + (opts.wide ? " wide" : "") }, h("label", { for: id }, label), control,
    h("span", { id: hintId, class: "hint" }, opts.hint || ""), h("span", { id: errId, class: "error", "data-error-for": name }));
}

function formValues(form) {
  const out = {};
  for (const el of form.querySelectorAll("input, select, textarea")) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.value !== "") out[el.name] = el.value;
  }
  return out;
}

function clearErrors(form) {
  if (!form) return;
  for (const el of form.querySelectorAll("[data-error-for]")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

// Shows a problem's field errors next to the fields (and the detail in the status line).
function showProblem(form, err) {
  clearErrors(form);
  const errors = (err.problem && err.problem.errors) || [];
  let first = null;
  for (const e of errors) {
    const name = String(e.field || "").split(".").pop().replace(/\[\d+\]$/, "");
    const slot = form && form.querySelector(`[data-error-for="${name}"]`);
    const control = form && form.querySelector(`[name="${name}"]`);
    if (slot) slot.textContent = e.detail;
    if (control) { control.setAttribute("aria-invalid", "true"); first = first || control; }
  }
  say(errors.length ? `${err.message} (${errors.length} field${errors.length > 1 ? "s" : ""} to fix)` : err.message, true);
  if (first) first.focus();
}

// A message for the view rendered next (actions that re-render the page).
let pending = null;
function flash(text) { pending = text; }

function say(text, bad = false) {
  const s = $("#status");
  s.replaceChildren(text ? h("div", { class: "msg" + (bad ? " bad" : "") }, text) : "");
}

function table(headers, rows, caption) {
  return h("table", {}, caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

function pill(text, cls) { return h("span", { class: `pill ${cls || ""}` }, text); }

const statusClass = (s) => /ACTIVE|VERIFIED|ACCEPTED|accepted|listed/.test(s) ? "ok" : /SUSPENDED|UNVERIFIED|DECLINED|EXPIRED|rejected|blocking/.test(s) ? "bad" : "warn";

// ---- routing ----------------------------------------------------------------------------

const routes = {
  "/signin": signIn,
  "/brands": brands,
  "/campaigns": campaigns,
  "/numbers": numbers,
  "/queue": queue,
  "/gateway": gatewayFigures,
  "/history": history,
  "/trace": trace,
  "/risk": risk,
  "/log": logHealth,
};

function roles() {
  const s = session();
  if (!s) return [];
  if (s.who.kind === "administrator") return ["admin"];
  return s.who.provider.roles;
}

function navLinks() {
  const r = roles();
  const links = [];
  if (r.includes("csp")) links.push(["/brands", "Brands"], ["/campaigns", "Campaigns"], ["/numbers", "Numbers"]);
  if (r.includes("dca") || r.includes("admin")) links.push(["/queue", "Campaign queue"], ["/gateway", "Gateway"]);
  links.push(["/history", "Number history"], ["/trace", "Trace"]);
  if (r.includes("dca") || r.includes("admin")) links.push(["/risk", "Abuse scores"]);
  links.push(["/log", "Log"]);
  return links;
}

function renderNav(current) {
  const s = session();
  const nav = $("#nav");
  nav.replaceChildren(...(s ? navLinks().map(([path, text]) =>
    h("a", { href: `#${path}`, "aria-current": path === current ? "page" : null }, text)) : []));
  const who = $("#who");
  if (s) {
    const name = s.who.kind === "administrator" ? "administrator" : `${s.who.provider.legalName} (${s.who.provider.roles.join(", ")})`;
    who.replaceChildren(`Signed in as ${name} `, h("button", { class: "secondary", type: "button", onclick: signOut }, "Sign out"));
  } else who.replaceChildren();
}

function signOut() {
  sessionStorage.removeItem("vouch");
  location.hash = "#/signin";
}

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  const s = session();
  let target = routes[path] ? path : null;
  if (!s) target = "/signin";
  else if (!target || target === "/signin") target = navLinks()[0][0];
  if (`#${target}` !== location.hash.split("?")[0]) { location.replace(`#${target}${query ? "?" + query : ""}`); return; }
  renderNav(target);
  say(pending || "");
  pending = null;
  const view = h("div", {});
  main().replaceChildren(view);
  try {
    await routes[target](view, params);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e instanceof ApiError && e.status === 401) { signOut(); return; }
    say(e.message, true);
  }
  if (seq === renderSeq) main().focus({ preventScroll: true });
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", render);

// ---- sign-in ----------------------------------------------------------------------------

async function signIn(view) {
  const form = h("form", { class: "grid", "aria-label": "Sign in" },
    field("apiKey", "API key", { type: "password", required: true, wide: true,
      hint: "Your provider's key (vouch_<keyId>_<secret>). Kept in this browser tab only." }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = form.apiKey.value.trim();
    try {
      const who = await api("GET", "/v1/whoami", undefined, undefined, key);
      sessionStorage.setItem("vouch", JSON.stringify({ key, who }));
      location.hash = "#/";
    } catch (e) {
      showProblem(form, e);
    }
  });
  view.append(h("h1", {}, "Sign in"), h("section", { class: "card" }, form));
}

// ---- CSP: brands ------------------------------------------------------------------------

const ENTITY_TYPES = ["PRIVATE_PROFIT", "PUBLIC_PROFIT", "NON_PROFIT", "GOVERNMENT", "SOLE_PROPRIETOR"];
const VERTICALS = ["PROFESSIONAL", "REAL_ESTATE", "HEALTHCARE", "HUMAN_RESOURCES", "ENERGY", "ENTERTAINMENT", "RETAIL",
  "TRANSPORTATION", "AGRICULTURE", "INSURANCE", "POSTAL", "EDUCATION", "HOSPITALITY", "FINANCIAL", "POLITICAL",
  "GAMBLING", "LEGAL", "CONSTRUCTION", "NGO", "MANUFACTURING", "GOVERNMENT", "TECHNOLOGY", "COMMUNICATION"];

function vettingResult(b) {
  const reasons = b.vettingReasons || [];
  return h("section", { class: "card", "aria-label": `Vetting of ${b.displayName}` },
    h("h2", {}, `${b.displayName}: `, pill(b.identityStatus, statusClass(b.identityStatus)), ` score ${b.vettingScore}`),
    reasons.length ? h("ul", {}, reasons.map((r) => h("li", {},
      pill(r.severity, r.severity === "blocking" ? "bad" : r.severity === "warning" ? "warn" : "ok"), " ",
      h("strong", {}, r.code), r.field ? ` (${r.field})` : "", `: ${r.message}`,
      r.fix ? h("div", { class: "hint" }, `How to fix: ${r.fix}`) : null))) : h("p", { class: "muted" }, "No findings."));
}

async function brands(view) {
  const list = await api("GET", "/v1/brands");
  const results = h("div", { id: "vetting" });
  const form = h("form", { class: "grid", "aria-label": "Register a brand" },
    field("entityType", "Entity type", { options: ENTITY_TYPES.map((x) => [x, x]) }),
    field("displayName", "Display name", { required: true, hint: "The name subscribers know (shown as the verified caller name)." }),
    field("companyName", "Legal company name", { required: true, hint: "As registered with the IRS." }),
    field("ein", "EIN", { placeholder: "12-3456789", hint: "Federal tax id: two digits, a dash, seven digits." }),
    field("phone", "Phone", { placeholder: "+14155550100" }),
    field("email", "Email", { type: "email" }),
    field("website", "Website", { placeholder: "https://example.com" }),
    field("street", "Street"), field("city", "City"), field("state", "State", { placeholder: "CA" }),
    field("postalCode", "Postal code"), field("country", "Country", { value: "US" }),
    field("vertical", "Vertical", { options: VERTICALS.map((x) => [x, x]) }),
    h("div", { class: "field wide" }, h("button", { type: "submit" }, "Register brand")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const b = await api("POST", "/v1/brands", formValues(form));
      clearErrors(form);
      say(`Brand ${b.displayName} registered: ${b.identityStatus}, score ${b.vettingScore}.`);
      results.replaceChildren(vettingResult(b));
      results.querySelector("h2").setAttribute("tabindex", "-1");
      results.querySelector("h2").focus();
    } catch (e) { showProblem(form, e); }
  });
  view.append(h("h1", {}, "Brands"),
    h("section", { class: "card" }, h("h2", {}, "Register a brand"), form), results,
    h("h2", {}, "Your brands"),
    table(["Brand", "Id", "Identity", "Score", "Findings"], list.map((b) => [b.displayName, h("code", {}, b.brandId),
      pill(b.identityStatus, statusClass(b.identityStatus)), String(b.vettingScore),
      (b.vettingReasons || []).filter((r) => r.severity !== "pass").map((r) => `${r.code}${r.fix ? " — " + r.fix : ""}`).join("; ") || "—"])));
}

// ---- CSP: campaigns ---------------------------------------------------------------------

const USECASES = {
  "2FA": "One-time passwords and verification codes; no marketing content.",
  ACCOUNT_NOTIFICATION: "Status updates about an account the subscriber holds.",
  CUSTOMER_CARE: "Support conversations with existing customers.",
  DELIVERY_NOTIFICATION: "Shipping and delivery updates.",
  FRAUD_ALERT: "Alerts about suspicious activity.",
  HIGHER_EDUCATION: "Colleges and universities to their students.",
  LOW_VOLUME: "Small mixed traffic (low daily cap).",
  MARKETING: "Promotions: samples must show the brand and opt-out language (Reply STOP).",
  MIXED: "Several use cases on one campaign.",
  POLLING_VOTING: "Surveys and polls (not political campaigns).",
  PUBLIC_SERVICE_ANNOUNCEMENT: "Information of public interest.",
  SECURITY_ALERT: "Security events on an account or system.",
};

async function campaigns(view) {
  const [list, brandList, providers] = await Promise.all([api("GET", "/v1/campaigns"), api("GET", "/v1/brands"), api("GET", "/v1/providers")]);
  const dcas = providers.filter((p) => p.roles.includes("dca"));
  const verified = brandList.filter((b) => /VERIFIED/.test(b.identityStatus) && b.identityStatus !== "UNVERIFIED");
  const guidance = h("p", { class: "hint", id: "usecase-guidance", "aria-live": "polite" });
  const form = h("form", { class: "grid", "aria-label": "Create a campaign" },
    field("brandId", "Brand", { options: verified.map((b) => [b.brandId, `${b.displayName} (${b.identityStatus})`]),
      hint: verified.length ? "Only VERIFIED brands can run campaigns." : "Register and verify a brand first." }),
    field("usecase", "Use case", { options: Object.keys(USECASES).map((u) => [u, u]) }),
    h("div", { class: "field wide" }, guidance),
    field("description", "Description", { textarea: true, wide: true, hint: "What the messages are for, in 40 characters or more." }),
    field("messageFlow", "Opt-in flow (message flow)", { textarea: true, wide: true, hint: "How subscribers consent, with the URL or keyword." }),
    field("sample1", "Sample message 1", { textarea: true }), field("sample2", "Sample message 2", { textarea: true }),
    field("subscriberOptin", "Subscribers opt in", { type: "checkbox", checked: true }),
    field("subscriberOptout", "Subscribers can opt out", { type: "checkbox", checked: true }),
    field("subscriberHelp", "Subscribers can ask for help", { type: "checkbox", checked: true }),
    field("embeddedLink", "Messages contain links", { type: "checkbox" }),
    field("embeddedPhone", "Messages contain phone numbers", { type: "checkbox" }),
    field("optoutKeywords", "Opt-out keywords", { value: "STOP" }), field("helpKeywords", "Help keywords", { value: "HELP" }),
    field("optoutMessage", "Opt-out confirmation", { textarea: true }), field("helpMessage", "Help message", { textarea: true }),
    h("div", { class: "field wide" }, h("button", { type: "submit" }, "Create campaign")));
  const usecase = form.querySelector('[name="usecase"]');
  const showGuidance = () => { guidance.textContent = `${usecase.value}: ${USECASES[usecase.value] || ""}`; };
  usecase.addEventListener("change", showGuidance);
  usecase.value = "MARKETING";
  showGuidance();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const c = await api("POST", "/v1/campaigns", formValues(form));
      flash(`Campaign ${c.campaignId} created (${c.status}). Share it with a DCA below.`);
      render();
    } catch (e) { showProblem(form, e); }
  });
  const share = (c) => {
    const sel = h("select", { "aria-label": `DCA for campaign ${c.campaignId}` }, dcas.map((d) => h("option", { value: d.providerId }, d.legalName)));
    const btn = h("button", { type: "button", class: "secondary", onclick: async () => {
      try {
        await api("PUT", `/v1/campaigns/${c.campaignId}/sharing/${sel.value}`);
        flash(`Campaign ${c.campaignId} shared with ${sel.selectedOptions[0].textContent}.`);
        render();
      } catch (e) { say(e.message, true); }
    } }, "Share");
    return (c.sharing || []).length ? (c.sharing.map((s) => `${s.upstreamCnpId}: ${s.sharingStatus}`).join(", ")) : h("span", { class: "row" }, sel, btn);
  };
  view.append(h("h1", {}, "Campaigns"),
    h("section", { class: "card" }, h("h2", {}, "Create a campaign"), form),
    h("h2", {}, "Your campaigns"),
    table(["Campaign", "Brand", "Use case", "Status", "Class", "Sharing"], list.map((c) => [h("code", {}, c.campaignId),
      h("code", {}, c.brandId), c.usecase, pill(c.status, statusClass(c.status)), c.throughputClass || "—", share(c)])));
}

// ---- CSP: numbers -----------------------------------------------------------------------

async function numbers(view) {
  const list = await api("GET", "/v1/campaigns");
  const usable = list.filter((c) => c.status === "ACTIVE");
  const options = usable.map((c) => [c.campaignId, `${c.campaignId} (${c.usecase})`]);
  const one = h("form", { class: "grid", "aria-label": "Assign a number" },
    field("number", "Number (E.164)", { placeholder: "+12025550100", required: true }),
    field("campaignId", "Campaign", { options, hint: options.length ? "" : "No campaign accepted by a DCA yet." }),
    h("div", { class: "field row" }, h("button", { type: "submit" }, "Assign"),
      h("button", { type: "button", class: "danger", id: "release", onclick: async () => {
        try {
          await api("DELETE", `/v1/numbers/${encodeURIComponent(one.number.value.trim())}`);
          say(`${one.number.value} released.`);
        } catch (e) { showProblem(one, e); }
      } }, "Release")));
  one.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const n = one.number.value.trim();
      await api("PUT", `/v1/numbers/${encodeURIComponent(n)}`, { campaignId: one.campaignId.value });
      clearErrors(one);
      say(`${n} assigned to ${one.campaignId.value}.`);
    } catch (e) { showProblem(one, e); }
  });
  const progress = h("progress", { max: "100", value: "0", "aria-label": "Upload progress" });
  const report = h("div", { "aria-live": "polite" });
  const csv = h("form", { class: "grid", "aria-label": "Import numbers from CSV" },
    field("file", "CSV file (number,campaignId,dcaId per line)", { type: "file", wide: true }),
    h("div", { class: "field wide" }, progress),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Upload")));
  csv.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = csv.file.files[0];
    if (!file) { say("Choose a CSV file first.", true); return; }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/numbers/import");
    xhr.setRequestHeader("Authorization", `Bearer ${session().key}`);
    xhr.setRequestHeader("Content-Type", "text/csv");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = () => {
      progress.value = 100;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        say(`Import done: ${body.accepted} accepted, ${body.unchanged} unchanged, ${body.rejected.length} rejected.`);
        report.replaceChildren(body.rejected.length ? table(["Line", "Number", "Why"], body.rejected.map((r) => [String(r.line), r.number, r.reason])) : "");
      } else say((body && body.detail) || `Upload failed: HTTP ${xhr.status}`, true);
    };
    xhr.onerror = () => say("Upload failed: the server could not be reached.", true);
    xhr.send(file);
  });
  view.append(h("h1", {}, "Numbers"),
    h("section", { class: "card" }, h("h2", {}, "One number"), one),
    h("section", { class: "card" }, h("h2", {}, "Bulk import"), csv, report));
}

// ---- DCA: queue and gateway -------------------------------------------------------------

async function queue(view) {
  const s = session();
  const me = s.who.provider ? s.who.provider.providerId : null;
  const list = await api("GET", "/v1/campaigns");
  const reasonFor = (c) => h("input", { type: "text", "aria-label": `Reason for campaign ${c.campaignId}`, placeholder: "reason" });
  const act = (label, cls, fn) => h("button", { type: "button", class: cls, onclick: fn }, label);
  const run = async (what, f) => { try { await f(); flash(what); render(); } catch (e) { say(e.message, true); } };
  const rows = list.map((c) => {
    const mine = (c.sharing || []).find((x) => !me || x.upstreamCnpId === me) || {};
    const reason = reasonFor(c);
    const body = () => (reason.value.trim() ? { reason: reason.value.trim() } : {});
    const dca = mine.upstreamCnpId;
    const buttons = [];
    if (mine.sharingStatus === "PENDING") {
      buttons.push(act("Accept", "", () => run(`Campaign ${c.campaignId} accepted.`, () => api("POST", `/v1/campaigns/${c.campaignId}/sharing/${dca}/accept`))));
      buttons.push(act("Decline", "danger", () => run(`Campaign ${c.campaignId} declined.`, () => api("POST", `/v1/campaigns/${c.campaignId}/sharing/${dca}/decline`, body()))));
    }
    if (c.status === "ACTIVE" && mine.sharingStatus === "ACCEPTED")
      buttons.push(act("Suspend", "danger", () => run(`Campaign ${c.campaignId} suspended.`, () => api("POST", `/v1/campaigns/${c.campaignId}/suspend`, body()))));
    if (c.status === "SUSPENDED")
      buttons.push(act("Reinstate", "", () => run(`Campaign ${c.campaignId} reinstated.`, () => api("POST", `/v1/campaigns/${c.campaignId}/resume`, body()))));
    return [h("code", {}, c.campaignId), h("code", {}, c.brandId), c.usecase, pill(c.status, statusClass(c.status)),
      mine.sharingStatus ? pill(mine.sharingStatus, statusClass(mine.sharingStatus)) : "—",
      buttons.length ? h("span", { class: "row" }, reason, ...buttons) : "—"];
  });
  view.append(h("h1", {}, "Campaign queue"),
    h("p", { class: "muted" }, "Campaigns shared with you: accept or decline new ones, suspend or reinstate with a reason (recorded in the log)."),
    table(["Campaign", "Brand", "Use case", "Status", "Sharing", "Action"], rows));
}

async function gatewayFigures(view) {
  const box = h("div", {});
  view.append(h("h1", {}, "Gateway"), h("p", { class: "muted" }, "Messages decided per minute, last 15 minutes, refreshed every 5 s."), box);
  const refresh = async () => {
    const since = new Date(Date.now() - 15 * 60 * 1000).toISOString();
    let rows;
    try { rows = await api("GET", `/v1/gateway/minutes?since=${encodeURIComponent(since)}`); } catch (e) {
      box.replaceChildren(h("p", { class: "bad" }, e.message)); return;
    }
    const lines = rows.map((r) => [r.minute.slice(0, 16).replace("T", " "), pill(r.verdict, statusClass(r.verdict)), r.reason, String(r.messages)]);
    const total = rows.reduce((n, r) => n + r.messages, 0);
    const accepted = rows.filter((r) => r.verdict === "accepted").reduce((n, r) => n + r.messages, 0);
    box.replaceChildren(h("p", {}, `${total} decisions: ${accepted} accepted, ${total - accepted} rejected or flagged.`),
      table(["Minute (UTC)", "Verdict", "Reason", "Messages"], lines));
  };
  await refresh();
  const timer = setInterval(() => { if (!document.body.contains(box)) clearInterval(timer); else refresh(); }, 5000);
}

// ---- analyst: history, trace, risk ------------------------------------------------------

async function holderNames(campaignIds) {
  const names = new Map();
  await Promise.all(campaignIds.map(async (id) => {
    try {
      const c = await api("GET", `/v1/campaigns/${id}`);
      let brand = c.brandId;
      try { brand = (await api("GET", `/v1/brands/${c.brandId}`)).displayName; } catch { /* not visible */ }
      names.set(id, brand);
    } catch { names.set(id, null); }
  }));
  return names;
}

function timeline(intervals, names) {
  const now = Date.now();
  const start = Math.min(...intervals.map((i) => Date.parse(i.from)));
  const end = Math.max(now, ...intervals.map((i) => (i.until ? Date.parse(i.until) : now)));
  const width = 1000, rowH = 28, left = 10, span = Math.max(1, end - start);
  const x = (t) => left + ((t - start) / span) * (width - 2 * left);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${intervals.length * rowH + 30}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Holders of the number over time: " + intervals.map((i) =>
    `${names.get(i.campaignId) || i.campaignId} from ${i.from}${i.until ? " until " + i.until : " until now"}`).join("; "));
  svg.setAttribute("id", "timeline");
  const colors = ["#0b5cad", "#1a7f37", "#9a6700", "#8250df", "#b3261e", "#1b7c83"];
  intervals.forEach((i, n) => {
    const a = x(Date.parse(i.from)), b = x(i.until ? Date.parse(i.until) : now);
    const rect = document.createElementNS(svg.namespaceURI, "rect");
    Object.entries({ x: a, y: n * rowH + 4, width: Math.max(3, b - a), height: rowH - 8, rx: 3, fill: colors[n % colors.length] })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const title = document.createElementNS(svg.namespaceURI, "title");
    title.textContent = `${i.campaignId}: ${i.from} – ${i.until || "now"}`;
    rect.append(title);
    const label = document.createElementNS(svg.namespaceURI, "text");
    label.setAttribute("x", Math.min(a + 4, width - 300));
    label.setAttribute("y", n * rowH + rowH / 2 + 4);
    label.setAttribute("fill", "#fff");
    label.setAttribute("class", "bar-label");
    label.textContent = `${names.get(i.campaignId) || "?"} · ${i.campaignId}`;
    svg.append(rect, label);
  });
  const axis = document.createElementNS(svg.namespaceURI, "text");
  axis.setAttribute("x", left); axis.setAttribute("y", intervals.length * rowH + 20);
  axis.textContent = `${new Date(start).toISOString().slice(0, 19)}Z … ${new Date(end).toISOString().slice(0, 19)}Z`;
  svg.append(axis);
  return svg;
}

async function history(view, params) {
  const out = h("div", {});
  const form = h("form", { class: "row", "aria-label": "Number history" },
    field("number", "Number (E.164)", { placeholder: "+12025550100", value: params.get("number") || "" }),
    h("button", { type: "submit" }, "Show history"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/history?number=${encodeURIComponent(form.number.value.trim())}`;
  });
  view.append(h("h1", {}, "Number history"), h("section", { class: "card" }, form), out);
  const n = params.get("number");
  if (!n) return;
  const hist = await api("GET", `/v1/numbers/${encodeURIComponent(n)}/history`);
  if (!hist.intervals.length) { out.append(h("p", {}, `${n} was never assigned.`)); return; }
  const names = await holderNames([...new Set(hist.intervals.map((i) => i.campaignId))]);
  out.append(h("section", { class: "card" }, h("h2", {}, `Who held ${hist.number}`), timeline(hist.intervals, names)),
    table(["Campaign", "Brand", "DCA", "From", "Until", "Why released", "Events"], hist.intervals.map((i) => [
      h("code", {}, i.campaignId), names.get(i.campaignId) || "—", h("code", {}, i.dcaId), i.from, i.until || "now",
      i.releaseReason || "—", h("span", {}, h("a", { href: `/v1/log/proofs/inclusion?event=${i.assignedEvent}` }, `#${i.assignedEvent}`),
        i.releasedEvent ? [" → ", h("a", { href: `/v1/log/proofs/inclusion?event=${i.releasedEvent}` }, `#${i.releasedEvent}`)] : "")])));
}

async function trace(view, params) {
  const out = h("div", {});
  // The field shows local time to the second; a trace "at" left untouched means the moment of the click,
  // not the second the page was drawn (a number assigned 0.8 s earlier must be found).
  const localInput = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const shownAt = localInput(params.get("at") ? new Date(params.get("at")) : new Date());
  const form = h("form", { class: "grid", "aria-label": "Trace a number" },
    field("number", "Number (E.164)", { value: params.get("number") || "", placeholder: "+12025550100" }),
    field("at", "At (your local time)", { type: "datetime-local", step: "1", value: shownAt }),
    field("channel", "Channel", { options: [["sms", "SMS"], ["voice", "Voice"]], value: params.get("channel") || "sms" }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Trace")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    const typed = v.at && v.at.length === 16 ? `${v.at}:00` : v.at; // the browser drops ":00" seconds
    const at = !typed || typed === shownAt ? new Date().toISOString() : typed;
    location.hash = `#/trace?number=${encodeURIComponent(v.number || "")}&at=${encodeURIComponent(at)}&channel=${v.channel}`;
  });
  const byReport = h("form", { class: "row", "aria-label": "Trace a filed report" },
    field("report", "Report id", { value: params.get("report") || "" }), h("button", { type: "submit" }, "Trace report"));
  byReport.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/trace?report=${encodeURIComponent(byReport.report.value.trim())}`;
  });
  view.append(h("h1", {}, "Trace"), h("section", { class: "card" }, form), h("section", { class: "card" }, byReport), out);
  const n = params.get("number"), report = params.get("report");
  if (!n && !report) return;
  const at = new Date(params.get("at") || Date.now()).toISOString();
  const t = report
    ? await api("GET", `/v1/reports/${encodeURIComponent(report)}/trace?proofs=true`)
    : await api("GET", `/v1/trace?tn=${encodeURIComponent(n)}&at=${encodeURIComponent(at)}&channel=${params.get("channel") || "sms"}&proofs=true`);
  const holder = t.holder;
  out.append(h("section", { class: "card", "aria-label": "Holder" }, h("h2", {}, `${t.number} at ${t.at}`),
    holder ? h("dl", {},
      h("dt", {}, "Campaign"), h("dd", {}, h("code", {}, holder.campaignId), ` (${holder.usecase}), then ${holder.statusThen}, now ${holder.statusNow}`),
      h("dt", {}, "Brand"), h("dd", {}, holder.brand.displayName || holder.brand.brandId || JSON.stringify(holder.brand)),
      h("dt", {}, "CSP"), h("dd", {}, holder.csp.legalName), h("dt", {}, "DCA"), h("dd", {}, holder.dca.legalName),
      h("dt", {}, "Held"), h("dd", {}, `${holder.assigned} – ${holder.released || "now"}`))
      : h("p", {}, "Nobody held the number then: it was not registered."),
    h("p", {}, `${t.reports} report(s) about the number around then; answered in ${t.elapsedUs} µs.`)),
  h("h2", {}, "Evidence chain"),
  table(["Event", "Kind", "At", "Shows", "Proof"], t.evidence.map((e) => [`#${e.seq}`, e.kind, e.at, e.shows,
    h("a", { href: e.proofUrl }, e.proof ? `inclusion proof (tree ${e.proof.treeSize})` : "inclusion proof")])));
}

async function risk(view) {
  const list = await api("GET", "/v1/risk/campaigns");
  view.append(h("h1", {}, "Abuse scores"),
    table(["Campaign", "Brand", "Status", "Score", "Reasons"], list.map((c) => [h("code", {}, c.campaignId), h("code", {}, c.brandId),
      pill(c.status, statusClass(c.status)), h("strong", { class: c.score >= 70 ? "bad" : c.score >= 40 ? "warn" : "ok" }, String(c.score)),
      c.reasons.length ? h("ul", {}, c.reasons.map((r) => h("li", {}, `${r.code}: ${r.detail} (+${r.points})`))) : "—"])));
}

// ---- log ---------------------------------------------------------------------------------

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// RFC 9162 section 2.1.4.2: verifies a consistency proof between sizes m <= n.
async function verifyConsistency(m, n, proof, oldRoot, newRoot) {
  if (m === n) return proof.length === 0 && eq(oldRoot, newRoot);
  if (!proof.length || m > n || m < 1) return false;
  let path = proof.slice();
  if ((m & (m - 1)) === 0) path = [oldRoot, ...path];
  let fn = m - 1, sn = n - 1;
  while (fn & 1) { fn >>= 1; sn >>= 1; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if ((fn & 1) || fn === sn) {
      fr = await sha256(Uint8Array.of(1), c, fr);
      sr = await sha256(Uint8Array.of(1), c, sr);
      if (!(fn & 1)) while (fn !== 0 && !(fn & 1)) { fn >>= 1; sn >>= 1; }
    } else {
      sr = await sha256(Uint8Array.of(1), sr, c);
    }
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 && eq(fr, oldRoot) && eq(sr, newRoot);
}

async function logHealth(view) {
  const [note, list] = await Promise.all([api("GET", "/log/checkpoint"), api("GET", "/v1/log/checkpoints?limit=100")]);
  const points = list.slice().sort((a, b) => a.size - b.size);
  const audit = h("p", { id: "audit", "aria-live": "polite" }, "Auditing…");
  view.append(h("h1", {}, "Transparency log"),
    h("section", { class: "card" }, h("h2", {}, "Current checkpoint"), h("pre", { class: "mono" }, note)),
    h("section", { class: "card" }, h("h2", {}, "Tree size over time"), sizeChart(points)),
    h("section", { class: "card" }, h("h2", {}, "Audit"), audit,
      h("p", { class: "hint" }, "This browser checks that the oldest listed checkpoint's tree is a prefix of the newest one (an RFC 9162 consistency proof, verified here with SubtleCrypto)."),
      lastAudit()));
  const [first, last] = [points[0], points[points.length - 1]];
  if (points.length < 2 || first.size === last.size) { audit.textContent = "One tree size so far: nothing to compare yet."; return; }
  try {
    const c = await api("GET", `/v1/log/proofs/consistency?from=${first.size}&to=${last.size}`);
    const ok = eq(b64(c.oldRoot), b64(first.root)) && eq(b64(c.newRoot), b64(last.root)) &&
      await verifyConsistency(first.size, last.size, c.proof.map(b64), b64(first.root), b64(last.root));
    const result = { at: new Date().toISOString(), from: first.size, to: last.size, ok };
    localStorage.setItem("vouch-last-audit", JSON.stringify(result));
    audit.replaceChildren(pill(ok ? "consistent" : "INCONSISTENT", ok ? "ok" : "bad"),
      ` tree ${first.size} → ${last.size}: ${ok ? "the newer tree extends the older one" : "the proof does not verify: report this log"}`);
  } catch (e) { audit.textContent = `Audit failed: ${e.message}`; }
}

function lastAudit() {
  let prev = null;
  try { prev = JSON.parse(localStorage.getItem("vouch-last-audit") || "null"); } catch { prev = null; }
  return h("p", { class: "muted" }, prev ? `Last audit before this one: ${prev.at}, sizes ${prev.from} → ${prev.to}, ${prev.ok ? "consistent" : "INCONSISTENT"}.` : "No earlier audit in this browser.");
}

function sizeChart(points) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 1000 220");
  svg.setAttribute("role", "img");
  svg.setAttribute("id", "size-chart");
  if (!points.length) { svg.setAttribute("aria-label", "No checkpoint yet"); return svg; }
  const ts = points.map((p) => Date.parse(p.signed)), sizes = points.map((p) => p.size);
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1), s1 = Math.max(...sizes, 1);
  const xy = points.map((p, i) => [20 + ((ts[i] - t0) / (t1 - t0)) * 960, 200 - (p.size / s1) * 180]);
  const line = document.createElementNS(svg.namespaceURI, "polyline");
  line.setAttribute("points", xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#0b5cad"); line.setAttribute("stroke-width", "2");
  svg.append(line);
  svg.setAttribute("aria-label", `Tree size from ${sizes[0]} to ${sizes[sizes.length - 1]} entries over ${points.length} checkpoints`);
  const label = document.createElementNS(svg.namespaceURI, "text");
  label.setAttribute("x", "20"); label.setAttribute("y", "215");
  label.textContent = `${sizes[sizes.length - 1]} entries at ${points[points.length - 1].signed}`;
  svg.append(label);
  return svg;
}
