// vouch console: plain ES modules over the REST API, no external resources. The API key lives
// in sessionStorage only; every request sends it, and the server decides what the caller sees.

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");

// ---- API -------------------------------------------------------------------------------

function session() {
  try { return JSON.parse(sessionStorage.getItem("vouch") || "null"); } catch { return null; }
}

const UNREACHABLE = "The vouch server could not be reached: check that it is running and that this computer can reach it, then try again.";
const REFUSED = "Your API key was refused (revoked or expired): sign in again with a valid key.";

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

// The session's key was refused mid-session: back to sign-in, saying why.
function refused() {
  sessionStorage.removeItem("vouch");
  flash(REFUSED);
  if (location.hash.split("?")[0] === "#/signin") render();
  else location.hash = "#/signin";
}

// Calls the API with the session's key (or `key`, when signing in). A network failure is an
// ApiError with status 0 and a plain message; a 401 on the session's key ends the session.
async function api(method, path, body, contentType = "application/json", key) {
  const headers = {};
  const k = key || (session() || {}).key;
  if (k) headers["Authorization"] = `Bearer ${k}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    payload = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  let resp, text;
  try {
    resp = await fetch(path, { method, headers, body: payload });
    text = await resp.text();
  } catch {
    throw new ApiError(0, { detail: UNREACHABLE });
  }
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!resp.ok) {
    const err = new ApiError(resp.status, json);
    if (resp.status === 401 && !key && session()) { err.sessionEnded = true; refused(); }
    throw err;
  }
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
  if (opts.value !== undefined && opts.value !== null) control.value = opts.value;
  if (opts.required) control.setAttribute("required", "");
  control.setAttribute("aria-describedby", `${hintId} ${errId}`);
  if (opts.type === "checkbox") {
    control.checked = !!opts.checked;
    return h("div", { class: "field check" + (opts.wide ? " wide" : "") }, control, h("label", { for: id }, label),
      h("span", { id: hintId, class: "hint" }, opts.hint || ""), h("span", { id: errId, class: "error", "data-error-for": name }));
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

// Puts `text` next to the field `name` of `form` and marks the field invalid; answers the field.
function fieldError(form, name, text) {
  const slot = form && form.querySelector(`[data-error-for="${name}"]`);
  const control = form && form.querySelector(`[name="${name}"]`);
  if (slot) slot.textContent = text;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    const closed = control.closest("details");
    if (closed) closed.open = true;
  }
  return control;
}

// Shows a problem's field errors next to the fields (and the detail in the status line).
function showProblem(form, err) {
  clearErrors(form);
  if (err.sessionEnded) return; // back to sign-in
  const errors = (err.problem && err.problem.errors) || [];
  let first = null;
  for (const e of errors) {
    const name = String(e.field || "").split(".").pop().replace(/\[\d+\]$/, "");
    const control = fieldError(form, name, e.detail);
    first = first || control;
  }
  say(errors.length ? `${err.message} (${errors.length} field${errors.length > 1 ? "s" : ""} to fix)` : err.message, true);
  if (first) first.focus();
}

// An action's failure in the status line (not when the session just ended).
function failed(e) {
  if (e.sessionEnded) return;
  say(e.message, true);
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

// The colour of a status, severity or verdict, by exact (case-insensitive) name; the bad list
// is checked first, and anything unknown is a warning, never "ok".
const BAD_STATES = new Set(["SUSPENDED", "UNVERIFIED", "DECLINED", "EXPIRED", "DEACTIVATED", "REJECTED", "BLOCKING"]);
const GOOD_STATES = new Set(["ACTIVE", "VERIFIED", "VETTED_VERIFIED", "ACCEPTED", "PASS", "LISTED"]);
const statusClass = (s) => {
  const u = String(s || "").toUpperCase();
  return BAD_STATES.has(u) ? "bad" : GOOD_STATES.has(u) ? "ok" : "warn";
};

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
  "/notifications": notifications,
};

function roles() {
  const s = session();
  if (!s) return [];
  if (s.who.kind === "administrator") return ["admin"];
  return s.who.provider.roles;
}

// The pages of the caller's roles (as docs/CONSOLE.md lists them); no other page is drawn.
function navLinks() {
  const r = roles();
  const staff = r.includes("dca") || r.includes("admin");
  const tracer = r.some((x) => ["admin", "dca", "carrier", "voice"].includes(x));
  const links = [];
  if (r.includes("csp")) links.push(["/brands", "Brands"], ["/campaigns", "Campaigns"], ["/numbers", "Numbers"]);
  if (staff) links.push(["/queue", "Campaign queue"], ["/gateway", "Gateway"]);
  links.push(["/history", "Number history"]);
  if (tracer) links.push(["/trace", "Trace"]);
  if (staff) links.push(["/risk", "Abuse scores"]);
  if (r.includes("csp") || r.includes("dca")) links.push(["/notifications", "Notifications"]);
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
  else {
    const allowed = navLinks().map(([p]) => p);
    if (target && target !== "/signin" && !allowed.includes(target)) {
      flash(`That page (${target.slice(1)}) is not for your role.`);
      target = null;
    }
    if (!target || target === "/signin") target = allowed[0];
  }
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
    if (e.sessionEnded) return; // refused(): sign-in follows
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
const STOCK_EXCHANGES = ["NONE", "NASDAQ", "NYSE", "AMEX", "AMX", "ASX", "B3", "BME", "BSE", "FRA", "ICEX", "JPX", "JSE",
  "KRX", "LON", "NSE", "OMX", "SEHK", "SGX", "SSE", "STO", "SWX", "SZSE", "TSX", "TWSE", "VSE", "OTHER"];
const ALT_ID_TYPES = ["NONE", "DUNS", "GIIN", "LEI"];
// The fields of a brand request (`PUT /v1/brands/{id}` refuses any other).
const BRAND_FIELDS = ["entityType", "firstName", "lastName", "displayName", "companyName", "ein", "einIssuingCountry", "phone",
  "mobilePhone", "street", "city", "state", "postalCode", "country", "email", "businessContactEmail", "stockSymbol",
  "stockExchange", "ipAddress", "website", "brandRelationship", "vertical", "altBusinessId", "altBusinessIdType",
  "referenceId", "tag"];

const isPass = (r) => String(r.severity).toUpperCase() === "PASS";

function points(n) {
  const p = Number(n) || 0;
  return `${p > 0 ? "+" : ""}${p} point${Math.abs(p) === 1 ? "" : "s"}`;
}

// One vetting finding: severity, code, field, message, its points and how to fix it.
function findingItem(r) {
  return h("li", { class: "finding" }, pill(String(r.severity).toUpperCase(), statusClass(r.severity)), " ",
    h("strong", {}, r.code), r.field ? ` (${r.field})` : "", `: ${r.message} `, h("span", { class: "points" }, `(${points(r.points)})`),
    r.fix ? h("div", { class: "hint" }, `How to fix: ${r.fix}`) : null);
}

// The findings that did not pass, then the passed checks folded away.
function findings(reasons) {
  const open = (reasons || []).filter((r) => !isPass(r)), passed = (reasons || []).filter(isPass);
  return [
    open.length ? h("ul", { class: "findings" }, open.map(findingItem)) : h("p", { class: "muted findings" }, "Nothing to fix: every check passed."),
    passed.length ? h("details", { class: "passed" }, h("summary", {}, `${passed.length} check${passed.length > 1 ? "s" : ""} passed`),
      h("ul", {}, passed.map(findingItem))) : null,
  ];
}

function vettingResult(b) {
  return h("section", { class: "card", "aria-label": `Vetting of ${b.displayName}` },
    h("h2", { tabindex: "-1" }, `${b.displayName}: `, pill(b.identityStatus, statusClass(b.identityStatus)), ` score ${b.vettingScore}`),
    h("h3", {}, "Findings"), findings(b.vettingReasons));
}

// The brand form's fields, filled from `b` (a brand as the API shows it) when given.
function brandFields(b = {}) {
  const v = (k, d) => (b[k] === undefined || b[k] === null ? d : b[k]);
  return [
    field("entityType", "Entity type", { options: ENTITY_TYPES.map((x) => [x, x]), value: v("entityType") }),
    field("displayName", "Display name", { required: true, value: v("displayName"), hint: "The name subscribers know (shown as the verified caller name)." }),
    field("companyName", "Legal company name", { value: v("companyName"), hint: "As registered with the IRS (not for sole proprietors)." }),
    field("ein", "EIN", { placeholder: "12-3456789", value: v("ein"), hint: "Federal tax id: two digits, a dash, seven digits." }),
    field("phone", "Phone", { placeholder: "+14155550100", value: v("phone") }),
    field("email", "Email", { type: "email", value: v("email") }),
    field("website", "Website", { placeholder: "https://example.com", value: v("website") }),
    field("street", "Street", { value: v("street") }), field("city", "City", { value: v("city") }),
    field("state", "State", { placeholder: "CA", value: v("state") }),
    field("postalCode", "Postal code", { value: v("postalCode") }), field("country", "Country", { value: v("country", "US") }),
    field("vertical", "Vertical", { options: VERTICALS.map((x) => [x, x]), value: v("vertical") }),
    h("details", { class: "field wide more" }, h("summary", {}, "More fields: sole proprietors, public companies, business identifiers"),
      h("div", { class: "grid" },
        field("firstName", "Contact first name", { value: v("firstName"), hint: "Sole proprietors: the person." }),
        field("lastName", "Contact last name", { value: v("lastName") }),
        field("mobilePhone", "Mobile phone", { placeholder: "+14155550100", value: v("mobilePhone"), hint: "Required for sole proprietors." }),
        field("businessContactEmail", "Business contact email", { type: "email", value: v("businessContactEmail"), hint: "Public companies." }),
        field("stockSymbol", "Stock symbol", { value: v("stockSymbol"), hint: "Public companies." }),
        field("stockExchange", "Stock exchange", { options: [["", "—"], ...STOCK_EXCHANGES.map((x) => [x, x])], value: v("stockExchange", "") }),
        field("altBusinessIdType", "Business identifier type", { options: [["", "—"], ...ALT_ID_TYPES.map((x) => [x, x])], value: v("altBusinessIdType", "") }),
        field("altBusinessId", "Business identifier (DUNS, GIIN or LEI)", { value: v("altBusinessId") }),
        field("einIssuingCountry", "Country that issued the tax id", { placeholder: "US", value: v("einIssuingCountry") }))),
  ];
}

function brandTable(list, edit, revet) {
  return table(["Brand", "Id", "Identity", "Score", "Findings", "Fix"], list.map((b) => [b.displayName, h("code", {}, b.brandId),
    pill(b.identityStatus, statusClass(b.identityStatus)), String(b.vettingScore),
    (b.vettingReasons || []).filter((r) => !isPass(r)).map((r) => `${r.code} (${points(r.points)})${r.fix ? " — " + r.fix : ""}`).join("; ") || "—",
    h("span", { class: "row" },
      h("button", { type: "button", class: "secondary", "aria-label": `Edit and re-vet brand ${b.brandId}`, onclick: () => edit(b.brandId) }, "Edit and re-vet"),
      h("button", { type: "button", class: "secondary", "aria-label": `Re-vet brand ${b.brandId}`, onclick: () => revet(b.brandId) }, "Re-vet"))]));
}

async function brands(view) {
  const list = await api("GET", "/v1/brands");
  const results = h("div", { id: "vetting" });
  const editor = h("div", { id: "brand-edit" });
  const listBox = h("div", { id: "brand-list" });
  const showResult = (b, what) => {
    say(`Brand ${b.displayName} ${what}: ${b.identityStatus}, score ${b.vettingScore}.`);
    results.replaceChildren(vettingResult(b));
    results.querySelector("h2").focus();
  };
  const refreshList = async () => {
    try { listBox.replaceChildren(brandTable(await api("GET", "/v1/brands"), edit, revet)); } catch (e) { failed(e); }
  };
  // Edit: the form filled from GET /v1/brands/{id}, sent whole with PUT (which vets again).
  async function edit(id) {
    let b;
    try { b = await api("GET", `/v1/brands/${encodeURIComponent(id)}`); } catch (e) { failed(e); return; }
    const form = h("form", { class: "grid", "aria-label": `Edit brand ${id}` }, brandFields(b),
      h("div", { class: "field wide row" }, h("button", { type: "submit" }, "Save and re-vet"),
        h("button", { type: "button", class: "secondary", onclick: () => editor.replaceChildren() }, "Cancel")));
    // What vetting found beside the fields it is about, with how to fix it.
    for (const r of (b.vettingReasons || []).filter((x) => !isPass(x) && x.field)) {
      fieldError(form, String(r.field).split(".").pop(), `${r.code}: ${r.fix || r.message}`);
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const k of BRAND_FIELDS) if (b[k] !== undefined && b[k] !== null) body[k] = b[k];
      for (const el of form.querySelectorAll("[name]")) delete body[el.name];
      Object.assign(body, formValues(form));
      try {
        const updated = await api("PUT", `/v1/brands/${encodeURIComponent(id)}`, body);
        editor.replaceChildren();
        showResult(updated, "updated and vetted again");
        refreshList();
      } catch (e) { showProblem(form, e); }
    });
    editor.replaceChildren(h("section", { class: "card" }, h("h2", { tabindex: "-1" }, `Edit ${b.displayName} (${id})`),
      h("p", { class: "hint" }, "Saving replaces the brand's fields and vets it again at once."), form));
    editor.querySelector("h2").focus();
  }
  async function revet(id) {
    try {
      showResult(await api("POST", `/v1/brands/${encodeURIComponent(id)}/revet`), "vetted again");
      refreshList();
    } catch (e) { failed(e); }
  }
  const form = h("form", { class: "grid", "aria-label": "Register a brand" }, brandFields(),
    h("div", { class: "field wide" }, h("button", { type: "submit" }, "Register brand")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const b = await api("POST", "/v1/brands", formValues(form));
      clearErrors(form);
      showResult(b, "registered");
      refreshList();
    } catch (e) { showProblem(form, e); }
  });
  listBox.append(brandTable(list, edit, revet));
  view.append(h("h1", {}, "Brands"),
    h("section", { class: "card" }, h("h2", {}, "Register a brand"), form), results, editor,
    h("h2", {}, "Your brands"), listBox);
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
  const verified = brandList.filter((b) => ["VERIFIED", "VETTED_VERIFIED"].includes(b.identityStatus));
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
      } catch (e) { failed(e); }
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
  // A release asks why, like the queue's other reasoned actions: the reason stays in the
  // number's history (`DELETE /v1/numbers/{n}?reason=`).
  const release = async () => {
    clearErrors(one);
    const n = one.number.value.trim(), reason = one.reason.value.trim();
    if (!reason) {
      const control = fieldError(one, "reason", "Say why the number is released: it is kept in the number's history.");
      say("A release needs a reason.", true);
      control.focus();
      return;
    }
    try {
      await api("DELETE", `/v1/numbers/${encodeURIComponent(n)}?reason=${encodeURIComponent(reason)}`);
      one.reason.value = "";
      say(`${n} released (${reason}).`);
    } catch (e) { showProblem(one, e); }
  };
  const one = h("form", { class: "grid", "aria-label": "Assign a number" },
    field("number", "Number (E.164)", { placeholder: "+12025550100", required: true }),
    field("campaignId", "Campaign", { options, hint: options.length ? "" : "No campaign accepted by a DCA yet." }),
    field("reason", "Reason for a release", { hint: "Only for Release: why the number leaves its campaign (kept in its history)." }),
    h("div", { class: "field row" }, h("button", { type: "submit" }, "Assign"),
      h("button", { type: "button", class: "danger", id: "release", onclick: release }, "Release")));
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
      if (xhr.status === 401) { refused(); return; }
      if (xhr.status >= 200 && xhr.status < 300 && body) {
        say(`Import done: ${body.accepted} accepted, ${body.unchanged} unchanged, ${body.rejected.length} rejected.`);
        report.replaceChildren(body.rejected.length ? table(["Line", "Number", "Why"], body.rejected.map((r) => [String(r.line), r.number, r.reason])) : "");
      } else say((body && body.detail) || `Upload failed: HTTP ${xhr.status}`, true);
    };
    xhr.onerror = () => say(`Upload failed. ${UNREACHABLE}`, true);
    xhr.send(file);
  });
  view.append(h("h1", {}, "Numbers"),
    h("section", { class: "card" }, h("h2", {}, "One number"), one),
    h("section", { class: "card" }, h("h2", {}, "Bulk import"), csv, report),
    heldNumbers(list));
}

// The numbers a campaign holds now (GET /v1/campaigns/{id}/numbers), a page at a time, each
// linked to its history; the whole list as the CSV the bulk import reads.
const HELD_PAGE = 500;
function heldNumbers(list) {
  const options = list.map((c) => [c.campaignId, `${c.campaignId} (${c.usecase}, ${c.status})`]);
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "grid", "aria-label": "Numbers a campaign holds" },
    field("campaignId", "Campaign", { options, hint: options.length ? "" : "No campaign yet." }),
    h("div", { class: "field row" }, h("button", { type: "submit" }, "Show numbers"),
      h("button", { type: "button", id: "download-numbers", onclick: () => download(form.campaignId.value) }, "Download CSV")));
  const path = (id, after, limit) =>
    `/v1/campaigns/${encodeURIComponent(id)}/numbers?limit=${limit}` + (after ? `&after=${encodeURIComponent(after)}` : "");
  const rows = (page) => page.numbers.map((n) => [
    h("a", { href: `#/history?number=${encodeURIComponent(n.number)}` }, n.number),
    n.suspended ? pill("SUSPENDED", "bad") : pill("ACTIVE", "ok")]);
  const show = async (id) => {
    const body = h("tbody", {});
    const more = h("button", { type: "button", id: "more-numbers", hidden: true }, "More");
    const caption = h("caption", { class: "muted" });
    const load = async (after) => {
      try {
        const page = await api("GET", path(id, after, HELD_PAGE));
        for (const r of rows(page)) body.append(h("tr", {}, r.map((c) => h("td", {}, c))));
        const shown = body.children.length;
        caption.textContent = `${shown} of ${page.total} number${page.total === 1 ? "" : "s"} held by ${page.campaignId} (${page.campaignStatus})`;
        more.hidden = !page.next;
        more.onclick = page.next ? () => load(page.next) : null;
      } catch (e) { failed(e); }
    };
    out.replaceChildren(h("table", { id: "held-numbers" }, caption,
      h("thead", {}, h("tr", {}, ["Number", "Number's own state"].map((x) => h("th", { scope: "col" }, x)))), body), more);
    await load(null);
  };
  // number,campaignId,dca rows, every page, as `vouch export numbers` writes them.
  const download = async (id) => {
    if (!id) { say("Choose a campaign first.", true); return; }
    try {
      const lines = ["number,campaignId,dca"];
      let after = null;
      do {
        const page = await api("GET", path(id, after, 10000));
        for (const n of page.numbers) lines.push(`${n.number},${page.campaignId},${page.dcaId || ""}`);
        after = page.numbers.length ? page.next : null;
      } while (after);
      const url = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
      const a = h("a", { href: url, download: `${id}-numbers.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say(`${lines.length - 1} numbers of ${id} written to ${id}-numbers.csv.`);
    } catch (e) { failed(e); }
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); show(form.campaignId.value); });
  return h("section", { class: "card" }, h("h2", {}, "Numbers held"), form, out);
}

// ---- CSP and DCA: notifications ---------------------------------------------------------

const DELIVERY_CLASS = { delivered: "ok", failed: "bad", pending: "warn" };

// Where the provider's webhook notifications go (PUT/GET/DELETE /v1/providers/{id}/webhook),
// and what became of each (GET …/webhook/deliveries), with a failed one sent again on demand.
async function notifications(view, params) {
  const me = session().who.provider.providerId;
  const base = `/v1/providers/${encodeURIComponent(me)}/webhook`;
  let hook = null;
  try { hook = await api("GET", base); } catch (e) { if (e.status !== 404) throw e; }
  const secretBox = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "grid", "aria-label": "Webhook" },
    field("url", "Webhook URL", { value: hook ? hook.url : "", wide: true, placeholder: "https://hooks.example.com/vouch",
      hint: "https (plain http only to a loopback address). Saving issues a new signing secret." }),
    h("div", { class: "field row" }, h("button", { type: "submit" }, "Save"),
      hook ? h("button", { type: "button", class: "danger", id: "stop-webhook", onclick: async () => {
        try { await api("DELETE", base); flash("Notifications stopped."); render(); } catch (e) { failed(e); }
      } }, "Stop notifications") : null));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const saved = await api("PUT", base, { url: form.url.value.trim() });
      say(`Notifications go to ${saved.url}.`);
      secretBox.replaceChildren(h("p", {}, "Signing secret (shown once; check each delivery's Vouch-Signature with it): ",
        h("code", { id: "webhook-secret" }, saved.secret)));
    } catch (e) { showProblem(form, e); }
  });
  const status = params.get("status") || "";
  const filter = h("form", { class: "row", "aria-label": "Filter deliveries" },
    field("status", "Deliveries", { options: [["", "all"], ["pending", "pending"], ["failed", "failed"], ["delivered", "delivered"]], value: status }),
    h("button", { type: "submit" }, "Show"));
  filter.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/notifications?status=${encodeURIComponent(filter.status.value)}`;
  });
  const list = await api("GET", `${base}/deliveries?limit=200${status ? `&status=${encodeURIComponent(status)}` : ""}`);
  const again = (d) => h("button", { type: "button", "data-delivery": d.id, onclick: async () => {
    try {
      await api("POST", `${base}/deliveries/${encodeURIComponent(d.id)}/retry`, {});
      flash(`${d.id} is sent again.`);
      render();
    } catch (e) { failed(e); }
  } }, "Send again");
  const rows = list.map((d) => [String(d.created).replace("T", " ").slice(0, 19), d.kind,
    h("code", {}, (d.body && d.body.campaignId) || "—"), (d.body && d.body.number) || "—",
    pill(d.status, DELIVERY_CLASS[d.status]), String(d.attempts), d.lastError || "—",
    d.status === "pending" ? `next ${String(d.nextAttempt || "").replace("T", " ").slice(0, 19)}` : again(d)]);
  view.append(h("h1", {}, "Notifications"),
    h("section", { class: "card" }, h("h2", {}, "Where they go"), form, secretBox),
    h("section", { class: "card" }, h("h2", {}, "Deliveries"), filter,
      list.length ? table(["Created", "Event", "Campaign", "Number", "Status", "Attempts", "Last error", ""], rows,
        "Suspensions, reinstatements, changes and sharings of your campaigns; each is retried for a day until your receiver answers 2xx.")
        : h("p", { class: "muted" }, hook ? "No notification yet." : "Set a webhook URL to be notified.")));
}

// ---- DCA: queue and gateway -------------------------------------------------------------

const CAMPAIGN_FLAGS = [
  ["subscriberOptin", "Subscribers opt in"], ["subscriberOptout", "Subscribers can opt out"],
  ["subscriberHelp", "Subscribers can ask for help"], ["embeddedLink", "Messages contain links"],
  ["embeddedPhone", "Messages contain phone numbers"], ["numberPool", "Number pool"], ["ageGated", "Age-gated content"],
  ["directLending", "Direct lending or loans"], ["affiliateMarketing", "Affiliate marketing"],
];

// Everything a DCA judges a campaign by (GET /v1/campaigns/{id} and GET /v1/brands/{id}), as
// text: registry data is never markup, and links are shown, not followed.
async function campaignReview(id) {
  const c = await api("GET", `/v1/campaigns/${encodeURIComponent(id)}`);
  let brand = null, brandError = null;
  try { brand = await api("GET", `/v1/brands/${encodeURIComponent(c.brandId)}`); } catch (e) {
    if (e.sessionEnded) throw e;
    brandError = e.message;
  }
  const fact = (term, value) => (value === undefined || value === null || value === "" ? null : [h("dt", {}, term), h("dd", {}, value)]);
  const samples = [1, 2, 3, 4, 5].map((i) => c[`sample${i}`]).filter(Boolean);
  return h("div", { class: "review" },
    h("h3", {}, "Brand"),
    brand ? h("div", {},
      h("p", {}, h("strong", {}, brand.displayName), brand.companyName ? ` (${brand.companyName})` : "", " ",
        pill(brand.identityStatus, statusClass(brand.identityStatus)), ` vetting score ${brand.vettingScore}`,
        brand.website ? ` · ${brand.website}` : "", brand.vertical ? ` · ${brand.vertical}` : ""),
      h("h4", {}, "Vetting findings"), findings(brand.vettingReasons))
      : h("p", { class: "bad" }, `Brand ${c.brandId}: ${brandError}`),
    h("h3", {}, "Campaign"),
    h("dl", { class: "facts" },
      fact("Use case", [c.usecase, ...(c.subUsecases || [])].join(", ")),
      fact("Description", c.description),
      fact("Message flow (opt-in)", c.messageFlow),
      fact("Sample messages", samples.length ? h("ol", {}, samples.map((x) => h("li", {}, x))) : "none"),
      fact("Opt-in", [c.optinKeywords ? `keywords ${c.optinKeywords}` : "", c.optinMessage || ""].filter(Boolean).join(": ")),
      fact("Opt-out", [c.optoutKeywords ? `keywords ${c.optoutKeywords}` : "", c.optoutMessage || ""].filter(Boolean).join(": ")),
      fact("Help", [c.helpKeywords ? `keywords ${c.helpKeywords}` : "", c.helpMessage || ""].filter(Boolean).join(": ")),
      fact("Privacy policy", c.privacyPolicyLink), fact("Terms and conditions", c.termsAndConditionsLink),
      fact("Flags", h("ul", { class: "flags" }, CAMPAIGN_FLAGS.map(([k, label]) => h("li", { "data-flag": k }, `${label}: ${c[k] ? "yes" : "no"}`)))),
      fact("Status", [c.status, c.statusReason].filter(Boolean).join(": "))));
}

async function queue(view) {
  const s = session();
  const me = s.who.provider ? s.who.provider.providerId : null;
  const list = await api("GET", "/v1/campaigns");
  const reasonFor = (c) => h("input", { type: "text", "aria-label": `Reason for campaign ${c.campaignId}`, placeholder: "reason" });
  const act = (label, cls, fn) => h("button", { type: "button", class: cls, onclick: fn }, label);
  const run = async (what, f) => { try { await f(); flash(what); render(); } catch (e) { failed(e); } };
  const headers = ["Campaign", "Brand", "Use case", "Status", "Sharing", "Action"];
  const body = h("tbody", {});
  list.forEach((c, n) => {
    const mine = (c.sharing || []).find((x) => !me || x.upstreamCnpId === me) || {};
    const reason = reasonFor(c);
    const withReason = () => (reason.value.trim() ? { reason: reason.value.trim() } : {});
    const dca = mine.upstreamCnpId;
    const buttons = [];
    if (mine.sharingStatus === "PENDING") {
      buttons.push(act("Accept", "", () => run(`Campaign ${c.campaignId} accepted.`, () => api("POST", `/v1/campaigns/${c.campaignId}/sharing/${dca}/accept`))));
      buttons.push(act("Decline", "danger", () => run(`Campaign ${c.campaignId} declined.`, () => api("POST", `/v1/campaigns/${c.campaignId}/sharing/${dca}/decline`, withReason()))));
    }
    if (c.status === "ACTIVE" && mine.sharingStatus === "ACCEPTED")
      buttons.push(act("Suspend", "danger", () => run(`Campaign ${c.campaignId} suspended.`, () => api("POST", `/v1/campaigns/${c.campaignId}/suspend`, withReason()))));
    if (c.status === "SUSPENDED")
      buttons.push(act("Reinstate", "", () => run(`Campaign ${c.campaignId} reinstated.`, () => api("POST", `/v1/campaigns/${c.campaignId}/resume`, withReason()))));
    // The review row: drawn (and fetched) on first opening, then shown or hidden.
    const detailId = `review-${n}`;
    const detail = h("tr", { class: "detail", id: detailId, hidden: true }, h("td", { colspan: String(headers.length) }));
    const review = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": detailId,
      "aria-label": `Review campaign ${c.campaignId}`, onclick: async () => {
        const open = review.getAttribute("aria-expanded") === "true";
        review.setAttribute("aria-expanded", String(!open));
        detail.hidden = open;
        if (open || detail.dataset.loaded) return;
        detail.firstChild.replaceChildren(h("p", { class: "muted" }, "Loading…"));
        try {
          detail.firstChild.replaceChildren(await campaignReview(c.campaignId));
          detail.dataset.loaded = "1";
        } catch (e) { detail.firstChild.replaceChildren(h("p", { class: "bad" }, e.message)); failed(e); }
      } }, "Review");
    const cells = [h("span", { class: "row" }, h("code", {}, c.campaignId), review), h("code", {}, c.brandId), c.usecase,
      pill(c.status, statusClass(c.status)), mine.sharingStatus ? pill(mine.sharingStatus, statusClass(mine.sharingStatus)) : "—",
      buttons.length ? h("span", { class: "row" }, reason, ...buttons) : "—"];
    body.append(h("tr", { class: "campaign", "data-campaign": c.campaignId }, cells.map((x) => h("td", {}, x))), detail);
  });
  view.append(h("h1", {}, "Campaign queue"),
    h("p", { class: "muted" }, "Campaigns shared with you: review each one (its brand's vetting, use case, samples and opt-in), accept or decline new ones, suspend or reinstate with a reason (recorded in the log)."),
    h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))), body));
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

