// The behaviour of the `rnnkit serve` page: list the models (GET /models), build each app's request from the
// form, send it (POST /models/NAME/predict; a generation streamed as server-sent events), show the reply or the
// API's {"error"}, and the run's metrics and plots. Every text from the server goes in with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];

// Every request goes to the page's origin spelled out: a page opened as http://user:key@host/ (the API key as a
// Basic password) may not fetch a relative URL, which would carry those credentials; the browser sends them itself.
function api(path) { return location.origin + path; }

function apiKey() { return sessionStorage.getItem("rnnkit-api-key") || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (apiKey()) h["X-API-Key"] = apiKey();
  return h;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearResult() {
  $("error").hidden = true;
  $("output").textContent = "";
  $("predictions").hidden = true;
  $("predictions").replaceChildren();
  $("timing").textContent = "";
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return "HTTP " + response.status + " " + response.statusText;
}

function current() { return models.find((m) => m.name === $("model").value); }

// ------------------------------------------------------------------ the model and its run
function showModel() {
  const m = current();
  if (!m) return;
  document.querySelectorAll("[data-app]").forEach((el) => {
    el.hidden = !el.dataset.app.split(" ").includes(m.app);
  });
  const facts = [m.app];
  if (m.created) facts.push("created " + m.created);
  Object.entries(m.info || {}).forEach(([k, v]) => {
    if (v !== null && v !== undefined) facts.push(k + ": " + (Array.isArray(v) ? v.join(", ") : v));
  });
  $("model-info").textContent = facts.join(" · ");
  const ex = m.example || {};
  if (m.app === "textgen") {
    $("prompt").value = ex.prompt || "";
  } else if (m.app === "classify" || m.app === "translate") {
    $("texts").value = (ex.texts || []).join("\n");
  }
  fillMetrics(m.metrics || {});
  fillPlots(m);
  clearResult();
}

function flatten(value, prefix, out) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    Object.entries(value).forEach(([k, v]) => flatten(v, prefix ? prefix + "." + k : k, out));
  } else if (!Array.isArray(value)) {
    out.push([prefix, value]);
  }
  return out;
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en");
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4);
}

function row(cells, tag) {
  const tr = document.createElement("tr");
  cells.forEach((c) => {
    const td = document.createElement(tag || "td");
    if (c instanceof Node) td.append(c); else td.textContent = c;
    if (typeof c === "number") td.className = "num";
    tr.append(td);
  });
  return tr;
}

function fillMetrics(metrics) {
  const rows = flatten(metrics, "", []);
  const table = $("metrics");
  table.replaceChildren();
  if (!rows.length) { table.append(row(["no metrics.json"])); return; }
  rows.forEach(([k, v]) => {
    const tr = row([k, typeof v === "number" ? fmt(v) : String(v)]);
    tr.lastChild.className = "num";
    tr.lastChild.dataset.key = k;
    table.append(tr);
  });
}

function fillPlots(m) {
  const box = $("plots");
  box.replaceChildren();
  (m.images || []).forEach((name) => {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.alt = name;
    img.loading = "lazy";
    img.src = api("/models/" + encodeURIComponent(m.name) + "/files/" + encodeURIComponent(name));
    if (apiKey()) {  // an <img> cannot send a header: fetch it with the key instead
      img.removeAttribute("src");
      fetch(api("/models/" + encodeURIComponent(m.name) + "/files/" + encodeURIComponent(name)), { headers: headers() })
        .then((r) => (r.ok ? r.blob() : null)).then((b) => { if (b) img.src = URL.createObjectURL(b); });
    }
    const cap = document.createElement("figcaption");
    cap.textContent = name;
    fig.append(img, cap);
    box.append(fig);
  });
  if (!box.children.length) box.textContent = "no plots in the run folder";
}

