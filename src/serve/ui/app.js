// rnnserve playground (issue 13): talks to the public API only, builds the
// page from GET /v1/models, streams /generate with fetch + ReadableStream.
// No framework, nothing fetched from elsewhere; the CSP allows no inline
// code, so every style a result needs is set through element.style.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "scope" || k === "title")
      e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- the API -----------------------------------------------------------

// An error reply of the API: {"error":{"code","message","field"}}.
class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.field = error && error.field ? error.field : null;
    this.code = error && error.code;
  }
}

async function readReply(resp) {
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    throw new ApiError(resp.status, { message: `HTTP ${resp.status}: the reply is not JSON` });
  }
  if (!resp.ok || (data && data.error)) throw new ApiError(resp.status, data && data.error);
  return data;
}

async function post(path, body, signal) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  return readReply(resp);
}

// POST /generate with "stream": true; onEvent gets each event's JSON.
// Throws ApiError for an error reply or event, StreamError when streaming
// itself fails (then the caller asks for one reply instead).
class StreamError extends Error {}

async function streamGenerate(body, onEvent, signal) {
  let resp;
  try {
    resp = await fetch("/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(Object.assign({}, body, { stream: true })),
      signal,
    });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new StreamError(String(e));
  }
  const type = resp.headers.get("Content-Type") || "";
  if (!resp.ok || !type.startsWith("text/event-stream")) {
    await readReply(resp); // throws the API's error
    throw new StreamError("the reply is not a stream");
  }
  if (!resp.body || !resp.body.getReader) throw new StreamError("no ReadableStream here");
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let done = false;
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""))
          .join("\n");
        if (!data) continue;
        const ev = JSON.parse(data);
        if (ev.error) throw new ApiError(500, ev.error);
        onEvent(ev);
        if (ev.done) done = true;
      }
    }
  } catch (e) {
    if (e instanceof ApiError || signal.aborted) throw e;
    throw new StreamError(String(e));
  }
  if (!done) throw new StreamError("the stream ended before its last event");
}

// ---- errors next to their field ----------------------------------------

function clearErrors(form) {
  for (const p of form.querySelectorAll(".error, .form-error")) {
    p.textContent = "";
    p.hidden = true;
  }
  for (const i of form.querySelectorAll("[aria-invalid]")) {
    i.removeAttribute("aria-invalid");
    i.removeAttribute("aria-describedby");
  }
}

// Shows err (an ApiError or any Error) next to the field it names
// ("names[3]" is the batch box's line 4); else at the top of the form.
function showError(form, err, lineOf) {
  let field = err.field || null;
  let message = err.message || String(err);
  const item = field && /^(\w+)\[(\d+)\]$/.exec(field);
  if (item) {
    field = item[1];
    const line = lineOf ? lineOf(Number(item[2])) : Number(item[2]) + 1;
    message = `Line ${line}: ${message}`;
  }
  const box = field && form.querySelector(`.field[data-field="${field}"]:not([hidden])`);
  if (box) {
    const input = box.querySelector("input, select, textarea");
    const p = box.querySelector(".error");
    p.textContent = message;
    p.hidden = false;
    p.setAttribute("role", "alert");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
    }
    return;
  }
  const top = form.querySelector(".form-error");
  top.textContent = field ? `${field}: ${message}` : message;
  top.hidden = false;
}

// ---- reading a form ----------------------------------------------------