// The gateway's decisions for the number around the instant (sms): counts always; accounts and
// records as far as the caller may see them (docs/TRACEBACK.md).
function gatewaySection(g) {
  const when = (t) => String(t || "").replace("T", " ").slice(0, 19);
  const parts = [h("h2", {}, "Gateway decisions"),
    h("p", { id: "gateway-counts" }, `${g.messages} message${g.messages === 1 ? "" : "s"} from ${when(g.since)} to ${when(g.until)} UTC: `,
      `${g.accepted} accepted, ${g.rejected} rejected, ${g.flagged} flagged`,
      g.similar !== undefined && g.similar !== null ? `; ${g.similar} similar to the reported content` : "", ".")];
  if ((g.accounts || []).length) {
    parts.push(table(["Account (system_id)", "CSP", "Messages"], g.accounts.map((a) => [h("code", {}, a.systemId), h("code", {}, a.providerId), String(a.messages)]), "Accounts that sent them"));
  }
  if (g.accountsHidden) parts.push(h("p", { class: "muted" }, `${g.accountsHidden} account(s) not shown: only the gateway's DCA, the administrator and each account's CSP see them.`));
  if (g.nearest) parts.push(h("p", {}, `Nearest decision: ${when(g.nearest.at)}, account ${g.nearest.systemId}, ${g.nearest.verdict} (${g.nearest.status}).`));
  if ((g.records || []).length) {
    parts.push(table(["At", "Account", "CSP", "Campaign", "Verdict", "Status"], g.records.map((r) => [when(r.at), h("code", {}, r.systemId),
      h("code", {}, r.providerId), r.campaignId ? h("code", {}, r.campaignId) : "—", pill(r.verdict, statusClass(r.verdict)), r.status]), "Decisions around the instant"));
  }
  if (g.recordsHidden) parts.push(h("p", { class: "muted" }, `${g.recordsHidden} decision(s) of accounts you may not see are not listed.`));
  if (g.truncated) parts.push(h("p", { class: "muted" }, "The hour holds more decisions than listed (at most 1,000 either side of the instant)."));
  return h("section", { class: "card", "aria-label": "Gateway decisions", id: "trace-gateway" }, parts);
}

