// Who is signed in: an access token kept in sessionStorage (gone when the tab closes), taken
// from a pasted token, from "#token=…" in the address, or from an OpenID provider by the
// authorisation code flow with PKCE (RFC 7636, S256) and a state check.

const TOKEN_KEY = "osed.dashboard.token";
const PENDING_KEY = "osed.dashboard.sign-in";

export function storedToken(storage = sessionStorage) {
  return storage.getItem(TOKEN_KEY);
}

export function keepToken(token, storage = sessionStorage) {
  const trimmed = token.trim().replace(/^Bearer\s+/i, "");
  if (!trimmed || /\s/.test(trimmed)) throw new Error("paste a single access token");
  storage.setItem(TOKEN_KEY, trimmed);
  return trimmed;
}

export function forgetToken(storage = sessionStorage) {
  storage.removeItem(TOKEN_KEY);
}

/** Bytes as base64url without padding (RFC 4648 §5). */
export function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A random base64url text of `size` random bytes (32 bytes: a 43-character PKCE verifier). */
export function randomText(size = 32) {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes);
  return base64url(bytes);
}

/** The S256 code challenge of a verifier: BASE64URL(SHA-256(ASCII(verifier))). */
export async function challengeS256(verifier) {
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) {
    throw new Error("a PKCE verifier has 43 to 128 unreserved characters");
  }
  if (!crypto.subtle) throw new Error("signing in needs a secure page (https or localhost)");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The provider's authorisation request for the code flow with PKCE. */
export function authorizationUrl(endpoint, { clientId, redirectUri, scope, state, challenge }) {
  const url = new URL(endpoint);
  const query = url.searchParams;
  query.set("response_type", "code");
  query.set("client_id", clientId);
  query.set("redirect_uri", redirectUri);
  query.set("scope", scope);
  query.set("state", state);
  query.set("code_challenge", challenge);
  query.set("code_challenge_method", "S256");
  return url.href;
}

/** The provider's discovery document; its issuer must be the configured one exactly. */
export async function discover(issuer) {
  const address = issuer.replace(/\/$/, "") + "/.well-known/openid-configuration";
  const response = await fetch(address, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${address} answered HTTP ${response.status}`);
  const document = await response.json();
  if (document.issuer !== issuer) {
    throw new Error(`${address} names the issuer ${document.issuer}, not ${issuer}`);
  }
  return document;
}

/** Whether the provider can sign users in here (it has an authorisation endpoint). */
export function canSignIn(document) {
  return Boolean(
    document && document.authorization_endpoint && document.token_endpoint &&
      (!document.code_challenge_methods_supported ||
        document.code_challenge_methods_supported.includes("S256")),
  );
}

/**
 * Start signing in: a fresh verifier and state kept for the answer, and the address to send
 * the browser to.
 */
export async function beginSignIn(signIn, document, redirectUri, storage = sessionStorage) {
  const verifier = randomText(32);
  const state = randomText(16);
  const challenge = await challengeS256(verifier);
  storage.setItem(
    PENDING_KEY,
    JSON.stringify({ state, verifier, redirectUri, tokenEndpoint: document.token_endpoint }),
  );
  return authorizationUrl(document.authorization_endpoint, {
    clientId: signIn.client_id,
    redirectUri,
    scope: signIn.scope,
    state,
    challenge,
  });
}

/** Whether the page's query is a provider's answer to a sign-in. */
export function isSignInAnswer(search) {
  const query = new URLSearchParams(search);
  return query.has("state") && (query.has("code") || query.has("error"));
}

/**
 * Finish signing in: the answer's state must be the one sent (else it is refused), then the
 * code is exchanged with the verifier for an access token. The pending request is used once.
 */
export async function completeSignIn(signIn, search, storage = sessionStorage) {
  const query = new URLSearchParams(search);
  const pending = JSON.parse(storage.getItem(PENDING_KEY) || "null");
  storage.removeItem(PENDING_KEY);
  if (!pending || query.get("state") !== pending.state) {
    throw new Error("the sign-in answer does not belong to a sign-in started here (state)");
  }
  if (query.has("error")) {
    throw new Error(`sign-in refused: ${query.get("error_description") || query.get("error")}`);
  }
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: pending.redirectUri,
    client_id: signIn.client_id,
    code_verifier: pending.verifier,
  });
  const response = await fetch(pending.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: form,
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(`the token endpoint refused: ${answer.error_description || answer.error || response.status}`);
  }
  return keepToken(answer.access_token, storage);
}

/** A token handed over in the address ("#token=…"), removed from it at once. */
export function tokenFromFragment(hash) {
  const found = new URLSearchParams(hash.replace(/^#/, "")).get("token");
  return found && found.trim() ? found.trim() : null;
}
