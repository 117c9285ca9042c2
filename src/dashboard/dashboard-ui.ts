// The dashboard's screen: plain DOM code, kept as text because it runs only in a browser (the
// project's TypeScript has no DOM types). It follows the data functions of dashboard-client.ts in
// the same <script type="module"> (dashboard-page.ts), so it calls them by name.
export const dashboardUiScript = String.raw`
const session = { base: location.origin, token: sessionStorage.getItem('etcd-ts-token') || undefined };
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
};
const bytes = (n) => n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B';
const hexId = (decimal) => { try { return BigInt(decimal).toString(16); } catch { return decimal; } };

function showError(where, error) {
  if (error instanceof GatewayError && error.needsLogin) { $('login').hidden = false; $('login-error').textContent = error.message; }
  $(where).replaceChildren(el('p', { class: 'error' }, error.message));
}

async function refreshOverview() {
  try {
    const o = await clusterOverview(session);
    $('cluster').textContent = 'cluster ' + hexId(o.clusterId) + ' · revision ' + o.revision + ' · leader ' + (o.leaderId === '0' ? 'none' : hexId(o.leaderId));
    const rows = o.members.map((m) => el('tr', {},
      el('td', {}, m.name || '(unstarted)'), el('td', { class: 'mono' }, hexId(m.id)),
      el('td', {}, m.isLearner ? 'learner' : m.status && m.status.leader === m.id ? 'leader' : m.status ? 'follower' : '?'),
      el('td', { class: 'mono' }, m.clientUrls.join(' ')),
      el('td', {}, m.status ? m.status.version : ''), el('td', {}, m.status ? bytes(m.status.dbSize) + ' (' + bytes(m.status.dbSizeInUse) + ' in use)' : ''),
      el('td', {}, m.status ? m.status.raftTerm : ''), el('td', {}, m.status ? m.status.raftIndex + ' / ' + m.status.raftAppliedIndex : ''),
      el('td', { class: m.error || (m.status && m.status.errors.length) ? 'error' : '' }, m.error || (m.status ? m.status.errors.join('; ') : ''))));
    $('members').replaceChildren(...rows);
    $('alarms').textContent = o.alarms.length === 0 ? 'none' : o.alarms.map((a) => a.alarm + ' on ' + hexId(a.memberId)).join(', ');
    $('updated').textContent = new Date().toLocaleTimeString();
  } catch (error) { showError('overview-error', error); return; }
  $('overview-error').replaceChildren();
}

async function refreshKeys() {
  try {
    const list = await listKeys(session, $('prefix').value, Number($('limit').value) || 100);
    $('keys').replaceChildren(...list.kvs.map((kv) => el('tr', {},
      el('td', { class: 'mono' }, kv.key), el('td', { class: 'mono value' }, kv.value), el('td', {}, kv.createRevision),
      el('td', {}, kv.modRevision), el('td', {}, kv.version), el('td', { class: 'mono' }, kv.lease === '0' ? '' : hexId(kv.lease)))));
    $('keys-summary').textContent = list.count + ' key(s) at revision ' + list.revision + (list.more ? ', first ' + list.kvs.length + ' shown' : '');
    $('keys-error').replaceChildren();
  } catch (error) { showError('keys-error', error); }
}

async function refreshLeases() {
  try {
    const leases = await listLeases(session);
    $('leases').replaceChildren(...leases.map((l) => el('tr', {},
      el('td', { class: 'mono' }, hexId(l.id)), el('td', {}, l.ttl + ' s of ' + l.grantedTtl + ' s'), el('td', { class: 'mono' }, l.keys.join(' ')))));
    $('leases-error').replaceChildren();
  } catch (error) { showError('leases-error', error); }
}

let watching;
function toggleWatch() {
  if (watching) { watching.abort(); watching = undefined; $('watch-button').textContent = 'Watch'; return; }
  watching = new AbortController();
  $('watch-button').textContent = 'Stop';
  $('events').replaceChildren();
  const started = watching;
  watchPrefix(session, $('watch-prefix').value, (e) => {
    $('events').prepend(el('tr', {}, el('td', {}, new Date().toLocaleTimeString()), el('td', {}, e.type), el('td', { class: 'mono' }, e.key),
      el('td', { class: 'mono value' }, e.type === 'DELETE' ? '' : e.value), el('td', {}, e.modRevision)));
    while ($('events').children.length > 200) $('events').lastChild.remove();
  }, watching.signal).catch((error) => showError('watch-error', error)).finally(() => {
    if (watching === started) { watching = undefined; $('watch-button').textContent = 'Watch'; }
  });
}

async function login(event) {
  event.preventDefault();
  try {
    session.token = await authenticate(session.base, $('user').value, $('password').value);
    sessionStorage.setItem('etcd-ts-token', session.token);
    $('login').hidden = true;
    refreshAll();
  } catch (error) { $('login-error').textContent = error.message; }
}

function refreshAll() { refreshOverview(); refreshKeys(); refreshLeases(); }

$('keys-form').addEventListener('submit', (e) => { e.preventDefault(); refreshKeys(); });
$('watch-button').addEventListener('click', toggleWatch);
$('login-form').addEventListener('submit', login);
$('leases-button').addEventListener('click', refreshLeases);
refreshAll();
setInterval(refreshOverview, 2000);
`;