async function trace(view, params) {
  const out = h("div", {});
  // The field shows local time to the second. What it shows is what is traced: the URL's `at`
  // (to its fraction of a second) while untouched, what the user typed once edited. Only a
  // first trace (no `at` in the URL) with the field untouched means the moment of the click,
  // not the second the page was drawn (a number assigned 0.8 s earlier must be found).
  const localInput = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const urlAt = params.get("at") && !Number.isNaN(Date.parse(params.get("at"))) ? params.get("at") : null;
  let edited = false;
  const form = h("form", { class: "grid", "aria-label": "Trace a number" },
    field("number", "Number (E.164)", { value: params.get("number") || "", placeholder: "+12025550100" }),
    field("at", "At (your local time)", { type: "datetime-local", step: "1", value: localInput(urlAt ? new Date(urlAt) : new Date()),
      hint: urlAt ? "The instant of this trace; change it to trace another." : "Now, unless you change it." }),
    field("channel", "Channel", { options: [["sms", "SMS"], ["voice", "Voice"]], value: params.get("channel") || "sms" }),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Trace")));
  for (const ev of ["input", "change"]) form.at.addEventListener(ev, () => { edited = true; });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    let at;
    if (edited && v.at) {
      const typed = v.at.length === 16 ? `${v.at}:00` : v.at; // the browser drops ":00" seconds
      const d = new Date(typed); // a datetime-local value is local time
      if (Number.isNaN(d.getTime())) { clearErrors(form); fieldError(form, "at", "Not a date and time.").focus(); return; }
      at = d.toISOString();
    } else if (!edited && urlAt) at = urlAt;
    else at = new Date().toISOString();
    location.hash = `#/trace?number=${encodeURIComponent(v.number || "")}&at=${encodeURIComponent(at)}&channel=${encodeURIComponent(v.channel || "sms")}`;
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
  const at = new Date(urlAt || Date.now()).toISOString();
  const t = report
    ? await api("GET", `/v1/reports/${encodeURIComponent(report)}/trace?proofs=true`)
    : await api("GET", `/v1/trace?tn=${encodeURIComponent(n)}&at=${encodeURIComponent(at)}&channel=${encodeURIComponent(params.get("channel") || "sms")}&proofs=true`);
  const holder = t.holder;
  const brand = holder ? holder.brand || {} : {};
  out.append(h("section", { class: "card", "aria-label": "Holder" }, h("h2", {}, `${t.number} at ${t.at}`),
    holder ? h("dl", {},
      h("dt", {}, "Campaign"), h("dd", {}, h("code", {}, holder.campaignId), ` (${holder.usecase}), then ${holder.statusThen}, now ${holder.statusNow}`,
        holder.numberSuspendedThen || holder.numberSuspendedNow ? `; the number itself suspended then: ${holder.numberSuspendedThen ? "yes" : "no"}, now: ${holder.numberSuspendedNow ? "yes" : "no"}` : ""),
      h("dt", {}, "Brand"), h("dd", {}, brand.displayName || brand.brandId || JSON.stringify(brand),
        brand.identityStatus ? [" ", pill(brand.identityStatus, statusClass(brand.identityStatus))] : "",
        brand.changedSince ? " (its fields have changed since)" : ""),
      h("dt", {}, "CSP"), h("dd", {}, holder.csp.legalName), h("dt", {}, "DCA"), h("dd", {}, holder.dca.legalName),
      h("dt", {}, "Held"), h("dd", {}, `${holder.assigned} – ${holder.released || "now"}`))
      : h("p", {}, "Nobody held the number then: it was not registered."),
    t.currentHolder ? h("p", { id: "current-holder" }, h("strong", {}, "Held now by another campaign: "), h("code", {}, t.currentHolder),
      holder ? " (not the holder at the instant traced)." : ".") : null,
    h("p", {}, `${t.reports} report(s) about the number around then; answered in ${t.elapsedUs} µs.`)),
  t.gateway ? gatewaySection(t.gateway) : null,
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
//
// The browser audits the log as `vouch log verify` does: it pins the log's Ed25519 key on first
// use, checks the checkpoint's signed note with WebCrypto, keeps the tree size and root it
// accepted (localStorage), and on the next visit checks the RFC 9162 consistency proof from that
// tree to the current one. The kept tree advances only after a check that passed.

const AUDIT_STATE = "vouch-log-audit"; // { key, size, root, checkpoint, at }: what this browser trusts
const LAST_AUDIT = "vouch-last-audit"; // { at, ok, verdict, size, root, from, fromRoot }: the last run's result

class LogMisbehaves extends Error {}

const utf8 = (s) => new TextEncoder().encode(s);
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hex = (u) => [...u].map((x) => x.toString(16).padStart(2, "0")).join("");
async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
function b64Strict(s, what) {
  try { return b64(s); } catch { throw new LogMisbehaves(`${what} is not base64`); }
}

// A note verifier key, `name+<key id hex>+base64(0x01 || Ed25519 public key)` (C2SP signed-note);
// the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key).
async function parseVerifierKey(text) {
  const s = String(text).trim();
  const i = s.indexOf("+"), j = s.indexOf("+", i + 1);
  if (i <= 0 || j < 0) throw new LogMisbehaves("the log key is not name+hash+key");
  const name = s.slice(0, i), hash = s.slice(i + 1, j);
  const raw = b64Strict(s.slice(j + 1), "the log key");
  if (raw.length !== 33 || raw[0] !== 1) throw new LogMisbehaves("the log key is not an Ed25519 key (type 0x01, 32 bytes)");
  const pub = raw.slice(1);
  const id = (await sha256(utf8(name), Uint8Array.of(0x0a, 0x01), pub)).slice(0, 4);
  if (hash !== hex(id)) throw new LogMisbehaves("the log key's hash does not match the key");
  return { name, id, pub, text: s };
}

// Checks a checkpoint's signed note against the key: the first signature by that key (name and
// id) must verify; answers the checkpoint (origin, size, root) it signs.
async function verifyCheckpoint(note, key) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new LogMisbehaves("the checkpoint is not a signed note (no blank line before the signatures)");
  const text = note.slice(0, split + 1);
  let sig = null;
  for (const line of note.slice(split + 2).split("\n")) {
    if (!line) continue;
    if (!line.startsWith("\u2014 ")) throw new LogMisbehaves("a signature line of the checkpoint does not start with '— '");
    const [name, value] = line.slice(2).split(" ");
    const raw = b64Strict(value || "", "a signature of the checkpoint");
    if (!sig && name === key.name && raw.length > 4 && eq(raw.slice(0, 4), key.id)) sig = raw.slice(4);
  }
  if (!sig) throw new LogMisbehaves(`BAD SIGNATURE: the checkpoint is not signed by the pinned key ${key.name}`);
  const pk = await crypto.subtle.importKey("raw", key.pub, { name: "Ed25519" }, false, ["verify"]);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, pk, sig, utf8(text)))) {
    throw new LogMisbehaves(`BAD SIGNATURE: the checkpoint's signature by ${key.name} does not verify`);
  }
  const [origin, size, root] = text.split("\n");
  if (origin !== key.name) throw new LogMisbehaves(`the checkpoint's origin ${origin} is not the key's name ${key.name}`);
  if (!/^\d{1,15}$/.test(size || "")) throw new LogMisbehaves("the checkpoint's tree size is not a number");
  const rootBytes = b64Strict(root || "", "the checkpoint's root");
  if (rootBytes.length !== 32) throw new LogMisbehaves("the checkpoint's root is not 32 bytes");
  return { origin, size: Number(size), root: rootBytes, rootText: root };
}