// The value of a visible field, or undefined when empty (the API's default
// applies).  Numbers go as numbers when they parse, else as typed, so that
// the API names the field.
function fieldValue(form, name, kind) {
  const box = form.querySelector(`.field[data-field="${name}"]`);
  if (box && box.hidden) return undefined;
  const input = form.elements[name];
  if (!input) return undefined;
  const raw = input.value;
  if (kind === "string") return raw;
  if (raw.trim() === "") {
    // a number input holding text it cannot read reports ""
    return input.validity && input.validity.badInput ? "not a number" : undefined;
  }
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

function setBusy(form, output, busy) {
  for (const b of form.querySelectorAll('button[type="submit"]')) b.disabled = busy;
  output.setAttribute("aria-busy", busy ? "true" : "false");
  if (busy) output.dataset.state = "running";
}

// ---- models ------------------------------------------------------------

let models = [];

function describeNetwork(m) {
  if (m.task === "translator")
    return `${m.bidirectional ? "bi" : ""}${(m.cell || "").toUpperCase()} ${m.num_layers}×${m.hidden_size}, attention`;
  return `${m.bidirectional ? "bi" : ""}${(m.cell || "").toUpperCase()} ${m.num_layers}×${m.hidden_size}`;
}

function describeTokens(m) {
  if (m.task === "translator") return `${m.tokenizer || "word"}: ${m.src_vocab_size} → ${m.tgt_vocab_size}`;
  return `${m.tokenizer || "char"}: ${m.vocab_size}`;
}

function renderModels() {
  const body = $("models").tBodies[0];
  body.replaceChildren();
  for (const m of models) {
    const extra = m.categories ? ` (${m.categories.length} categories)` : m.labels ? ` (${m.labels.length} labels)` : "";
    body.append(
      el("tr", {},
        el("th", { scope: "row", text: m.name }),
        el("td", { text: m.task + extra }),
        el("td", { text: describeNetwork(m) }),
        el("td", { class: "num", text: Number(m.parameters || 0).toLocaleString("en") }),
        el("td", { text: describeTokens(m) })));
  }
  $("models").hidden = models.length === 0;
}

const generative = (m) => m.task === "generator" || m.task === "textlm";

function fillSelect(select, list) {
  const keep = select.value;
  select.replaceChildren(...list.map((m) => el("option", { value: m.name, text: `${m.name} (${m.task})` })));
  if (list.some((m) => m.name === keep)) select.value = keep;
}

function modelNamed(name) {
  return models.find((m) => m.name === name);
}

function fillCategories(select, m, optional) {
  const keep = select.value;
  const options = optional ? [el("option", { value: "", text: "any" })] : [];
  for (const c of (m && m.categories) || []) options.push(el("option", { value: c, text: c }));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function showField(form, name, on) {
  const box = form.querySelector(`.field[data-field="${name}"]`);
  if (box) box.hidden = !on;
}

function onGenerateModel() {
  const form = $("form-generate");
  const m = modelNamed($("gen-model").value);
  const textlm = m && m.task === "textlm";
  showField(form, "prefix", !textlm);
  showField(form, "prompt", textlm);
  showField(form, "max_length", !textlm);
  showField(form, "max_tokens", textlm);
  const cats = !!(m && m.categories && m.categories.length);
  showField(form, "category", cats);
  if (cats) fillCategories($("gen-category"), m, true);
}

function onScoreModel() {
  const form = $("form-score");
  const m = modelNamed($("score-model").value);
  const cats = !!(m && m.categories && m.categories.length);
  showField(form, "category", cats);
  if (cats) fillCategories($("score-category"), m, false);
}

async function loadModels() {
  const status = $("models-status");
  try {
    const resp = await fetch("/v1/models");
    const data = await readReply(resp);
    models = data.models || [];
  } catch (e) {
    status.textContent = `Cannot read /v1/models: ${e.message}. Retrying…`;
    setTimeout(loadModels, 3000);
    return;
  }
  if (models.length === 0) {
    status.textContent = "No models are loaded yet. Retrying…";
    setTimeout(loadModels, 3000);
    return;
  }
  status.textContent = `${models.length} model${models.length === 1 ? "" : "s"} loaded.`;
  renderModels();
  fillSelect($("gen-model"), models.filter(generative));
  fillSelect($("score-model"), models.filter(generative));
  fillSelect($("cls-model"), models.filter((m) => m.task === "classifier"));
  fillSelect($("tr-model"), models.filter((m) => m.task === "translator"));
  $("tab-generate").hidden = !models.some(generative);
  $("tab-score").hidden = !models.some(generative);
  $("tab-classify").hidden = !models.some((m) => m.task === "classifier");
  $("tab-translate").hidden = !models.some((m) => m.task === "translator");
  onGenerateModel();
  onScoreModel();
  const wanted = location.hash.replace(/^#/, "");
  const first = tabs().find((t) => !t.hidden && (wanted ? t.id === `tab-${wanted}` : true)) || tabs().find((t) => !t.hidden);
  if (first) selectTab(first, false);
  document.body.dataset.ready = "true";
}

// ---- tabs (WAI-ARIA tabs pattern: arrows, Home, End; automatic activation)

function tabs() {
  return [...document.querySelectorAll('[role="tab"]')];
}

function selectTab(tab, focus) {
  for (const t of tabs()) {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  const name = tab.id.replace(/^tab-/, "");
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
}

function onTabKey(e) {
  const visible = tabs().filter((t) => !t.hidden);
  const at = visible.indexOf(e.currentTarget);
  let to = null;
  if (e.key === "ArrowRight") to = visible[(at + 1) % visible.length];
  else if (e.key === "ArrowLeft") to = visible[(at - 1 + visible.length) % visible.length];
  else if (e.key === "Home") to = visible[0];
  else if (e.key === "End") to = visible[visible.length - 1];
  if (!to) return;
  e.preventDefault();
  selectTab(to, true);
}

// ---- generate ----------------------------------------------------------

let generateAbort = null;

function generateRequest(form) {
  const m = modelNamed($("gen-model").value);
  const textlm = m && m.task === "textlm";
  const req = { model: $("gen-model").value };
  const put = (k, v) => {
    if (v !== undefined) req[k] = v;
  };
  if (textlm) {
    const prompt = fieldValue(form, "prompt", "string");
    if (prompt) req.prompt = prompt;
  } else {
    put("prefix", fieldValue(form, "prefix", "string"));
  }
  const category = fieldValue(form, "category", "string");
  if (category) req.category = category;
  for (const k of ["temperature", "top_p", "n", "seed", textlm ? "max_tokens" : "max_length"])
    put(k, fieldValue(form, k, "number"));
  return req;
}

function sampleItem(list, i) {
  while (list.children.length <= i) {
    const li = el("li", { "data-state": "running" },
      el("p", { class: "sample-text" }),
      el("p", { class: "sample-meta" }));
    list.append(li);
  }
  return list.children[i];
}

function sampleMeta(s) {
  const parts = [];
  if (s.category) parts.push(s.category);
  if (s.finish_reason) parts.push(`ended: ${s.finish_reason}`);
  if (s.tokens !== undefined) parts.push(`${s.tokens} tokens`);
  if (s.log_prob !== undefined && s.log_prob !== null) parts.push(`log p = ${Number(s.log_prob).toFixed(3)}`);
  return parts.join(" · ");
}

function renderReply(list, data) {
  list.replaceChildren();
  data.samples.forEach((s, i) => {
    const li = sampleItem(list, i);
    li.querySelector(".sample-text").textContent = s.text;
    li.querySelector(".sample-meta").textContent = sampleMeta(s);
    li.dataset.state = "done";
  });
}

async function onGenerate(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const out = $("gen-output");
  const list = $("gen-samples");
  const note = $("gen-note");
  clearErrors(form);
  list.replaceChildren();
  note.textContent = "";
  const req = generateRequest(form);
  generateAbort = new AbortController();
  const signal = generateAbort.signal;
  $("gen-stop").disabled = false;
  setBusy(form, out, true);
  let state = "done";
  try {
    let streamed = false;
    if ($("gen-stream").checked) {
      try {
        await streamGenerate(req, (ev) => {
          if (ev.done) {
            note.textContent = `${ev.model} · seed ${ev.seed} · ${ev.samples} sample${ev.samples === 1 ? "" : "s"}`;
            return;
          }
          const li = sampleItem(list, ev.index);
          if (ev.text !== undefined) li.querySelector(".sample-text").append(ev.text);
          if (ev.finish_reason) {
            li.querySelector(".sample-meta").textContent = sampleMeta(ev);
            li.dataset.state = "done";
          }
        }, signal);
        streamed = true;
      } catch (err) {
        if (!(err instanceof StreamError)) throw err;
        note.textContent = `Streaming failed (${err.message}); asking for one reply.`;
      }
    }
    if (!streamed) {
      const data = await post("/generate", req, signal);
      renderReply(list, data);
      note.textContent = `${data.model} · seed ${data.seed} · ${data.samples.length} sample${data.samples.length === 1 ? "" : "s"}` +
        (note.textContent ? ` (one reply: ${note.textContent})` : "");
    }
  } catch (err) {
    if (signal.aborted) {
      note.textContent = "Stopped.";
      state = "stopped";
    } else {
      showError(form, err);
      state = "error";
    }
  } finally {
    for (const li of list.children) li.dataset.state = "done";
    setBusy(form, out, false);
    $("gen-stop").disabled = true;
    out.dataset.state = state;
    generateAbort = null;
  }
}

// ---- classify ----------------------------------------------------------

function percent(p) {
  return `${(100 * p).toFixed(p >= 0.1 ? 1 : 2)}%`;
}

async function onClassify(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const out = $("cls-output");
  clearErrors(form);
  $("cls-bars").replaceChildren();
  $("cls-note").textContent = "";
  const req = { model: $("cls-model").value, name: fieldValue(form, "name", "string") };
  const k = fieldValue(form, "top_k", "number");
  if (k !== undefined) req.top_k = k;
  setBusy(form, out, true);
  let state = "done";
  try {
    const data = await post("/classify", req);
    $("cls-note").textContent = `${data.model}: “${data.name}”`;
    for (const p of data.predictions) {
      const fill = el("div", { class: "bar-fill" });
      fill.style.width = `${Math.max(0, Math.min(1, p.probability)) * 100}%`;
      $("cls-bars").append(
        el("li", {},
          el("span", { class: "bar-label", text: p.label }),
          el("span", { class: "bar-track", "aria-hidden": "true" }, fill),
          el("span", { class: "bar-value", text: percent(p.probability) })));
    }
  } catch (err) {
    showError(form, err);
    state = "error";
  } finally {
    setBusy(form, out, false);
    out.dataset.state = state;
  }
}

async function onBatch(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const out = $("batch-output");
  clearErrors(form);
  const table = $("batch-table");
  table.tBodies[0].replaceChildren();
  table.hidden = true;
  // non-empty lines, remembering where each came from for error messages
  const lines = $("batch-names").value.split("\n");
  const names = [], lineNo = [];
  lines.forEach((l, i) => {
    if (l.trim() !== "") {
      names.push(l);
      lineNo.push(i + 1);
    }
  });
  setBusy(form, out, true);
  let state = "done";
  try {
    if (names.length === 0) throw new ApiError(400, { message: "give at least one name", field: "names" });
    const data = await post("/classify", { model: $("cls-model").value, names, top_k: 3 });
    for (const r of data.results) {
      const [best, ...rest] = r.predictions;
      table.tBodies[0].append(
        el("tr", {},
          el("th", { scope: "row", text: r.name }),
          el("td", { text: best ? best.label : "" }),
          el("td", { class: "num", text: best ? percent(best.probability) : "" }),
          el("td", { text: rest.map((p) => `${p.label} ${percent(p.probability)}`).join(", ") })));
    }
    table.hidden = false;
  } catch (err) {
    showError(form, err, (i) => lineNo[i] || i + 1);
    state = "error";
  } finally {
    setBusy(form, out, false);
    out.dataset.state = state;
  }
}

// ---- score -------------------------------------------------------------

const SURPRISE_MAX = 8; // nats: the top of the colour scale

// Light yellow (likely) to red (surprising); dark text reads on every step.
function surpriseColour(s) {
  const t = Math.max(0, Math.min(1, s / SURPRISE_MAX));
  const hue = 55 - 55 * t, sat = 90 - 10 * t, light = 93 - 31 * t;
  return `hsl(${hue.toFixed(1)}, ${sat.toFixed(1)}%, ${light.toFixed(1)}%)`;
}

async function onScore(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const out = $("score-output");
  clearErrors(form);
  const tokens = $("score-tokens");
  const tbody = $("score-table").tBodies[0];
  tokens.replaceChildren();
  tbody.replaceChildren();
  $("score-note").textContent = "";
  $("score-legend").hidden = true;
  $("score-details").hidden = true;
  const text = $("score-text").value;
  const req = { model: $("score-model").value, text, per_token: true };
  const category = fieldValue(form, "category", "string");
  if (category) req.category = category;
  setBusy(form, out, true);
  let state = "done";
  try {
    const data = await post("/score", req);
    const pieces = data.token_texts || [];
    const lps = data.token_log_probs || [];
    // a textlm's first token is the context, not scored: shown apart
    const joined = pieces.filter((p) => p !== "<eos>").join("");
    if (joined.length < text.length && text.endsWith(joined))
      tokens.append(el("span", { class: "ctx", title: "context: not scored", text: text.slice(0, text.length - joined.length) }));
    pieces.forEach((piece, i) => {
      const lp = lps[i] === null || lps[i] === undefined ? -Infinity : lps[i];
      const s = -lp;
      const p = Math.exp(lp);
      const eos = piece === "<eos>";
      const span = el("span", {
        class: eos ? "tok eos" : "tok",
        title: `${JSON.stringify(piece)}: p = ${percent(p)}, −ln p = ${s.toFixed(3)}`,
        "data-surprise": String(s),
        text: eos ? "end" : piece,
      });
      span.style.backgroundColor = surpriseColour(s);
      tokens.append(span);
      tbody.append(
        el("tr", {},
          el("td", { class: "num", text: String(i + 1) }),
          el("td", { text: JSON.stringify(piece) }),
          el("td", { class: "num", text: percent(p) }),
          el("td", { class: "num", text: s.toFixed(3) })));
    });
    const ppl = Math.exp(data.nll_per_token);
    $("score-note").textContent =
      `${data.model}${data.category ? ` (${data.category})` : ""}: log p = ${Number(data.log_prob).toFixed(3)} over ${data.tokens} tokens, ` +
      `${Number(data.nll_per_token).toFixed(3)} nats a token (perplexity ${ppl.toFixed(2)}). Hover or open the table for each token's p.`;
    $("score-legend").hidden = false;
    $("score-details").hidden = false;
  } catch (err) {
    showError(form, err);
    state = "error";
  } finally {
    setBusy(form, out, false);
    out.dataset.state = state;
  }
}

// ---- translate ---------------------------------------------------------

// Relative luminance (WCAG 2) of an hsl colour.
function luminance(h, s, l) {
  s /= 100;
  l /= 100;
  const f = (n) => {
    const k = (n + h / 30) % 12;
    const c = l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(0) + 0.7152 * f(8) + 0.0722 * f(4);
}

// White (no weight) to dark blue (all of it); the text black or white,
// whichever contrasts more (>= 4.5:1 on every shade).
function heatColour(w) {
  const t = Math.max(0, Math.min(1, w));
  const light = 97 - 67 * t;
  const y = luminance(212, 72, light);
  const onWhite = 1.05 / (y + 0.05), onBlack = (y + 0.05) / 0.05;
  return { bg: `hsl(212, 72%, ${light.toFixed(1)}%)`, fg: onWhite > onBlack ? "#ffffff" : "#000000" };
}

async function onTranslate(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const out = $("tr-output");
  clearErrors(form);
  const map = $("tr-heatmap");
  map.tHead.replaceChildren();
  map.tBodies[0].replaceChildren();
  map.hidden = true;
  $("tr-caption").hidden = true;
  $("tr-result").textContent = "";
  $("tr-note").textContent = "";
  const req = { model: $("tr-model").value, text: fieldValue(form, "text", "string"), attention: true };
  const beam = fieldValue(form, "beam_size", "number");
  if (beam !== undefined) req.beam_size = beam;
  if ($("tr-replace_unknown").checked) req.replace_unknown = true;
  setBusy(form, out, true);
  let state = "done";
  try {
    const data = await post("/translate", req);
    const best = data.translations[0];
    $("tr-result").textContent = best.text;
    $("tr-note").textContent = `${data.model} · log p = ${Number(best.log_prob).toFixed(3)}` +
      (best.finished ? "" : " · stopped at max_length") +
      (data.unknown_words ? ` · ${data.unknown_words} unknown word${data.unknown_words === 1 ? "" : "s"}` : "");
    const src = data.source_tokens;
    const rows = best.attention || [];
    const head = el("tr", {}, el("td", {}));
    for (const s of src) head.append(el("th", { scope: "col", text: s }));
    map.tHead.append(head);
    rows.forEach((row, i) => {
      const tr = el("tr", {}, el("th", { scope: "row", text: i < best.tokens.length ? best.tokens[i] : "<eos>" }));
      row.forEach((w, j) => {
        const c = heatColour(w);
        const td = el("td", { text: w.toFixed(2), title: `${best.tokens[i] || "<eos>"} ← ${src[j]}: ${w}` });
        td.style.backgroundColor = c.bg;
        td.style.color = c.fg;
        tr.append(td);
      });
      map.tBodies[0].append(tr);
    });
    map.hidden = rows.length === 0;
    $("tr-caption").hidden = map.hidden;
  } catch (err) {
    showError(form, err);
    state = "error";
  } finally {
    setBusy(form, out, false);
    out.dataset.state = state;
  }
}

// ---- start -------------------------------------------------------------

function start() {
  for (const t of tabs()) {
    t.addEventListener("click", () => selectTab(t, false));
    t.addEventListener("keydown", onTabKey);
  }
  $("gen-model").addEventListener("change", onGenerateModel);
  $("score-model").addEventListener("change", onScoreModel);
  $("form-generate").addEventListener("submit", onGenerate);
  $("gen-stop").addEventListener("click", () => generateAbort && generateAbort.abort());
  $("form-classify").addEventListener("submit", onClassify);
  $("form-batch").addEventListener("submit", onBatch);
  $("form-score").addEventListener("submit", onScore);
  $("form-translate").addEventListener("submit", onTranslate);
  for (const [id, s] of [["legend-0", 0], ["legend-2", 2], ["legend-4", 4], ["legend-6", 6], ["legend-8", 8]])
    $(id).style.backgroundColor = surpriseColour(s);
  loadModels();
}

start();
