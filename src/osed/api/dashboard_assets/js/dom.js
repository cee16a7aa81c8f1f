// Small DOM helpers: elements built from data (never from HTML text), number and time formats.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("td", {class: "num"}, "12"). */
export function h(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

/** A number with at most `digits` decimals, or a dash. */
export function num(value, digits = 3) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return Number(value).toLocaleString("en-GB", { maximumFractionDigits: digits });
}

export function pct(share, digits = 1) {
  return share === null || share === undefined ? "–" : `${num(share * 100, digits)} %`;
}

/** A time as UTC text without seconds when they are zero. */
export function utc(value) {
  if (value === null || value === undefined) return "–";
  const text = new Date(value).toISOString().replace(".000Z", "Z");
  return text.replace(/:00Z$/, "Z").replace("T", " ");
}

/** A table of `rows` with `columns` [{title, value(row), num?}]; `onRow` makes rows clickable. */
export function table(columns, rows, { onRow, empty = "none", key } = {}) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)));
  const body = rows.map((row) =>
    h(
      "tr",
      {
        class: onRow ? "clickable" : null,
        dataset: key ? { key: key(row) } : undefined,
        onclick: onRow ? () => onRow(row) : null,
      },
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.value(row))),
    ),
  );
  return h("table", { class: "rows" }, h("thead", {}, head), h("tbody", {}, body));
}

/** A definition list of [label, value] pairs. */
export function props(pairs) {
  return h("dl", { class: "props" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** The text of an error for a user: a problem's detail and each of its errors with its path. */
export function errorText(error) {
  if (error && error.problem) {
    const p = error.problem;
    const lines = [p.detail || p.title || `HTTP ${error.status}`];
    for (const item of p.errors || []) lines.push(`${item.path}: ${item.detail} (${item.code})`);
    return lines.join("\n");
  }
  return error && error.message ? error.message : String(error);
}
