/**
 * Goes through the simulator's Connect consent page over plain HTTP, as a browser would: GET the
 * Connect URL, read the form, POST the decision, and return where Connect redirects.
 */

export interface ConsentOptions {
  username?: string;
  password?: string;
  action?: 'approve' | 'deny';
}

export async function openConsent(connectUrl: string): Promise<{ status: number; html: string; requestId: string | null; location: string | null }> {
  const res = await fetch(connectUrl, { redirect: 'manual' });
  const html = await res.text();
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1] ?? null;
  return { status: res.status, html, requestId, location: res.headers.get('location') };
}

/** Returns the `Location` that Connect sends the user back to (`redirect_uri?code=…&state=…`). */
export async function completeConsent(connectUrl: string, opts: ConsentOptions = {}): Promise<URL> {
  const page = await openConsent(connectUrl);
  if (page.status !== 200 || !page.requestId) {
    throw new Error(`consent page did not render (status ${page.status}, location ${page.location}): ${page.html.slice(0, 300)}`);
  }
  const form = new URLSearchParams({
    request_id: page.requestId,
    username: opts.username ?? 'driver@example.com',
    password: opts.password ?? 'any-password',
    action: opts.action ?? 'approve',
  });
  const action = new URL('authorize', connectUrl);
  const res = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`consent did not redirect (status ${res.status}): ${await res.text()}`);
  return new URL(location);
}
