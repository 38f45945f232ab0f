/**
 * Connecting a car without a browser, as test/support/connect.ts does: the Connect URL, the
 * simulator's consent form (approve), then the code handed to the gateway (`exchangeCode`, with the
 * session cookie) or to the baseline (`/exchange?code=`).
 */

export interface GatewaySession {
  /** `sid=<token>`, ready for a Cookie header. */
  cookie: string;
  vehicleIds: string[];
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${what}: not JSON: ${text.slice(0, 300)}`);
  }
}

export async function gql<T>(url: string, query: string, variables: Record<string, unknown> = {}, cookie?: string): Promise<{ data: T; setCookie: string[] }> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie && { cookie }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await json<{ data?: T; errors?: unknown[] }>(res, `GraphQL ${query.slice(0, 40)}`);
  if (body.errors?.length || !body.data) throw new Error(`GraphQL ${query.slice(0, 40)}: ${JSON.stringify(body.errors).slice(0, 400)}`);
  return { data: body.data, setCookie: res.headers.getSetCookie() };
}

/** Approves Connect at the simulator; returns the `code` and `state` it redirects with. */
export async function approve(connectUrl: string, username: string): Promise<{ code: string; state: string | null }> {
  const page = await fetch(connectUrl, { redirect: 'manual' });
  const html = await page.text();
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (page.status !== 200 || !requestId) throw new Error(`consent page did not render (HTTP ${page.status}): ${html.slice(0, 200)}`);
  const form = new URLSearchParams({ request_id: requestId, username, password: 'bench', action: 'approve' });
  const res = await fetch(new URL('authorize', connectUrl), { method: 'POST', body: form, redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`consent did not redirect (HTTP ${res.status})`);
  const back = new URL(location);
  const code = back.searchParams.get('code');
  if (!code) throw new Error(`Connect answered ${location}`);
  return { code, state: back.searchParams.get('state') };
}

export async function connectGateway(url: string, username: string): Promise<GatewaySession> {
  const first = await gql<{ connectUrl: string }>(url, '{ connectUrl }');
  const sid = first.setCookie.map((c) => c.split(';')[0]!).find((c) => c.startsWith('sid='));
  if (!sid) throw new Error('connectUrl set no sid cookie');
  const { code, state } = await approve(first.data.connectUrl, username);
  const exchanged = await gql<{ exchangeCode: { vehicles: { id: string }[] } }>(
    url,
    'mutation($c: String!, $s: String) { exchangeCode(code: $c, state: $s) { vehicles { id } } }',
    { c: code, s: state },
    sid,
  );
  return { cookie: sid, vehicleIds: exchanged.data.exchangeCode.vehicles.map((v) => v.id) };
}

/** The tutorial's flow on the baseline: /login → Connect → /exchange?code= → 302 /vehicle. */
export async function connectBaseline(url: string, username: string): Promise<void> {
  const login = await fetch(`${url}/login`, { redirect: 'manual' });
  const connectUrl = login.headers.get('location');
  if (login.status !== 302 || !connectUrl) throw new Error(`baseline /login: HTTP ${login.status}`);
  const { code } = await approve(connectUrl, username);
  const res = await fetch(`${url}/exchange?code=${encodeURIComponent(code)}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`baseline /exchange: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
}

export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  return json<T>(await fetch(url, { headers }), `GET ${url}`);
}
