import type { AuthRequest } from './auth.state';
import { PERMISSIONS } from './permissions';
import { CATALOGUE, FIXED_USERS } from './world';

/**
 * The HTML of Connect: the consent page and its error page. Small, dependency-free, escaped.
 * Allow is the form's first submit button: pressing Enter in a field submits with the first one, and
 * on Smartcar's page Enter approves.
 */

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0;display:flex;justify-content:center}
main{background:#fff;max-width:420px;width:100%;margin:32px 12px;padding:28px;border-radius:12px;box-shadow:0 2px 12px #0002}
h1{font-size:1.3rem;margin:0 0 4px}.brand{color:#0f6fff;font-weight:700;letter-spacing:.04em}
ul{padding-left:20px}label{display:block;margin-top:12px;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:8px;margin-top:4px;border:1px solid #bbb;border-radius:6px}
.actions{display:flex;gap:12px;margin-top:20px}button{flex:1;padding:10px;border-radius:6px;border:0;font-size:1rem;cursor:pointer}
button[value=approve]{background:#0f6fff;color:#fff}button[value=deny]{background:#e6e8eb}
.error{color:#b00020}.hint{font-size:.8rem;color:#555}code{font-size:.8rem}`;

function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

/** Smartcar's brand selector, when the Connect URL named no `make`. */
function brandSelector(request: AuthRequest): string {
  if (request.make) return '';
  const makes = [...new Set(CATALOGUE.map((m) => m.make))].sort();
  const options = makes.map((m) => `<option value="${escape(m)}">${escape(m)}</option>`).join('');
  return `<label>Brand<select name="make" id="brand"><option value="">Any brand</option>${options}</select></label>`;
}

export function consentPage(request: AuthRequest, error?: string): string {
  const brand = request.make ? request.make.toUpperCase() : 'Any brand';
  const title = request.reauthVehicleId ? 'Sign in again' : 'Connect your car';
  const permissions = request.scopes.map((s) => `<li data-permission="${escape(s)}">${escape(PERMISSIONS[s] ?? s)}</li>`).join('');
  const accounts = Object.keys(FIXED_USERS).map((u) => `<code>${escape(u)}</code>`).join(', ');
  return layout(
    'Connect your car · Smartcar simulator',
    `<div class="brand">SMARTCAR SIMULATOR · ${escape(brand)}</div>
<h1>${escape(title)}</h1>
<p><strong id="app-name">${escape(request.client.name ?? request.client.clientId)}</strong> would like to:</p>
<ul id="permissions">${permissions}</ul>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="authorize">
<input type="hidden" name="request_id" value="${escape(request.id)}">
${brandSelector(request)}
<label>Email<input name="username" type="email" autocomplete="username" required value="driver@example.com"></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<div class="actions"><button type="submit" name="action" value="approve">Allow</button>
<button type="submit" name="action" value="deny" formnovalidate>Deny</button></div>
</form>
<p class="hint">Application <code>${escape(request.client.clientId)}</code>, mode <code>${escape(request.mode)}</code>.</p>
<p class="hint">Simulator: any email and password are accepted. Each email is its own account with its own cars;
try ${accounts}, or add tags such as <code>you+3+ev@example.com</code> (see the README).
Smartcar's test accounts work too: <code>3-vehicles@smartcar.com</code>, <code>&lt;VIN&gt;@bev.smartcar.com</code>
(or <code>fuel</code>, <code>phev</code>, <code>incompatible</code>), <code>vehicle_state.asleep@smartcar.com</code>.</p>`,
  );
}

/** Where Connect lands without a redirect URI: what it would have sent the app, shown to the user. */
export function hostedRedirectPage(params: Record<string, string>): string {
  const rows = Object.entries(params).map(([k, v]) => `<li><code>${escape(k)}</code>: <code id="${escape(k)}">${escape(v)}</code></li>`).join('');
  const ok = params.error === undefined;
  return layout(
    'Connect · Smartcar simulator',
    `<div class="brand">SMARTCAR SIMULATOR</div><h1>${ok ? 'Your car is connected' : 'Your car was not connected'}</h1>
<p>The application gave no redirect URI, so Connect ends here with:</p><ul id="result">${rows}</ul>`,
  );
}

export function errorPage(message: string): string {
  return layout('Connect error · Smartcar simulator', `<div class="brand">SMARTCAR SIMULATOR</div><h1>Something is wrong with this link</h1><p class="error" role="alert">${escape(message)}</p>`);
}
