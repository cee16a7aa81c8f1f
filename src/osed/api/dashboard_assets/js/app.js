// The dashboard's start: its settings, signing in, the views by address (#/network, …), and the
// live events every view can follow.

import { Api, ApiError } from "./api.js";
import * as auth from "./auth.js";
import { errorText } from "./dom.js";
import { LiveEvents } from "./events.js";
import { networkView } from "./network.js";
import { areasView } from "./areas.js";
import { marketView } from "./market.js";
import { jobsView } from "./jobs.js";
import { studiesView } from "./studies.js";
import { seriesView } from "./series.js";

const VIEWS = { network: networkView, areas: areasView, market: marketView, jobs: jobsView, studies: studiesView, series: seriesView };
const $ = (id) => document.getElementById(id);

let settings = null; // config.json
let session = null; // {config, api, me, events}
let teardown = [];

async function boot() {
  const config = await (await fetch("config.json", { cache: "no-store" })).json();
  settings = config;
  document.title = `${config.title} dashboard`;
  $("brand").textContent = config.title;
  const handed = auth.tokenFromFragment(location.hash);
  if (handed) {
    auth.keepToken(handed);
    history.replaceState(null, "", `${location.pathname}#/network`);
  }
  if (config.sign_in && auth.isSignInAnswer(location.search)) {
    try {
      await auth.completeSignIn(config.sign_in, location.search);
    } catch (error) {
      $("sign-in-error").textContent = errorText(error);
    }
    history.replaceState(null, "", `${location.pathname}#/network`);
  }
  const api = new Api(config.api, () => auth.storedToken(), (error) => signOut(`Signed out: ${errorText(error)}`));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      auth.keepToken($("token-input").value);
    } catch (error) {
      $("sign-in-error").textContent = error.message;
      return;
    }
    $("token-input").value = "";
    enter(config, api);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  if (auth.storedToken()) await enter(config, api);
  else await showSignIn(config);
}

async function enter(config, api) {
  let me;
  try {
    me = await api.get("/me");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) $("sign-in-error").textContent = errorText(error);
    return;
  }
  $("sign-in").hidden = true;
  $("sign-in-error").textContent = "";
  const events = new LiveEvents(api, (up) => {
    $("live").hidden = false;
    $("live").classList.toggle("up", up);
    $("live").title = up ? "live updates: connected" : "live updates: reconnecting";
  });
  session = { config, api, me, events };
  $("who").textContent = `${me.subject} · ${me.roles.join(", ")}${me.party ? ` · party ${me.party}` : ""}`;
  $("nav").hidden = false;
  $("sign-out").hidden = false;
  $("report-link").hidden = !config.report;
  if (config.report) $("report-link").href = config.report;
  if (config.served.events) events.start();
  window.addEventListener("hashchange", route);
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", `${location.pathname}#/network`);
  await route();
}

async function showSignIn(config) {
  $("sign-in").hidden = false;
  $("view").hidden = true;
  if (!config.sign_in) return;
  try {
    const provider = await auth.discover(config.sign_in.issuer);
    if (!auth.canSignIn(provider)) return;
    $("provider-name").textContent = new URL(config.sign_in.issuer).host;
    $("sign-in-provider").hidden = false;
    $("provider-button").onclick = async () => {
      try {
        const redirect = location.origin + location.pathname;
        location.assign(await auth.beginSignIn(config.sign_in, provider, redirect));
      } catch (error) {
        $("sign-in-error").textContent = errorText(error);
      }
    };
  } catch (error) {
    $("sign-in-error").textContent = `The identity provider cannot be reached: ${errorText(error)}`;
  }
}

function signOut(message) {
  auth.forgetToken();
  if (session) session.events.stop();
  session = null;
  for (const undo of teardown) undo();
  teardown = [];
  window.removeEventListener("hashchange", route);
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("live").hidden = true;
  $("who").textContent = "";
  $("view").replaceChildren();
  $("sign-in-error").textContent = message;
  showSignIn(settings).catch(() => {});
}

async function route() {
  if (!session) return;
  for (const undo of teardown) undo();
  teardown = [];
  const name = location.hash.replace(/^#\//, "").split("/")[0] || "network";
  const view = VIEWS[name] || VIEWS.network;
  for (const link of document.querySelectorAll("#nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  const root = $("view");
  root.hidden = false;
  const host = document.createElement("div");
  host.className = "view";
  host.dataset.view = name;
  root.replaceChildren(host);
  const ctx = {
    ...session,
    onEvent: (kind, handler) => teardown.push(session.events.on(kind, handler)),
    every: (ms, handler) => {
      const timer = setInterval(handler, ms);
      teardown.push(() => clearInterval(timer));
    },
    notify: (text) => alert(text),
  };
  try {
    await view(ctx, host);
    host.dataset.ready = "true";
  } catch (error) {
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = errorText(error);
    host.append(message);
  }
}

boot().catch((error) => {
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = `The dashboard cannot start: ${errorText(error)}`;
});