// RFC 9162 section 2.1.4.2: verifies a consistency proof between trees of sizes m <= n with the
// given roots (BigInt arithmetic: sizes past 2^31 stay exact).
async function verifyConsistency(m, n, proof, oldRoot, newRoot) {
  if (!(m >= 1) || n < m) return false;
  if (m === n) return proof.length === 0 && eq(oldRoot, newRoot);
  if (!proof.length) return false;
  let fn = BigInt(m) - 1n, sn = BigInt(n) - 1n;
  const path = (BigInt(m) & (BigInt(m) - 1n)) === 0n ? [oldRoot, ...proof] : proof.slice();
  if (path.some((p) => p.length !== 32)) return false;
  while (fn & 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) || fn === sn) {
      fr = await sha256(Uint8Array.of(1), c, fr);
      sr = await sha256(Uint8Array.of(1), c, sr);
      while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = await sha256(Uint8Array.of(1), sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && eq(fr, oldRoot) && eq(sr, newRoot);
}

// Proves that the tree (size, root) this browser accepted is a prefix of `cp`.
async function proveExtends(size, root, cp) {
  const c = await api("GET", `/v1/log/proofs/consistency?from=${size}&to=${cp.size}`);
  const proof = (c.proof || []).map((x) => b64Strict(x, "a consistency proof hash"));
  if (!(await verifyConsistency(size, cp.size, proof, root, cp.root))) {
    throw new LogMisbehaves(`SPLIT VIEW OR REWRITE: the signed tree of size ${cp.size} does not extend the tree of size ${size} ` +
      `(root ${toB64(root)}) this browser accepted before: the consistency proof does not verify. Report this log.`);
  }
}
const toB64 = (u) => btoa(String.fromCharCode(...u));

function loadJson(name) {
  try { return JSON.parse(localStorage.getItem(name) || "null"); } catch { return null; }
}

// One audit run: answers what to say; throws LogMisbehaves when the log misbehaves, and any
// other error when the check could not be made.
async function auditLog(note, oldest) {
  if (!crypto.subtle) throw new Error("this page is not served over https, so the browser offers no WebCrypto: audit with `vouch log verify`");
  const state = loadJson(AUDIT_STATE);
  const firstUse = !(state && state.key && state.size && state.root);
  const key = await parseVerifierKey(firstUse ? await api("GET", "/log/key") : state.key);
  const cp = await verifyCheckpoint(note, key);
  const lines = [`signature verified: the checkpoint (tree size ${cp.size}, root ${cp.rootText}) is signed by ${key.name}.`];
  let from = null;
  if (!firstUse) {
    const oldRoot = b64Strict(state.root, "the root kept in this browser");
    if (cp.size < state.size) {
      throw new LogMisbehaves(`ROLLBACK: the log's signed tree has ${cp.size} entries, fewer than the ${state.size} this browser accepted before.`);
    }
    if (cp.size === state.size && !eq(cp.root, oldRoot)) {
      throw new LogMisbehaves(`SPLIT VIEW: two different signed trees of size ${cp.size}: ${state.root} before, ${cp.rootText} now.`);
    }
    if (cp.size > state.size) await proveExtends(state.size, oldRoot, cp);
    from = { size: state.size, root: state.root };
    lines.push(cp.size > state.size
      ? `consistent with the tree of size ${state.size} this browser accepted on ${state.at}: the RFC 9162 consistency proof verifies.`
      : `consistent: the same tree as this browser accepted on ${state.at}.`);
  } else {
    lines.push(`key pinned on first use: ${key.text}`);
    // The oldest checkpoint listed, checked too: the log's own history must be a prefix.
    if (oldest && oldest.size < cp.size) {
      const old = await verifyCheckpoint(oldest.note, key);
      await proveExtends(old.size, old.root, cp);
      from = { size: old.size, root: old.rootText };
      lines.push(`consistent with the oldest checkpoint listed (size ${old.size}): the RFC 9162 consistency proof verifies.`);
    }
  }
  const at = new Date().toISOString();
  localStorage.setItem(AUDIT_STATE, JSON.stringify({ key: key.text, size: cp.size, root: cp.rootText, checkpoint: note, at }));
  localStorage.setItem(LAST_AUDIT, JSON.stringify({ at, ok: true, verdict: "consistent", size: cp.size, root: cp.rootText,
    from: from && from.size, fromRoot: from && from.root }));
  return lines;
}

async function logHealth(view, params) {
  const pageSize = Math.min(1000, Math.max(1, Number(params.get("limit")) || 100));
  let note;
  try { note = await api("GET", "/log/checkpoint"); } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      view.append(h("h1", {}, "Transparency log"), h("p", {}, "The log has not signed a checkpoint yet."));
      return;
    }
    throw e;
  }
  let points = (await api("GET", `/v1/log/checkpoints?limit=${pageSize}`)).slice().sort((a, b) => a.size - b.size);
  const previous = loadJson(LAST_AUDIT);
  const audit = h("div", { id: "audit" }, h("p", {}, "Auditing…"));
  const chartBox = h("div", {}, sizeChart(points));
  const older = h("button", { type: "button", class: "secondary", id: "older-checkpoints", hidden: points.length < pageSize }, "Show older checkpoints");
  older.addEventListener("click", async () => {
    try {
      const more = await api("GET", `/v1/log/checkpoints?before=${points[0].size}&limit=${pageSize}`);
      points = [...more, ...points].sort((a, b) => a.size - b.size);
      chartBox.replaceChildren(sizeChart(points));
      older.hidden = more.length < pageSize;
      say(`${points.length} checkpoints shown.`);
    } catch (e) { failed(e); }
  });
  const forget = h("button", { type: "button", class: "secondary", onclick: () => {
    localStorage.removeItem(AUDIT_STATE); localStorage.removeItem(LAST_AUDIT);
    flash("This browser forgot the log's key and the tree it accepted: the next audit pins the key the server publishes now.");
    render();
  } }, "Forget the pinned key and accepted tree");
  view.append(h("h1", {}, "Transparency log"),
    h("section", { class: "card" }, h("h2", {}, "Audit"), audit,
      h("p", { class: "hint" }, "This browser checks the checkpoint's Ed25519 signature with the log key it pinned on first use " +
        "(WebCrypto), keeps the tree size and root it accepted, and on each visit checks the RFC 9162 consistency proof from that " +
        "tree to the current one, as `vouch log verify` does."),
      h("p", { class: "muted", id: "last-audit" }, previous
        ? `Last audit before this one: ${previous.at}, tree ${previous.size} (root ${previous.root}), ${previous.ok ? "consistent" : String(previous.verdict)}.`
        : "No earlier audit in this browser."),
      forget),
    h("section", { class: "card" }, h("h2", {}, "Current checkpoint"), h("pre", { class: "mono" }, note)),
    h("section", { class: "card" }, h("h2", {}, "Tree size over time"), chartBox, older));
  try {
    const lines = await auditLog(note, points[0]);
    audit.replaceChildren(h("p", {}, pill("consistent", "ok"), " ", lines[0]), ...lines.slice(1).map((l) => h("p", {}, l)));
  } catch (e) {
    if (e.sessionEnded) return;
    const bad = e instanceof LogMisbehaves;
    const verdict = bad ? e.message.split(":")[0] : "audit not possible";
    if (bad) {
      const kept = loadJson(LAST_AUDIT) || {};
      localStorage.setItem(LAST_AUDIT, JSON.stringify({ ...kept, at: new Date().toISOString(), ok: false, verdict }));
    }
    audit.replaceChildren(h("p", { class: bad ? "alarm" : "bad", role: "alert" },
      pill(bad ? "LOG CHECK FAILED" : "NOT CHECKED", "bad"), " ", bad ? e.message : `The audit could not be made: ${e.message}`));
    if (bad) say(`LOG CHECK FAILED: ${e.message}`, true);
  }
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
  label.textContent = `${sizes[0]} entries at ${points[0].signed} … ${sizes[sizes.length - 1]} entries at ${points[points.length - 1].signed}`;
  svg.append(label);
  return svg;
}
