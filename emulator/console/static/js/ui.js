// Small DOM helpers shared by the pages: element builder, copyable values, sparklines, form dialogs
// whose errors appear under the field the API names, and the page banner.

let uid = 0;

/** h("div.card", {attrs}, ...children): an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled, read-only, selectable value with a Copy button (label text is its accessible name). */
export function copyable(label, value, attrs = {}) {
  const id = nextId("copy");
  const input = h("input", { id, readonly: true, value: value || "", "aria-label": label, ...attrs });
  input.value = value || "";
  const button = h(
    "button",
    {
      type: "button",
      "aria-label": `Copy ${label}`,
      onclick: async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(input.value);
          button.textContent = "Copied";
        } catch {
          // Clipboard needs a secure context or a permission: the value is selected for Ctrl-C.
          button.textContent = "Selected";
        }
        setTimeout(() => (button.textContent = "Copy"), 1500);
      },
    },
    "Copy",
  );
  return h("span.copy", {}, input, button);
}

/** A sparkline (SVG) of the samples, scaled to their maximum. */
export function sparkline(samples, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 160 28");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const values = (samples || []).slice(-60);
  if (values.length > 1) {
    const max = Math.max(...values, 1);
    const step = 160 / 59;
    const x0 = 160 - step * (values.length - 1);
    const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(27 - (v / max) * 25).toFixed(1)}`);
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("class", "area");
    area.setAttribute("points", `${x0.toFixed(1)},28 ${pts.join(" ")} 160,28`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(area, line);
  }
  return svg;
}

export function kbps(value) {
  if (value === undefined || value === null) return "-";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} Mbps` : `${Math.round(value)} kbps`;
}

export function badge(text, cls) {
  return h(`span.badge.${cls || String(text).toLowerCase().replace(/[^a-z]/g, "")}`, {}, text);
}

/** Show an error (or info) line at the top of the page; "" hides it. */
export function banner(text, kind = "error") {
  const el = document.getElementById("banner");
  el.textContent = text || "";
  el.className = kind === "info" ? "banner info" : "banner";
  el.hidden = !text;
}

/**
 * A modal form dialog. `fields`: [{name (API parameter), label, type, options, value, optional, hint,
 * show(values) -> bool}]. `submit(values)` calls the API; an ApiError shows under the field whose
 * `name` it names (else under the form). Resolves with submit's result, or null when cancelled.
 */
export function formDialog({ title, fields, submit, drawer = false, okText = "OK", text = "" }) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const inputs = {};
    const errors = {};
    const rows = {};
    const general = h("div.error", { role: "alert" });
    const values = () => {
      const out = {};
      for (const f of fields) if (rows[f.name].hidden === false) out[f.name] = inputs[f.name].value;
      return out;
    };
    const refresh = () => {
      const current = {};
      for (const f of fields) current[f.name] = inputs[f.name].value;
      for (const f of fields) rows[f.name].hidden = f.show ? !f.show(current) : false;
      for (const f of fields) if (f.relabel) rows[f.name].querySelector("label span").textContent = f.relabel(current);
    };
    const body = fields.map((f) => {
      const id = nextId("f");
      const errId = `${id}-err`;
      let input;
      if (f.options) {
        input = h("select", { id, name: f.name, "aria-describedby": errId, onchange: refresh });
        for (const o of f.options) {
          const [value, text] = Array.isArray(o) ? o : [o, o];
          input.append(h("option", { value }, text));
        }
        if (f.value !== undefined) input.value = f.value;
      } else {
        input = h("input", {
          id,
          name: f.name,
          type: f.type || "text",
          placeholder: f.placeholder,
          autocomplete: "off",
          "aria-describedby": errId,
          oninput: refresh,
        });
        if (f.value !== undefined) input.value = f.value;
      }
      inputs[f.name] = input;
      errors[f.name] = h("div.error", { id: errId, role: "alert" });
      const label = h(
        "div.labelrow",
        {},
        h("label", { for: id }, h("span", {}, f.label)),
        f.optional ? h("span.opt", {}, "(Optional)") : null,
      );
      rows[f.name] = h("div.field", {}, label, input, f.hint ? h("p.hint", {}, f.hint) : null, errors[f.name]);
      return rows[f.name];
    });
    const ok = h("button.primary", { type: "submit" }, okText);
    const cancel = h("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
    const form = h(
      "form.form",
      { novalidate: true },
      h("h2", { id: titleId }, title),
      text ? h("p", {}, text) : null,
      ...body,
      general,
      h("div.buttons", {}, ok, cancel),
    );
    const dialog = h(drawer ? "dialog.drawer" : "dialog", { "aria-labelledby": titleId }, form);
    let result = null;
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      for (const f of fields) {
        errors[f.name].textContent = "";
        inputs[f.name].removeAttribute("aria-invalid");
      }
      general.textContent = "";
      ok.disabled = true;
      try {
        result = await submit(values());
        dialog.close();
      } catch (exc) {
        const target = fields.find((f) => f.name === exc.field && !rows[f.name].hidden);
        const text = exc.text || String(exc);
        if (target) {
          errors[target.name].textContent = text;
          inputs[target.name].setAttribute("aria-invalid", "true");
          inputs[target.name].focus();
        } else {
          general.textContent = text;
        }
      } finally {
        ok.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    refresh();
    dialog.showModal();
    (fields.length ? inputs[fields[0].name] : ok).focus();
  });
}

/** Tabs (role=tablist): [{id, label, render(panel)}]; returns {el, select(id)}. */
export function tabs(items, selected, onSelect) {
  const list = h("div.tabs", { role: "tablist" });
  const panels = h("div");
  const buttons = {};
  const select = (id) => {
    for (const item of items) {
      const on = item.id === id;
      buttons[item.id].setAttribute("aria-selected", on ? "true" : "false");
      buttons[item.id].tabIndex = on ? 0 : -1;
      item.panel.hidden = !on;
    }
    onSelect(id);
  };
  items.forEach((item, i) => {
    const tabId = nextId("tab");
    item.panel = h("div", { role: "tabpanel", "aria-labelledby": tabId, "data-tab": item.id });
    buttons[item.id] = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: tabId,
        onclick: () => select(item.id),
        onkeydown: (ev) => {
          const step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
          if (!step) return;
          const next = items[(i + step + items.length) % items.length];
          select(next.id);
          buttons[next.id].focus();
        },
      },
      item.label,
    );
    list.append(buttons[item.id]);
    panels.append(item.panel);
  });
  select(selected);
  return { el: h("div", {}, list, panels), select, items };
}
