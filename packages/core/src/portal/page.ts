import { createHash } from 'node:crypto';

// The portal's page: one HTML document with one small ES module, no build step. It calls the
// JSON API relative to where it is served, sends the CSRF header on every change, shows a new
// key once (with a copy button), and draws each key's last 30 days as an SVG bar chart. Colours
// and font come from CSS variables, so it takes the provider's own (`--kw-*`, falling back to
// common names, then to plain defaults).

const STYLE = `
:root { color-scheme: light dark; }
body { font: 15px/1.5 var(--kw-font, var(--font-family, system-ui, sans-serif)); color: var(--kw-fg, var(--color-text, CanvasText));
  background: var(--kw-bg, var(--color-background, Canvas)); margin: 0; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid var(--kw-border, color-mix(in srgb, currentColor 20%, transparent)); vertical-align: top; }
button { font: inherit; padding: .3rem .7rem; border-radius: .3rem; border: 1px solid var(--kw-accent, #2563eb); background: transparent; color: inherit; cursor: pointer; }
button.primary { background: var(--kw-accent, #2563eb); color: var(--kw-on-accent, #fff); }
button:focus-visible, input:focus-visible, select:focus-visible { outline: 2px solid var(--kw-accent, #2563eb); outline-offset: 2px; }
.once { padding: 1rem; border: 2px solid var(--kw-accent, #2563eb); border-radius: .4rem; margin: 1rem 0; }
.once code { word-break: break-all; font-size: 1rem; }
.muted { opacity: .7; }
svg rect.requests { fill: var(--kw-accent, #2563eb); } svg rect.refused { fill: var(--kw-danger, #dc2626); }
[role=alert] { color: var(--kw-danger, #dc2626); }
`;

