// Owns the dashboard page (GET /dashboard on a member's client URL): one self-contained HTML page,
// no outside resources, that shows the cluster (members and their state, leader, alarms), browses
// keys by prefix, watches a prefix live and lists leases, all through the v3 JSON gateway with the
// browser's own requests, so it sees what a client sees and asks for a login when auth is on.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dashboardUiScript } from './dashboard-ui.js';

let clientScript: string | undefined;

/** The page's HTML: the data functions (the compiled dashboard-client.js beside this file, read once) and the screen. */
export function dashboardPage(etcdVersion: string): string {
  clientScript ??= readFileSync(fileURLToPath(new URL('./dashboard-client.js', import.meta.url)), 'utf8')
    .replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const client = clientScript;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>etcd-ts dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2rem 2rem; color: #1d2330; background: #f7f8fa; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 1rem 0 0.5rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
  th { background: #eef0f4; font-weight: 600; }
  .mono { font-family: ui-monospace, monospace; word-break: break-all; } .value { max-width: 40rem; }
  .error { color: #b3261e; } .muted { color: #6b7280; }
  form { display: flex; gap: 0.5rem; margin: 0.5rem 0; } input { padding: 0.25rem 0.4rem; }
  #login { position: fixed; inset: 0; background: rgba(0,0,0,0.35); display: flex; align-items: center; justify-content: center; }
  #login[hidden] { display: none; } #login form { flex-direction: column; background: #fff; padding: 1.5rem; border-radius: 6px; min-width: 16rem; }
</style>
</head>
<body>
<header><h1>etcd-ts</h1><span id="cluster" class="muted">loading…</span><span class="muted">etcd API ${etcdVersion} · updated <span id="updated"></span></span></header>

<h2>Members</h2>
<div id="overview-error"></div>
<table><thead><tr><th>name</th><th>id</th><th>role</th><th>client URLs</th><th>version</th><th>db size</th><th>raft term</th><th>raft index / applied</th><th>errors</th></tr></thead>
<tbody id="members"></tbody></table>
<p>Alarms: <span id="alarms">…</span></p>

<h2>Keys</h2>
<form id="keys-form"><input id="prefix" placeholder="key prefix (empty: all keys)" size="40"><input id="limit" type="number" value="100" min="1" style="width:6rem"><button>List</button></form>
<p id="keys-summary" class="muted"></p><div id="keys-error"></div>
<table><thead><tr><th>key</th><th>value</th><th>created</th><th>modified</th><th>version</th><th>lease</th></tr></thead><tbody id="keys"></tbody></table>

<h2>Watch</h2>
<form onsubmit="return false"><input id="watch-prefix" placeholder="key prefix (empty: all keys)" size="40"><button id="watch-button" type="button">Watch</button></form>
<div id="watch-error"></div>
<table><thead><tr><th>time</th><th>event</th><th>key</th><th>value</th><th>revision</th></tr></thead><tbody id="events"></tbody></table>

<h2>Leases <button id="leases-button" type="button">Refresh</button></h2>
<div id="leases-error"></div>
<table><thead><tr><th>id</th><th>remaining</th><th>keys</th></tr></thead><tbody id="leases"></tbody></table>

<div id="login" hidden><form id="login-form"><strong>Authentication is on</strong><input id="user" placeholder="user" autocomplete="username"><input id="password" type="password" placeholder="password" autocomplete="current-password"><button>Log in</button><span id="login-error" class="error"></span></form></div>
<script type="module">
${client}
${dashboardUiScript}
</script>
</body>
</html>
`;
}
