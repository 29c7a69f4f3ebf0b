// phototag review page: plain JavaScript, no build step, nothing fetched from elsewhere.
// Every request carries this run's token: GET as ?token=, POST in the X-Phototag-Token header.
"use strict";

const TOKEN = document.querySelector('meta[name="phototag-token"]').content;
const $ = (id) => document.getElementById(id);
const view = {
  page: 1, pages: 1, cards: [], version: -1, focus: 0, selected: new Set(), anchor: null,
  info: null, polling: null,
};

// ------------------------------------------------------------------ talking to the server
function url(path, params = {}) {
  const query = new URLSearchParams({...params, token: TOKEN});
  return path + (path.includes("?") ? "&" : "?") + query.toString();
}

async function getJSON(path, params) {
  const response = await fetch(url(path, params));
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

async function post(path, body = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "X-Phototag-Token": TOKEN},
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function filters() {
  const params = {page: view.page};
  if ($("f-untagged").checked) params.untagged = "1";
  if ($("f-suggested").checked) params.suggested = "1";
  if ($("f-folder").value !== "*") params.folder = $("f-folder").value;
  if ($("f-tag").value.trim()) params.tag = $("f-tag").value.trim();
  if ($("f-text").value.trim()) params.q = $("f-text").value.trim();
  if ($("f-since").value) params.since = $("f-since").value;
  if ($("f-until").value) params.until = $("f-until").value;
  return params;
}

// ------------------------------------------------------------------ drawing
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function chip(card, suggestion, number) {
  const state = suggestion.state || "open";
  const main = el("button", {type: "button", class: "chip-main", title: `${suggestion.tag} — ${suggestion.source || "?"}; click: accept`},
    el("span", {class: "n", text: number <= 9 ? String(number) : ""}),
    el("span", {class: "tag", text: suggestion.tag}),
    el("span", {class: "score", text: typeof suggestion.score === "number" ? suggestion.score.toFixed(2) : ""}),
    el("span", {class: "source", text: suggestion.source || ""}));
  main.addEventListener("click", (event) => {
    event.stopPropagation();
    decide(card, suggestion.tag, state === "accept" ? "clear" : "accept");
  });
  const reject = el("button", {type: "button", class: "chip-x", title: "reject", text: "×"});
  reject.addEventListener("click", (event) => {
    event.stopPropagation();
    decide(card, suggestion.tag, state === "reject" ? "clear" : "reject");
  });
  // Coloured by the first source of a blend ("knn+cooc": knn).
  const source = (suggestion.source || "none").split("+")[0].replace(/[^a-z0-9-]/gi, "");
  return el("span", {class: `chip ${state} src-${source}`, "data-tag": suggestion.tag}, main, reject);
}

function addedChip(card, tag) {
  const remove = el("button", {type: "button", class: "chip-x", title: "remove", text: "×"});
  remove.addEventListener("click", (event) => { event.stopPropagation(); decide(card, tag, "clear"); });
  return el("span", {class: "chip accept typed", "data-tag": tag}, el("span", {class: "chip-main tag", text: tag}), remove);
}

function renderCard(card, index) {
  const image = el("img", {loading: "lazy", alt: card.name, src: url(card.thumb)});
  image.addEventListener("error", () => image.closest(".thumb").classList.add("broken"));
  image.addEventListener("load", () => { image.dataset.shown = String(performance.now()); });  // read by the benchmark
  const thumb = el("div", {class: "thumb", title: card.path}, image);
  const present = el("div", {class: "present"}, ...card.present.map((t) => el("span", {class: "pill", text: t})));
  const chips = el("div", {class: "chips"}, ...card.suggestions.map((s, i) => chip(card, s, i + 1)),
    ...card.added.map((t) => addedChip(card, t)));
  if (!card.suggested && !card.present.length && view.status && view.status.state === "working")
    chips.append(el("span", {class: "muted small", text: "suggestions coming…"}));
  const input = el("input", {class: "add", placeholder: "add a tag…", type: "text"});
  input.setAttribute("list", "vocabulary");
  input.addEventListener("keydown", (event) => {
    event.stopPropagation();
    if (event.key === "Enter" && input.value.trim()) {
      decide(card, input.value.trim(), "accept", true);
    } else if (event.key === "Escape") {
      input.blur();
      focusCard(index);
    }
  });
  const node = el("article", {class: "card", tabIndex: -1, "data-id": String(card.id)},
    thumb, el("div", {class: "meta"}, el("span", {class: "name", text: card.name, title: card.path}),
      card.taken ? el("span", {class: "taken", text: card.taken.slice(0, 10)}) : null), present, chips, input);
  node.classList.toggle("selected", view.selected.has(card.id));
  const pick = el("button", {type: "button", class: "pick", title: "select (Space)"});
  pick.setAttribute("aria-label", `select ${card.name}`);
  pick.addEventListener("click", (event) => { event.stopPropagation(); select(index, event.shiftKey); });
  thumb.append(pick);
  // A mouse click selects (double-click: large); a tap shows the photo large, holding it selects.
  thumb.addEventListener("click", (event) => {
    if (event.pointerType === "touch" || event.pointerType === "pen") openViewer(card);
    else select(index, event.shiftKey);
  });
  thumb.addEventListener("dblclick", () => openViewer(card));
  thumb.addEventListener("contextmenu", (event) => {
    if (event.pointerType !== "touch" && !view.touched) return;
    event.preventDefault();
    select(index, false);
  });
  thumb.addEventListener("pointerdown", (event) => { view.touched = event.pointerType === "touch"; });
  node.addEventListener("focus", () => { view.focus = index; markFocus(); });
  return node;
}

function render() {
  const grid = $("grid");
  grid.replaceChildren(...view.cards.map(renderCard));
  $("empty").hidden = view.cards.length > 0;
  // "page 2 of 9 · 1,734 photos"; on a phone "2/9 · 1,734"
  $("pageinfo").replaceChildren(el("span", {class: "wide", text: "page "}), String(view.page),
    el("span", {class: "wide", text: " of "}), el("span", {class: "narrow", text: "/"}), String(view.pages),
    ` · ${view.total.toLocaleString()}`, el("span", {class: "wide", text: " photos"}));
  $("pageinfo").title = `page ${view.page} of ${view.pages} · ${view.total.toLocaleString()} photos`;
  $("prev").disabled = view.page <= 1;
  $("next").disabled = view.page >= view.pages;
  markFocus();
  renderSelection();
}

function replaceCards(cards) {
  for (const card of cards) {
    const index = view.cards.findIndex((c) => c.id === card.id);
    if (index < 0) continue;
    view.cards[index] = card;
    const old = $("grid").children[index];
    const hadFocus = old.contains(document.activeElement);
    const fresh = renderCard(card, index);
    old.replaceWith(fresh);
    if (hadFocus) fresh.focus();
  }
  markFocus();
}

function renderStatus(status) {
  view.status = status;
  let text = "";
  if (status.state === "working" || status.state === "starting") {
    const total = status.total ? `/${status.total.toLocaleString()}` : "";
    text = `${status.task || "Starting"}… ${status.done.toLocaleString()}${total}`;
  } else if (status.state === "failed") {
    text = status.message;
  } else {
    text = "suggestions ready";
  }
  // Once ready, a phone shows only what is left to write.
  $("status").replaceChildren(status.state === "done" ? el("span", {class: "wide", text}) : text);
  if (status.to_write) {
    // Kept in the index as they were made: stopping the review loses none of them.
    const photos = status.to_write === 1 ? "1 photo" : `${status.to_write.toLocaleString()} photos`;
    const pending = el("span", {class: "pending", title: `${status.tags_to_write} accepted tag(s), kept:`
      + " stopping the review loses none; Write puts them into the sidecars"},
      el("span", {class: "wide", text: `${photos} not written yet`}),
      el("span", {class: "narrow", text: `${status.to_write.toLocaleString()} not written`}));
    $("status").append(status.state === "done" ? el("span", {class: "wide", text: " · "}) : " · ", pending);
  }
  $("status").classList.toggle("error", status.state === "failed");
  $("write").textContent = status.to_write ? `Write (${status.to_write})` : "Write";
  $("write").disabled = !status.to_write;
}

function markFocus() {
  [...$("grid").children].forEach((node, i) => node.classList.toggle("focused", i === view.focus));
}

function renderSelection() {
  const count = view.selected.size;
  $("bulk").hidden = count === 0;
  $("bulk-count").textContent = `${count} selected`;
  [...$("grid").children].forEach((node) => node.classList.toggle("selected", view.selected.has(Number(node.dataset.id))));
}

// ------------------------------------------------------------------ actions
async function load(keepFocus = false) {
  const data = await getJSON("/api/photos", filters());
  Object.assign(view, {page: data.page, pages: data.pages, total: data.total, cards: data.cards, version: data.status.version});
  const shown = new Set(view.cards.map((c) => c.id));
  view.selected = new Set([...view.selected].filter((id) => shown.has(id)));  // (a written photo may leave the grid)
  if (!keepFocus) view.focus = 0;
  view.focus = Math.min(view.focus, Math.max(0, view.cards.length - 1));
  renderStatus(data.status);
  render();
  document.body.dataset.loaded = String(Date.now());  // tests and benchmarks wait for this
  performance.mark("phototag-loaded");
}

function targets(card) {
  // A chip clicked on a selected photo counts for every selected photo.
  return view.selected.has(card.id) ? [...view.selected] : [card.id];
}

async function decide(card, tag, action, typed = false) {
  try {
    const data = await post("/api/decide", {ids: targets(card), tag, action});
    replaceCards(data.cards);
    renderStatus(data.status);
    if (typed) {
      const index = view.cards.findIndex((c) => c.id === card.id);
      const node = $("grid").children[index];
      if (node) node.querySelector("input.add").focus();
    }
  } catch (error) { showError(error); }
}

function select(index, range) {
  const id = view.cards[index].id;
  if (range && view.anchor !== null) {
    const [from, to] = [Math.min(view.anchor, index), Math.max(view.anchor, index)];
    for (let i = from; i <= to; i++) view.selected.add(view.cards[i].id);
  } else {
    if (view.selected.has(id)) view.selected.delete(id); else view.selected.add(id);
    view.anchor = index;
  }
  focusCard(index);
  renderSelection();
}

async function acceptSuggestions(cards) {
  // Every open or accepted suggestion of each photo, one request per tag.
  const byTag = new Map();
  for (const card of cards)
    for (const s of card.suggestions)
      if (s.state !== "reject") byTag.set(s.tag, [...(byTag.get(s.tag) || []), card.id]);
  let last = null;
  for (const [tag, ids] of byTag) last = await post("/api/decide", {ids, tag, action: "accept"});
  if (last) { await load(true); }
}

async function bulkAccept() {
  const tag = $("bulk-tag").value.trim();
  if (!tag || !view.selected.size) return;
  try {
    await post("/api/decide", {ids: [...view.selected], tag, action: "accept"});
    $("bulk-tag").value = "";
    await load(true);
  } catch (error) { showError(error); }
}

async function write() {
  try {
    const report = await post("/api/write");
    showResult("Written", report.summary, report.changes.map((c) => {
      const added = c.added.length ? `+ ${c.added.join(", ")} → ${c.sidecars.join(", ")}` : "nothing new";
      return `${c.path}: ${added}${c.skipped.length ? " — not written: " + c.skipped.join("; ") : ""}`;
    }), report.diff);
    await load(true);
  } catch (error) { showError(error); }
}

async function undo() {
  try {
    const report = await post("/api/undo");
    showResult(report.undone ? "Undone" : "Undo", report.summary, [...(report.restored || []), ...(report.kept || [])], "");
    await load(true);
  } catch (error) { showError(error); }
}

function showResult(title, summary, lines, diff) {
  $("result-title").textContent = title;
  $("result-summary").textContent = summary;
  $("result-list").replaceChildren(...lines.map((line) => el("li", {text: line})));
  $("result-diff").hidden = !diff;
  $("result-diff").textContent = diff || "";
  $("result").showModal();
}

function showError(error) {
  showResult("Error", String(error.message || error), [], "");
}

function openViewer(card) {
  $("viewer-img").src = url(`/photo/${card.id}`);
  $("viewer-name").textContent = card.path;
  $("viewer").showModal();
}

function focusCard(index) {
  if (!view.cards.length) return;
  view.focus = Math.max(0, Math.min(index, view.cards.length - 1));
  const node = $("grid").children[view.focus];
  node.focus({preventScroll: true});
  node.scrollIntoView({block: "nearest"});
  markFocus();
}

function columns() {
  return getComputedStyle($("grid")).gridTemplateColumns.split(" ").length || 1;
}

function goto(page) {
  if (page < 1 || page > view.pages) return;
  view.page = page;
  view.selected.clear();
  load().then(() => window.scrollTo(0, 0));
}

// ------------------------------------------------------------------ keyboard
function onKey(event) {
  if (document.querySelector("dialog[open]")) return;
  const tag = event.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
  const card = view.cards[view.focus];
  const digit = /^Digit([1-9])$/.exec(event.code);
  const moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns()};
  if (event.key in moves) {
    focusCard(view.focus + moves[event.key]);
  } else if (digit && card && !event.ctrlKey && !event.metaKey && !event.altKey) {
    const suggestion = card.suggestions[Number(digit[1]) - 1];
    if (!suggestion) return;
    const action = event.shiftKey ? (suggestion.state === "reject" ? "clear" : "reject")
      : (suggestion.state === "accept" ? "clear" : "accept");
    decide(card, suggestion.tag, action);
  } else if ((event.ctrlKey || event.metaKey) && event.key === "a") {
    view.cards.forEach((c) => view.selected.add(c.id));
    renderSelection();
  } else if (event.ctrlKey || event.metaKey || event.altKey) {
    return;
  } else if (event.key === "a" && card) {
    acceptSuggestions(view.selected.size ? view.cards.filter((c) => view.selected.has(c.id)) : [card]);
  } else if (event.key === " " && card) {
    select(view.focus, false);
  } else if (event.key === "t" && card) {
    $("grid").children[view.focus].querySelector("input.add").focus();
  } else if (event.key === "Enter" && card) {
    openViewer(card);
  } else if (event.key === "Escape") {
    view.selected.clear();
    renderSelection();
  } else if (event.key === "n" || event.key === "PageDown") {
    goto(view.page + 1);
  } else if (event.key === "p" || event.key === "PageUp") {
    goto(view.page - 1);
  } else if (event.key === "w") {
    write();
  } else if (event.key === "u") {
    undo();
  } else if (event.key === "?") {
    $("help").showModal();
  } else {
    return;
  }
  event.preventDefault();
}

