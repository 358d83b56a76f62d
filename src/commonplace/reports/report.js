
(() => {
  "use strict";
  const all = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  };
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const form = document.getElementById("filters");
  const dialog = document.getElementById("detail");
  const boxes = all("input[type=checkbox]", form);
  const gates = D.gates.map(([id, description]) => ({
    id, description, lens: id.slice(0, id.lastIndexOf("/")),
  }));
  const codes = D.codes.map(([d, s]) => ({decision: D.decisions[d], state: D.states[s]}));
  const codeOf = (ch) => (ch === "-" ? -1 : ch < "A" ? ch.charCodeAt(0) - 48
    : ch <= "Z" ? ch.charCodeAt(0) - 55 : ch <= "z" ? ch.charCodeAt(0) - 61
      : ch.charCodeAt(0) - 0xC0);
  const reviews = new Map(D.reviews.map((r) => [r[0] * gates.length + r[1], r]));
  const noteIndex = new Map(D.notes.map((n, i) => [n, i]));
  const gateIndex = new Map(gates.map((g, i) => [g.id, i]));
  const table = document.querySelector("#matrix table");
  const picked = (name) => new Set(boxes.filter((b) => b.name === name && b.checked)
    .map((b) => b.value));
  const view = {rows: [], gates: [], ok: []};
  const live = new Map();  // position in view.rows -> its rendered row
  let scroller, tbody, topPad, bottomPad, rowHeight = 40;

  function apply() {
    const lens = picked("lens"), decision = picked("decision"), state = picked("state");
    const filtering = boxes.some((b) => !b.checked);
    const codeOk = codes.map((c) => decision.has(c.decision[0]) && state.has(c.state[0]));
    const gateLens = gates.map((g) => lens.has(g.lens));
    const gateUsed = gates.map(() => false);
    const rows = [];
    let shown = 0;
    D.rows.forEach((row, n) => {
      let any = false;
      for (let g = 0; g < row.length; g++) {
        const code = codeOf(row[g]);
        if (code >= 0 && codeOk[code] && gateLens[g]) { any = true; gateUsed[g] = true; shown++; }
      }
      if (any || !filtering) rows.push(n);
    });
    view.rows = rows;
    view.gates = gates.map((_, g) => g).filter((g) => !filtering || gateUsed[g]);
    view.ok = (code, g) => codeOk[code] && gateLens[g];
    if (table) {
      const perLens = {};
      for (const th of all("th.g", table)) {
        const hide = filtering && !gateUsed[gateIndex.get(th.dataset.gate)];
        th.classList.toggle("x", hide);
        if (!hide) perLens[th.dataset.lens] = (perLens[th.dataset.lens] || 0) + 1;
      }
      for (const th of all("th[data-lens-head]", table)) {
        const n = perLens[th.dataset.lensHead] || 0;
        th.classList.toggle("x", n === 0);
        if (n) th.colSpan = n;
      }
      for (const pad of [topPad, bottomPad]) pad.firstChild.colSpan = view.gates.length + 1;
      paint(true);
    }
    const total = D.pairs + (D.pairs === 1 ? " pair" : " pairs");
    document.getElementById("shown").value = filtering
      ? shown + " of " + total + " shown" : total;
  }

  function makeRow(n) {
    const note = D.notes[n], row = D.rows[n];
    const slash = note.lastIndexOf("/");
    const name = note.slice(slash + 1).replace(/\.md$/, "");
    const head = el("th", {scope: "row", title: note});
    if (slash >= 0) head.append(el("span", {class: "dir"}, note.slice(0, slash + 1)));
    head.append(el("span", {class: "name"}, name));
    const tr = el("tr", {"data-note": note}, head);
    for (const g of view.gates) {
      const gate = gates[g], code = codeOf(row[g]);
      if (code < 0) {
        tr.append(el("td", {class: "na", "data-gate": gate.id, "data-lens": gate.lens}));
        continue;
      }
      const [decision, symbol, dwords] = codes[code].decision;
      const [state, mark] = codes[code].state;
      const words = dwords + ", " + state;
      const link = el("a", {
        href: "#cell=" + encodeURIComponent(note + "::" + gate.id),
        "aria-label": note + ", " + gate.id + ": " + words,
        title: gate.id + ": " + words,
      }, symbol);
      if (mark) link.append(el("span", {class: "m", "aria-hidden": "true"}, mark));
      const off = view.ok(code, g) ? "" : " off";
      tr.append(el("td", {
        class: "c d-" + decision + (state === "fresh" ? "" : " stale") + off,
        "data-note": note, "data-gate": gate.id, "data-lens": gate.lens,
        "data-decision": decision, "data-state": state,
      }, link));
    }
    return tr;
  }

  function range() {
    const top = Math.max(0, scroller.scrollTop - table.tHead.offsetHeight);
    const first = Math.floor(top / rowHeight);
    const count = Math.ceil(scroller.clientHeight / rowHeight) + 1;
    return [Math.max(0, first - 10), Math.min(view.rows.length, first + count + 10)];
  }

  // Only the rows on screen (and a few around) are in the DOM; two padding
  // rows stand for the others. Rows that stay in range are kept, so a focused
  // cell keeps its focus while the matrix scrolls.
  function paint(rebuild) {
    if (rebuild) { for (const tr of live.values()) tr.remove(); live.clear(); }
    const [a, b] = range();
    for (const [i, tr] of live) if (i < a || i >= b) { tr.remove(); live.delete(i); }
    let previous = topPad;
    for (let i = a; i < b; i++) {
      let tr = live.get(i);
      if (!tr) { tr = makeRow(view.rows[i]); live.set(i, tr); previous.after(tr); }
      previous = tr;
    }
    topPad.firstChild.style.height = a * rowHeight + "px";
    bottomPad.firstChild.style.height = (view.rows.length - b) * rowHeight + "px";
    const measured = live.size ? live.get(a).getBoundingClientRect().height : rowHeight;
    if (measured > 0 && Math.abs(measured - rowHeight) > 0.5) {
      rowHeight = measured;
      paint(false);
    }
  }

  function showRow(pos) {
    const top = table.tHead.offsetHeight + pos * rowHeight;
    const visible = scroller.clientHeight - table.tHead.offsetHeight;
    if (top < scroller.scrollTop + table.tHead.offsetHeight) {
      scroller.scrollTop = top - table.tHead.offsetHeight;
    } else if (top + rowHeight > scroller.scrollTop + table.tHead.offsetHeight + visible) {
      scroller.scrollTop = top + rowHeight - visible - table.tHead.offsetHeight;
    }
    paint(false);
    return live.get(pos);
  }

  function move(td, key) {
    const tr = td.closest("tr");
    let pos = [...live].find(([, row]) => row === tr)[0];
    let col = Array.prototype.indexOf.call(tr.cells, td);
    const step = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1],
      PageUp: [-10, 0], PageDown: [10, 0], Home: [0, -1e9], End: [0, 1e9]}[key];
    pos = Math.max(0, Math.min(view.rows.length - 1, pos + step[0]));
    col = Math.max(1, Math.min(view.gates.length, col + step[1]));
    const target = showRow(pos).cells[col];
    (target.querySelector("a") || target).focus();
  }

  function text(i) { return D.texts[i]; }

  function chip(kind, entry) {
    const [key, symbol] = entry;
    const cls = kind === "d" ? "sw d-" + key : "sw s" + (entry[3] ? "" : " stale");
    return el("span", {class: cls, "aria-hidden": "true"}, symbol);
  }

  function facts(pairs) {
    const dl = el("dl", {class: "facts"});
    for (const [k, v] of pairs) dl.append(el("dt", {}, k), el("dd", {}, ...v));
    return dl;
  }

  function detail(n, g) {
    const gate = gates[g], note = D.notes[n];
    const code = codes[codeOf(D.rows[n][g])];
    const review = reviews.get(n * gates.length + g);
    const code1 = (t) => el("code", {}, t);
    const title = el("h3", {id: "detail-title"}, chip("d", code.decision), " ",
      code.decision[2], " ", code1(gate.id), " on ", code1(note));
    const [state, , why] = code.state;
    const body = [title,
      el("p", {class: "why"}, chip("s", code.state), " " + state + (why ? ": " + why : ""))];
    const checks = gate.description ? [["Gate checks", [gate.description]]] : [];
    if (!review) {
      body.push(facts(checks), el("p", {},
        "No review of a note against this gate has been accepted in this partition."));
      return el("article", {class: "pair", "data-note": note, "data-gate": gate.id}, ...body);
    }
    const [, , rationale, findings, model, at, kind, gateReview, run, sha, acceptedFor] = review;
    const shown = [code1(sha)];
    if (acceptedFor) shown.push(", accepted for ", code1(acceptedFor));
    const when = text(at);
    body.push(facts([
      ["Partition", [code1(text(model))]],
      ["Reviewed", [el("time", {datetime: when},
        when.endsWith("Z") ? when.replace("T", " ").slice(0, 16) + " UTC" : when)]],
      ["Acceptance", [text(kind)]],
      ["Review", ["gate review #" + gateReview + ", run #" + run]],
      ["Reviewed note", shown],
      ...checks,
    ]));
    const items = D.findings[findings].map(([sev, t]) =>
      el("li", {}, el("span", {class: "sev"}, text(sev)), " " + text(t)));
    body.push(el("h4", {}, "Findings"),
      items.length ? el("ul", {class: "findings"}, ...items) : el("p", {}, "No findings."),
      el("h4", {}, "Rationale"), el("pre", {class: "rationale"}, text(rationale)));
    return el("article", {class: "pair", "data-note": note, "data-gate": gate.id}, ...body);
  }

  function open(n, g) {
    if (n === undefined || g === undefined || codeOf(D.rows[n][g]) < 0) return false;
    document.getElementById("detail-body").replaceChildren(detail(n, g));
    if (!dialog.open) dialog.showModal();
    try {
      history.replaceState(null, "", "#cell=" + encodeURIComponent(D.notes[n] + "::"
        + gates[g].id));
    } catch (e) { /* some file:// setups refuse; the dialog is open anyway */ }
    return true;
  }

  function fromHash() {
    const m = /^#cell=(.+)$/.exec(location.hash);
    if (!m) return;
    let key;
    try { key = decodeURIComponent(m[1]); } catch (e) { return; }
    const at = key.lastIndexOf("::");
    const n = noteIndex.get(key.slice(0, at)), g = gateIndex.get(key.slice(at + 2));
    const pos = view.rows.indexOf(n);
    if (pos >= 0 && table) showRow(pos);
    open(n, g);
  }

  const box = document.getElementById("filter-box");
  box.hidden = false;
  if (matchMedia("(max-width: 40rem)").matches) box.open = false;
  if (table) {
    scroller = table.parentElement;
    tbody = table.tBodies[0];
    const pad = () => el("tr", {class: "pad", "aria-hidden": "true"},
      el("td", {colspan: String(gates.length + 1)}));
    topPad = pad();
    bottomPad = pad();
    tbody.append(topPad, bottomPad);
    let queued = false;
    const later = () => {
      if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; paint(false); }); }
    };
    scroller.addEventListener("scroll", later, {passive: true});
    window.addEventListener("resize", later);
    table.addEventListener("click", (event) => {
      const a = event.target.closest("td[data-decision] a");
      if (!a) return;
      event.preventDefault();
      const td = a.closest("td");
      open(noteIndex.get(td.dataset.note), gateIndex.get(td.dataset.gate));
    });
    table.addEventListener("keydown", (event) => {
      const td = event.target.closest("tbody td");
      if (!td || event.altKey || event.ctrlKey || event.metaKey) return;
      if (!["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "PageUp", "PageDown", "Home",
        "End"].includes(event.key)) return;
      event.preventDefault();
      move(td, event.key);
    });
  }
  form.addEventListener("change", apply);
  for (const b of all("button[data-preset]", form)) {
    b.addEventListener("click", () => {
      for (const c of boxes) {
        if (b.dataset.preset === "stale" && c.name === "state") c.checked = c.value !== "fresh";
        else if (b.dataset.preset === "attention" && c.name === "decision") {
          c.checked = ["warn", "fail", "error"].includes(c.value);
        } else c.checked = true;
      }
      apply();
    });
  }
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
