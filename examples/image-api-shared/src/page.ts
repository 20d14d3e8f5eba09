// The browser half of the access-token flow: the page asks "your server" for a short-lived
// token, then uploads, processes and downloads straight from the API with it. The API key is never
// sent to the browser.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keywarden image demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d2330; }
  h1 { font-size: 1.5rem; margin-bottom: .25rem; }
  .row { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin: 1rem 0; }
  button { font: inherit; padding: .4rem 1.2rem; border-radius: .4rem; border: 0; background: #2f5bd3; color: #fff; cursor: pointer; }
  button:disabled { background: #9aa6c4; }
  .images { display: flex; gap: 1rem; flex-wrap: wrap; }
  figure { margin: 0; padding: .5rem; border: 1px solid #d5d9e2; border-radius: .4rem;
    background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
  figure img { display: block; width: 20rem; min-height: 4rem; image-rendering: pixelated; }
  figcaption { font-size: .85rem; color: #4a5366; background: #fff; }
  #token { font-family: ui-monospace, monospace; }
  ol#log { font-size: .9rem; color: #4a5366; }
  .error { color: #b3261e; }
</style>
</head>
<body>
<h1>keywarden: browser upload with an access token</h1>
<p>Your server holds the API key and mints a two-minute token for this page. The page then talks to the
image API directly, sending <code>Authorization: AccessToken &lt;token&gt;</code>.</p>
<p role="note"><strong>Demo only:</strong> <code>POST /your-server/token</code> is public here, so that this page works
without a sign-in. It stands for your own backend, which must let only your signed-in users ask for a token.
Here it is limited to 30 tokens a minute per address.</p>
<div class="row">
  <input type="file" id="file" accept="image/png,image/jpeg,image/webp">
  <select id="tool">
    <option value="remove-bg">remove background (flat backgrounds)</option>
    <option value="resize">upscale x2</option>
    <option value="crop">crop the centre</option>
  </select>
  <button id="go" disabled>Process</button>
</div>
<div class="row">Token: <span id="token">none yet</span></div>
<div class="images">
  <figure><img id="original" alt=""><figcaption>original</figcaption></figure>
  <figure><img id="result" alt=""><figcaption>result</figcaption></figure>
</div>
<ol id="log"></ol>
<section aria-labelledby="account">
<h2 id="account">Your API keys</h2>
<p>Customers manage their own keys on the <a href="/account/api-keys/">API keys page</a> (keywarden's key portal),
behind your login. Demo sign-in: <button type="button" data-owner="alice">Sign in as alice</button>
<button type="button" data-owner="bob">Sign in as bob</button> <button type="button" id="signout">Sign out</button>
<span id="who" role="status"></span></p>
</section>
<script type="module">
for (const button of document.querySelectorAll('button[data-owner]')) {
  button.addEventListener('click', async () => {
    const response = await fetch('/your-server/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ owner: button.dataset.owner }),
    });
    document.getElementById('who').textContent = response.ok ? 'Signed in as ' + button.dataset.owner + '.' : 'Sign-in failed.';
  });
}
document.getElementById('signout').addEventListener('click', async () => {
  await fetch('/your-server/session', { method: 'DELETE' });
  document.getElementById('who').textContent = 'Signed out.';
});
</script>
<script type="module">
const $ = (id) => document.getElementById(id);
const log = (text, cls) => { const li = document.createElement('li'); li.textContent = text; if (cls) li.className = cls; $('log').append(li); };
let token = null;
let expiresAt = 0;
setInterval(() => {
  if (!token) return;
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  $('token').textContent = left > 0 ? 'valid for ' + left + ' s more' : 'expired';
  $('token').dataset.secondsLeft = String(left);
}, 250);
$('file').addEventListener('change', () => {
  const file = $('file').files[0];
  $('go').disabled = !file;
  if (file) $('original').src = URL.createObjectURL(file);
});
async function api(path, init) {
  const response = await fetch(path, { ...init, headers: { ...(init && init.headers), Authorization: 'AccessToken ' + token } });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(path + ': ' + response.status + ' ' + (problem.title || response.statusText));
  }
  return response;
}
async function params(tool, file) {
  if (tool === 'resize') return { scale: 2 };
  if (tool !== 'crop') return {};
  const bitmap = await createImageBitmap(file);
  const width = Math.max(1, Math.floor(bitmap.width / 2)), height = Math.max(1, Math.floor(bitmap.height / 2));
  return { left: Math.floor(bitmap.width / 4), top: Math.floor(bitmap.height / 4), width, height };
}
$('go').addEventListener('click', async () => {
  const file = $('file').files[0];
  const tool = $('tool').value;
  $('go').disabled = true;
  $('log').replaceChildren();
  try {
    const minted = await fetch('/your-server/token', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ tool }),
    }).then((r) => r.json());
    token = minted.accessToken;
    expiresAt = Date.now() + minted.expiresIn * 1000;
    log('your server minted a token for ' + minted.paths.join(', '));
    const form = new FormData();
    form.append('files', file);
    form.append('upload_path', 'browser');
    const uploaded = await (await api('/v3/file-ops/upload/', { method: 'POST', body: form })).json();
    log('uploaded ' + uploaded.file_paths[0]);
    const output = 'browser/result-' + Date.now() + '.png';
    const processed = await (await api('/v3/tools/ai/' + tool + '/process/', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_file_path: uploaded.file_paths[0], output_variants: [{ output_file_path: output, ...(await params(tool, file)) }] }),
    })).json();
    log(tool + ' wrote ' + processed.output_file_paths[0]);
    const blob = await (await api('/v3/files/' + processed.output_file_paths[0])).blob();
    $('result').src = URL.createObjectURL(blob);
    $('result').dataset.path = processed.output_file_paths[0];
    log('downloaded the result (' + blob.size + ' bytes)');
  } catch (error) {
    log(String(error.message || error), 'error');
  } finally {
    $('go').disabled = false;
  }
});
</script>
</body>
</html>
`;