// ------------------------------------------------------------------ start
async function poll() {
  try {
    const status = await getJSON("/api/status");
    const typing = document.activeElement && document.activeElement.tagName === "INPUT";
    if (status.version !== view.version && !typing) await load(true);
    else renderStatus(status);
    if (status.state === "done" || status.state === "failed") {
      if (status.version === view.version) { clearInterval(view.polling); view.polling = null; }
    }
  } catch (error) { /* the server stopped: leave the page as it is */ }
}

async function start() {
  const info = await getJSON("/api/info");
  view.info = info;
  $("root").textContent = info.root + (info.dry_run ? " (dry run: nothing is written)" : "");
  $("f-untagged").checked = info.untagged_default;
  $("vocabulary").replaceChildren(...info.vocabulary.map((v) => el("option", {value: v.tag, text: `${v.tag} (${v.count})`})));
  $("f-folder").append(...info.folders.map((f) => el("option", {value: f.folder, text: `${f.folder || "(top folder)"} (${f.count})`})));
  for (const id of ["f-untagged", "f-suggested", "f-folder"]) $(id).addEventListener("change", () => goto1());
  for (const id of ["f-tag", "f-text", "f-since", "f-until"]) $(id).addEventListener("change", () => goto1());
  $("prev").addEventListener("click", () => goto(view.page - 1));
  $("next").addEventListener("click", () => goto(view.page + 1));
  $("write").addEventListener("click", write);
  $("undo").addEventListener("click", undo);
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("filters-button").addEventListener("click", () => {
    const open = $("top").classList.toggle("filters-open");
    $("filters-button").setAttribute("aria-expanded", String(open));
  });
  markFilters();
  $("bulk-accept").addEventListener("click", bulkAccept);
  $("bulk-tag").addEventListener("keydown", (event) => { if (event.key === "Enter") bulkAccept(); });
  $("bulk-top").addEventListener("click", () => acceptSuggestions(view.cards.filter((c) => view.selected.has(c.id))));
  $("bulk-clear").addEventListener("click", () => { view.selected.clear(); renderSelection(); });
  for (const button of document.querySelectorAll("dialog .close"))
    button.addEventListener("click", () => button.closest("dialog").close());
  $("viewer").addEventListener("click", () => $("viewer").close());
  document.addEventListener("keydown", onKey);
  await load();
  view.polling = setInterval(poll, 1500);
}

function markFilters() {
  // The Filters button (narrow screens) says how many filters are on.
  const on = Object.keys(filters()).filter((key) => key !== "page").length;
  $("filters-button").textContent = on ? `Filters (${on})` : "Filters";
  $("filters-button").classList.toggle("active", on > 0);
}

function goto1() {
  markFilters();
  view.page = 1;
  view.selected.clear();
  load();
}

start().catch(showError);