const SCRIPT = `
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
const $ = (selector) => document.querySelector(selector);
const api = async (path, init = {}) => {
  const headers = { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.method && init.method !== 'GET' ? { 'x-keywarden-portal': '1' } : {}) };
  const response = await fetch(base + path, { ...init, headers, credentials: 'same-origin' });
  const body = await response.json();
  if (!response.ok) throw Object.assign(new Error(body.detail || body.title), { status: response.status });
  return body;
};
const say = (text) => { $('#status').textContent = text; };
const fail = (error) => { $('#error').textContent = error.message; };
const day = (value) => (value ? new Date(value).toISOString().slice(0, 10) : '-');
const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };
const button = (label, action, title) => {
  const b = document.createElement('button'); b.type = 'button'; b.textContent = label; b.setAttribute('aria-label', title); b.onclick = action; return b;
};
function showOnce(title, key, note) {
  const box = $('#once');
  box.hidden = false;
  $('#once-title').textContent = title;
  $('#once-key').textContent = key;
  $('#once-note').textContent = note;
  $('#copy').onclick = async () => { await navigator.clipboard.writeText(key); say('Copied to the clipboard.'); };
  box.focus();
}
function chart(days) {
  const most = Math.max(1, ...days.map((d) => d.requests + Object.values(d.refused).reduce((a, b) => a + b, 0)));
  const w = 8, h = 60, svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 ' + days.length * (w + 2) + ' ' + h);
  svg.setAttribute('width', String(days.length * (w + 2)));
  svg.setAttribute('height', String(h));
  svg.setAttribute('role', 'img');
  const total = days.reduce((a, d) => a + d.requests, 0);
  const refused = days.reduce((a, d) => a + Object.values(d.refused).reduce((x, y) => x + y, 0), 0);
  svg.setAttribute('aria-label', 'Last ' + days.length + ' days: ' + total + ' requests, ' + refused + ' refused');
  days.forEach((d, i) => {
    const r = Object.values(d.refused).reduce((a, b) => a + b, 0);
    for (const [value, cls, offset] of [[d.requests, 'requests', 0], [r, 'refused', d.requests]]) {
      if (!value) continue;
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const height = Math.max(1, (value / most) * h), y = h - ((offset + value) / most) * h;
      rect.setAttribute('x', String(i * (w + 2))); rect.setAttribute('y', String(y));
      rect.setAttribute('width', String(w)); rect.setAttribute('height', String(height)); rect.setAttribute('class', cls);
      const tip = document.createElementNS('http://www.w3.org/2000/svg', 'title'); tip.textContent = d.date + ': ' + value + ' ' + cls; rect.append(tip);
      svg.append(rect);
    }
  });
  return svg;
}
async function load() {
  $('#error').textContent = '';
  let list;
  try { list = await api('keys'); } catch (error) {
    if (error.status === 401) { $('#keys').hidden = true; $('#create').hidden = true; say('Sign in to manage your API keys.'); return; }
    return fail(error);
  }
  $('#rows').replaceChildren();
  const shown = showKeys(list);
  $('#keys').hidden = false;
  say(shown + (list.next ? '+' : '') + ' key(s).');
  api('account').then(showAccount, () => {});
}
function showKeys(list) {
  const rows = $('#rows');
  for (const key of list.keys) {
    const tr = document.createElement('tr');
    tr.dataset.id = key.id;
    const state = key.revokedAt ? 'revoked' : key.expiresAt && new Date(key.expiresAt) < new Date() ? 'expired' : 'active';
    const usage = key.usage ? key.usage.used + ' of ' + (key.usage.used + key.usage.remaining) + ' this ' + key.usage.period : '-';
    tr.append(cell(key.name), cell(key.prefix + '_' + key.id + '…'), cell(day(key.createdAt)), cell(day(key.lastUsedAt)), cell(key.revokedAt ? 'revoked ' + day(key.revokedAt) : day(key.expiresAt)), cell(usage));
    const actions = document.createElement('td');
    const chartCell = document.createElement('td');
    if (state === 'active') {
      actions.append(
        button('Rename', () => rename(key), 'Rename ' + key.name),
        ' ',
        button('Rotate', () => rotate(key), 'Rotate ' + key.name),
        ' ',
        button('Revoke', () => revoke(key), 'Revoke ' + key.name),
      );
    } else actions.append(state);
    tr.append(actions, chartCell);
    rows.append(tr);
    api('keys/' + key.id + '/usage?days=30').then((u) => chartCell.append(chart(u.days)), () => {});
  }
  const more = $('#more');
  more.hidden = !list.next;
  more.onclick = list.next ? async () => {
    more.disabled = true;
    try { showKeys(await api('keys?after=' + encodeURIComponent(list.next))); } catch (error) { fail(error); }
    more.disabled = false;
  } : null;
  return rows.children.length;
}
function showAccount({ account }) {
  const box = $('#account');
  if (!account) { box.hidden = true; return; }
  const parts = ['Plan: ' + account.plan + (account.status === 'suspended' ? ' (suspended)' : '')];
  const quota = account.usage && account.usage.quota;
  if (quota) parts.push(quota.used + ' of ' + quota.limit + ' units used this ' + account.quota.period + ', ' + quota.remaining + ' left');
  else if (account.quota) parts.push(account.quota.limit + ' units a ' + account.quota.period);
  const credits = account.usage && account.usage.credits;
  if (credits) parts.push(credits.remaining + ' of ' + credits.granted + ' prepaid credits left');
  parts.push(account.activeKeys + ' of ' + account.maxKeys + ' keys');
  $('#account-text').textContent = parts.join(' · ');
  box.hidden = false;
  api('account/usage?days=30').then((u) => $('#account-chart').replaceChildren(chart(u.days)), () => {});
}
async function rename(key) {
  const name = prompt('New name for ' + key.name, key.name);
  if (!name) return;
  try { await api('keys/' + key.id, { method: 'PATCH', body: JSON.stringify({ name }) }); await load(); say('Renamed.'); } catch (e) { fail(e); }
}
async function rotate(key) {
  if (!confirm('Rotate ' + key.name + '? The old key keeps working for ' + graceText + ', then stops.')) return;
  try {
    const r = await api('keys/' + key.id + '/rotate', { method: 'POST', body: '{}' });
    showOnce('New key for ' + key.name, r.key, 'The old key works until ' + new Date(r.old_key_expires_at).toLocaleString() + '. Copy the new one now: it is not shown again.');
    await load();
  } catch (e) { fail(e); }
}
async function revoke(key) {
  if (!confirm('Revoke ' + key.name + '? It stops working at once, with every token made from it.')) return;
  try { await api('keys/' + key.id + '/revoke', { method: 'POST', body: '{}' }); await load(); say('Revoked ' + key.name + '.'); } catch (e) { fail(e); }
}
let graceText = 'a while';
$('#create').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = $('#name').value.trim();
  try {
    const created = await api('keys', { method: 'POST', body: JSON.stringify({ name }) });
    showOnce('Your new key "' + name + '"', created.key, 'Copy it now: it is not shown again. Only a hash of it is stored.');
    $('#name').value = '';
    await load();
  } catch (e) { fail(e); }
});
api('policy').then((p) => { graceText = Math.round(p.rotationGraceSeconds / 3600) + ' hour(s)'; }, () => {});
load();
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The page's headers: its one script and one style allowed by hash and nothing else, calls to its
 * own origin only, never framed (no clickjacking of the revoke button), no referrer.
 */
export const PORTAL_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLE)}; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
});

/** The portal page, served on `GET` at the mount path. */
export const PORTAL_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API keys</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>API keys</h1>
<p class="muted">Your keys for this API. A key is shown once, when it is made: keep it on your server, never in a browser or an app.</p>
<section id="account" hidden aria-label="Your account">
  <p id="account-text"></p>
  <p class="muted">Your account's requests (and refusals) of the last 30 days, every key of it: <span id="account-chart"></span></p>
</section>
<p id="status" role="status" aria-live="polite"></p>
<p id="error" role="alert"></p>
<div id="once" class="once" hidden tabindex="-1" aria-labelledby="once-title">
  <h2 id="once-title"></h2>
  <p><code id="once-key"></code></p>
  <p><button type="button" id="copy" class="primary">Copy key</button></p>
  <p id="once-note"></p>
</div>
<form id="create">
  <label for="name">Name of a new key</label>
  <input id="name" name="name" required maxlength="200" placeholder="production backend">
  <button type="submit" class="primary">Create key</button>
</form>
<table id="keys" hidden>
  <caption class="muted">Usage is for the current period; the chart shows requests (and refusals) of the last 30 days.</caption>
  <thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Usage</th><th scope="col">Actions</th><th scope="col">Last 30 days</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<button id="more" type="button" hidden>More keys</button>
</main>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
