
(() => {
  "use strict";
  const all = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const form = document.getElementById("filters");
  const dialog = document.getElementById("detail");
  const cells = all("td[data-decision]");
  const boxes = all("input[type=checkbox]", form);
  const picked = (name) => new Set(boxes.filter((b) => b.name === name && b.checked)
    .map((b) => b.value));

  function apply() {
    const lens = picked("lens"), decision = picked("decision"), state = picked("state");
    const filtering = boxes.some((b) => !b.checked);
    const notes = new Set(), gates = new Set();
    let shown = 0;
    for (const td of cells) {
      const d = td.dataset;
      const ok = lens.has(d.lens) && decision.has(d.decision) && state.has(d.state);
      td.classList.toggle("off", !ok);
      if (ok) { shown += 1; notes.add(d.note); gates.add(d.gate); }
    }
    for (const tr of all("tbody tr[data-note]")) {
      tr.hidden = filtering && !notes.has(tr.dataset.note);
    }
    const perLens = {};
    for (const el of all("#matrix [data-gate]")) {
      const hide = filtering && !gates.has(el.dataset.gate);
      el.classList.toggle("x", hide);
      const lens = el.dataset.lens;
      if (el.tagName === "TH" && !hide) perLens[lens] = (perLens[lens] || 0) + 1;
    }
    for (const th of all("th[data-lens-head]")) {
      const n = perLens[th.dataset.lensHead] || 0;
      th.classList.toggle("x", n === 0);
      if (n) th.colSpan = n;
    }
    const out = document.getElementById("shown");
    const total = cells.length + (cells.length === 1 ? " pair" : " pairs");
    out.value = filtering ? shown + " of " + total + " shown" : total;
  }

  function preset(name) {
    for (const b of boxes) {
      if (name === "stale" && b.name === "state") b.checked = b.value !== "fresh";
      else if (name === "attention" && b.name === "decision") {
        b.checked = ["warn", "fail", "error"].includes(b.value);
      } else b.checked = true;
    }
    apply();
  }

  function open(td) {
    const source = document.getElementById(td.querySelector("a").hash.slice(1));
    const copy = source.cloneNode(true);
    copy.removeAttribute("id");
    copy.querySelector("h3").id = "detail-title";
    document.getElementById("detail-body").replaceChildren(copy);
    if (!dialog.open) dialog.showModal();
    try {
      const key = td.dataset.note + "::" + td.dataset.gate;
      history.replaceState(null, "", "#cell=" + encodeURIComponent(key));
    } catch (e) { /* some file:// setups refuse; the dialog is open anyway */ }
  }

  function fromHash() {
    const m = /^#cell=(.+)$/.exec(location.hash);
    if (!m) return;
    let key;
    try { key = decodeURIComponent(m[1]); } catch (e) { return; }
    const at = key.lastIndexOf("::");
    const note = key.slice(0, at), gate = key.slice(at + 2);
    const td = cells.find((c) => c.dataset.note === note && c.dataset.gate === gate);
    if (td) open(td);
  }

  const box = document.getElementById("filter-box");
  box.hidden = false;
  if (matchMedia("(max-width: 40rem)").matches) box.open = false;
  document.getElementById("pairs").open = false;  // open for readers without script
  form.addEventListener("change", apply);
  for (const b of all("button[data-preset]", form)) {
    b.addEventListener("click", () => preset(b.dataset.preset));
  }
  document.getElementById("matrix").addEventListener("click", (event) => {
    const a = event.target.closest("td[data-decision] a");
    if (!a) return;
    event.preventDefault();
    open(a.closest("td"));
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog || event.target.closest("[data-close]")) dialog.close();
  });
  dialog.addEventListener("close", () => {
    try {
      history.replaceState(null, "", location.pathname + location.search);
    } catch (e) { /* as above */ }
  });
  window.addEventListener("hashchange", fromHash);
  apply();
  fromHash();
})();
