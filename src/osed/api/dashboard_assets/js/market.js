// The market view: what each delivery interval cleared at (prices and volumes, public), and
// for a participant its own positions, transactions and open tenders, with a form to tender.

import { h, clear, num, table, errorText, utc } from "./dom.js";
import { TimeChart } from "./chart.js";
import { randomText } from "./auth.js";

const TRADING = ["participant", "operator", "admin"];

export async function marketView(ctx, root) {
  const listed = ctx.config.served.markets ? await ctx.api.get("/markets") : null;
  if (!listed || !listed.items.length) {
    root.append(h("div", { class: "panel" }, h("p", {}, "This API serves no market.")));
    return;
  }
  const picker = h("select", { id: "market-picker", "aria-label": "market" },
    listed.items.map((m) => h("option", { value: m.market_id }, m.market_id)));
  const host = h("div");
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Market"), picker), host);
  const show = () => marketPanel(ctx, host, listed.items.find((m) => m.market_id === picker.value));
  picker.addEventListener("change", show);
  await show();
}

async function marketPanel(ctx, host, market) {
  clear(host);
  const trades = ctx.me.roles.some((role) => TRADING.includes(role));
  const priceBox = h("div", { class: "panel" }, h("h2", {}, "Clearing prices and volumes"));
  const own = h("div", { class: "stack" });
  host.append(h("p", { class: "muted" },
    `${market.mechanism}${market.continuous ? " (continuous)" : ""} · ${market.currency} · ` +
      `delivery intervals of ${market.interval_s ? `${market.interval_s / 60} min` : "any length"} · ` +
      `open intervals: ${market.open_intervals.length}`),
  h("div", { class: "grid2e" }, priceBox, own));

  const priceChart = new TimeChart(h("div"), { unit: `${market.currency} per unit` });
  const volumeChart = new TimeChart(h("div"), { unit: "volume" });
  const clearingTable = h("div", { class: "scroll" });
  priceBox.append(h("h3", {}, "Mean price"), priceChart.host, h("h3", {}, "Volume"), volumeChart.host, clearingTable);
  const clearings = async () => {
    const answer = await ctx.api.get(`/markets/${encodeURIComponent(market.market_id)}/clearings`);
    const items = answer.items;
    const at = (row) => Date.parse(row.interval.start);
    priceChart.setSeries([
      { name: "mean price", points: items.filter((r) => r.price_mean !== null).map((r) => [at(r), r.price_mean]) },
      { name: "lowest", points: items.map((r) => [at(r), r.price_min]) },
      { name: "highest", points: items.map((r) => [at(r), r.price_max]) },
    ]);
    volumeChart.setSeries([{ name: "volume", points: items.map((r) => [at(r), r.volume]) }]);
    clear(clearingTable).append(table([
      { title: "delivery", value: (r) => utc(r.interval.start) },
      { title: "trades", value: (r) => r.trades, num: true },
      { title: "volume", value: (r) => num(r.volume, 3), num: true },
      { title: "mean price", value: (r) => num(r.price_mean, 4), num: true },
    ], [...items].reverse(), { empty: "Nothing has traded yet." }));
  };

  if (!trades) {
    own.append(h("div", { class: "panel" }, h("p", { class: "muted" },
      "Positions, transactions and tendering are for market participants.")));
    await clearings();
    ctx.onEvent("market.transaction", clearings);
    return;
  }
  const base = `/markets/${encodeURIComponent(market.market_id)}`;
  const party = ctx.me.party;
  const positionsBox = h("div", { class: "panel", id: "positions" }, h("h2", {}, party ? `Positions of ${party}` : "Positions"));
  const tendersBox = h("div", { class: "panel", id: "tenders" }, h("h2", {}, "Open tenders"));
  const transactionsBox = h("div", { class: "panel", id: "transactions" }, h("h2", {}, "Transactions"));
  own.append(tenderForm(ctx, market, async () => { await Promise.all([mine(), clearings()]); }), positionsBox, tendersBox, transactionsBox);

  const fill = (box, body) => {
    const title = box.querySelector("h2");
    clear(box).append(title, h("div", { class: "scroll" }, body));
  };
  const quantity = (row) => num(row.quantity / 10 ** row.quantity_scale, row.quantity_scale);
  const mine = async () => {
    const [positions, tenders, transactions] = await Promise.all([
      ctx.api.all(`${base}/positions`, { limit: 1000 }),
      ctx.api.all(`${base}/tenders`, { limit: 1000 }),
      ctx.api.all(`${base}/transactions`, { limit: 1000 }),
    ]);
    fill(positionsBox, table([
      { title: "party", value: (r) => r.party_id },
      { title: "delivery", value: (r) => utc(r.interval.start) },
      { title: "position", value: quantity, num: true },
    ], positions, { key: (r) => `${r.party_id}/${r.interval.start}`, empty: "No position yet." }));
    fill(tendersBox, table([
      { title: "tender", value: (r) => r.tender_id },
      { title: "side", value: (r) => r.side },
      { title: "delivery", value: (r) => utc(r.interval.start) },
      { title: "price", value: (r) => num(r.price / 10 ** r.price_scale, r.price_scale), num: true },
      { title: "open", value: quantity, num: true },
      { title: "", value: (r) => h("button", { type: "button", onclick: () => cancel(r.tender_id) }, "Cancel") },
    ], tenders, { empty: "No open tender." }));
    fill(transactionsBox, table([
      { title: "#", value: (r) => r.seq, num: true },
      { title: "party", value: (r) => r.party_id },
      { title: "side", value: (r) => r.side },
      { title: "delivery", value: (r) => utc(r.interval.start) },
      { title: "price", value: (r) => num(r.price / 10 ** r.price_scale, r.price_scale), num: true },
      { title: "quantity", value: quantity, num: true },
    ], [...transactions].reverse(), { empty: "No transaction yet." }));
  };
  const cancel = async (tenderId) => {
    try {
      await ctx.api.request("DELETE", `${base}/tenders/${encodeURIComponent(tenderId)}`);
    } catch (error) {
      ctx.notify(errorText(error));
    }
    await mine();
  };
  await Promise.all([clearings(), mine()]);
  ctx.onEvent("market.transaction", () => Promise.all([mine(), clearings()]));
}