// ------------------------------------------------------------------ requests
function numberOf(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

function lines(id) { return $(id).value.split("\n").map((s) => s.trim()).filter((s) => s); }

function body(m) {
  if (m.app === "textgen") {
    const b = { prompt: $("prompt").value, length: numberOf("length"), temperature: numberOf("temperature"),
                top_k: numberOf("top_k") };
    if (numberOf("seed") !== null) b.seed = numberOf("seed");
    return b;
  }
  if (m.app === "classify") return { texts: lines("texts") };
  if (m.app === "translate") return { texts: lines("texts"), beam: numberOf("beam") };
  if (m.app === "forecast") {
    const b = { steps: numberOf("steps") };
    const rows = lines("history");
    if (rows.length) b.history = rows.map((r) => { const [d, v] = r.split(","); return [d.trim(), Number(v)]; });
    return b;
  }
  return {};
}

function showReply(m, reply) {
  if (m.app === "classify") {
    const table = $("predictions");
    table.append(row(["text", "label", "probabilities"], "th"));
    const texts = lines("texts");
    reply.predictions.forEach((p, i) => {
      const probs = document.createElement("div");
      Object.entries(p.probabilities).forEach(([label, q]) => {
        const line = document.createElement("div");
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.width = Math.round(q * 120) + "px";
        line.append(bar, document.createTextNode(label + " " + q.toFixed(3)));
        probs.append(line);
      });
      table.append(row([texts[i] || "", p.label, probs]));
    });
    table.hidden = false;
  } else if (m.app === "translate") {
    $("output").textContent = reply.translations.join("\n");
  } else if (m.app === "forecast") {
    $("output").textContent = reply.forecast.map(([d, v]) => d + "  " + fmt(v)).join("\n");
  } else if (m.app === "speech") {
    $("output").textContent = reply.text + (reply.probability !== undefined ? "  (p = " + reply.probability.toFixed(3) + ")" : "");
  } else {
    $("output").textContent = reply.text;
  }
}

async function stream(m, payload, started) {
  const response = await fetch(api("/models/" + encodeURIComponent(m.name) + "/predict"), {
    method: "POST", headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(Object.assign(payload, { stream: true })) });
  if (!response.ok) { showError(await errorOf(response)); return; }
  const out = $("output");
  out.textContent = $("prompt").value;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", chars = 0, first = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      block.split("\n").forEach((line) => {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      });
      const parsed = JSON.parse(data);
      if (event === "error") { showError(parsed.error); return; }
      if (event === "message") {
        if (first === null) first = performance.now() - started;
        out.append(parsed.text);
        chars += parsed.text.length;
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  $("timing").textContent = chars + " characters in " + seconds.toFixed(2) + " s; first after " +
    Math.round(first || 0) + " ms";
}

async function send(event) {
  event.preventDefault();
  const m = current();
  if (!m) return;
  clearResult();
  $("send").disabled = true;
  const started = performance.now();
  try {
    if (m.streams) { await stream(m, body(m), started); return; }
    let init;
    if (m.upload) {
      const form = new FormData();
      const file = $("audio").files[0];
      if (file) form.append(m.upload, file);
      init = { method: "POST", headers: headers(), body: form };
    } else {
      init = { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body(m)) };
    }
    const response = await fetch(api("/models/" + encodeURIComponent(m.name) + "/predict"), init);
    if (!response.ok) { showError(await errorOf(response)); return; }
    showReply(m, await response.json());
    $("timing").textContent = "answered in " + Math.round(performance.now() - started) + " ms";
  } catch (e) {
    showError("the request failed: " + e.message);
  } finally {
    $("send").disabled = false;
  }
}

// ------------------------------------------------------------------ start
async function load() {
  const response = await fetch(api("/models"), { headers: headers() });
  if (response.status === 401) {
    document.querySelector(".key").hidden = false;
    showError(await errorOf(response));
    return;
  }
  if (!response.ok) { showError(await errorOf(response)); return; }
  models = await response.json();
  const select = $("model");
  select.replaceChildren();
  models.forEach((m) => {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = m.name + " (" + m.app + ")";
    select.append(option);
  });
  showModel();
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = apiKey();
  if (apiKey()) document.querySelector(".key").hidden = false;
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("rnnkit-api-key", $("api-key").value.trim());
    clearResult();
    load();
  });
  $("model").addEventListener("change", showModel);
  $("request").addEventListener("submit", send);
  load();
});