function tenderForm(ctx, market, after) {
  const intervals = h("datalist", { id: "open-intervals" }, market.open_intervals.map((key) => h("option", { value: key })));
  const side = h("select", { name: "side", id: "tender-side" }, h("option", { value: "BUY" }, "buy"), h("option", { value: "SELL" }, "sell"));
  const interval = h("input", {
    name: "interval", id: "tender-interval", list: "open-intervals", required: true, spellcheck: "false",
    placeholder: "2026-07-01T10:00:00Z/900", value: market.open_intervals[0] || "",
  });
  const price = h("input", { name: "price", id: "tender-price", type: "number", step: "any", required: true });
  const quantity = h("input", { name: "quantity", id: "tender-quantity", type: "number", step: "any", min: "0", required: true });
  const party = ctx.me.party ? null : h("input", { name: "party", id: "tender-party", required: true });
  const result = h("p", { class: "muted", id: "tender-result", role: "status" });
  const form = h("form", { class: "tender", id: "tender-form" },
    h("label", { for: "tender-side" }, "side"), side,
    h("label", { for: "tender-interval" }, "delivery"), interval, intervals,
    h("label", { for: "tender-price" }, `price (${market.currency} per unit)`), price,
    h("label", { for: "tender-quantity" }, "quantity"), quantity,
    party ? [h("label", { for: "tender-party" }, "party"), party] : null,
    h("button", { type: "submit", class: "primary" }, "Submit tender"));
  let pending = null; // the same form content keeps its id: a retry is not a second tender
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.className = "muted";
    let body;
    try {
      body = tenderBody(market, side.value, interval.value, Number(price.value), Number(quantity.value));
    } catch (error) {
      result.className = "error";
      result.textContent = error.message;
      return;
    }
    if (party) body.partyId = party.value.trim();
    const text = JSON.stringify(body);
    if (!pending || pending.text !== text) pending = { text, id: `dash-${randomText(9)}` };
    body.tender.tenderId = pending.id;
    result.textContent = "submitting…";
    try {
      const answer = await ctx.api.post(`/markets/${encodeURIComponent(market.market_id)}/tenders`, body, { "Idempotency-Key": pending.id });
      const open = answer.open.reduce((sum, part) => sum + part.quantity / 10 ** part.quantity_scale, 0);
      result.textContent = `tender ${answer.tender_id} accepted; ${num(open, market.quantity_scale)} rests open`;
      pending = null;
    } catch (error) {
      result.className = "error";
      result.textContent = errorText(error);
    }
    await after();
  });
  return h("div", { class: "panel" }, h("h2", {}, "Tender"), form, result);
}

/** The API's tender body (the CTS wire format) from the form's values in real units. */
export function tenderBody(market, side, intervalKey, price, quantity) {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\/(\d+)$/.exec(intervalKey.trim());
  const problems = [];
  if (!match) problems.push("delivery: <start, UTC>/<seconds>, as 2026-07-01T10:00:00Z/900");
  if (!Number.isFinite(price)) problems.push("price: a number");
  if (!Number.isFinite(quantity) || quantity <= 0) problems.push("quantity: a number above 0");
  if (problems.length) throw new Error(problems.join("\n"));
  return {
    tender: {
      side,
      tenderDetail: {
        interval: {
          interval: { dtStart: match[1], duration: `PT${match[2]}S` },
          price: Math.round(price * 10 ** market.price_scale),
          quantity: Math.round(quantity * 10 ** market.quantity_scale),
        },
      },
      priceScale: market.price_scale,
      quantityScale: market.quantity_scale,
      currency: market.currency,
    },
  };
}
