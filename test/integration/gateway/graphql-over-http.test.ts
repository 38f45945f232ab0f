import { serverAudits } from 'graphql-http';
import { startStack, type Stack } from '../../support/gateway';

/**
 * The GraphQL-over-HTTP spec's own audits (graphql-http's serverAudits) against /graphql: no audit
 * may fail. A warning (a SHOULD the gateway does not follow) is allowed only when listed here, with
 * the reason. GETs without a preflight header are refused by Apollo's CSRF rule: those audits are
 * MAYs (notices), not failures.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());

/**
 * The spec's SHOULDs the gateway does not follow, by audit id. With `Accept: application/json` the
 * spec prefers 200 for a request error; Apollo answers 400, and the gateway documents (README,
 * "Error codes") that its request errors are HTTP 400 for every client: clients and load balancers
 * rely on it. With `Accept: application/graphql-response+json` the spec asks for 4xx, as given.
 */
const JUSTIFIED_WARNINGS: Record<string, string> = {
  '572B': 'document parsing failure: 400 (GRAPHQL_PARSE_FAILED), documented',
  FDE2: 'document validation failure: 400 (GRAPHQL_VALIDATION_FAILED), documented',
  '7B9B': 'variable coercion failure: 400 (BAD_USER_INPUT), documented',
};

test('every audit passes, no unjustified warning', async () => {
  const results = [];
  for (const audit of serverAudits({ url: `${stack.url}/graphql` })) {
    const result = await audit.fn();
    results.push({ id: audit.id, name: audit.name, status: result.status, reason: 'reason' in result ? result.reason : undefined });
  }
  expect(results.length).toBeGreaterThan(30);
  expect(results.filter((r) => r.status === 'error')).toEqual([]);
  expect(results.filter((r) => r.status === 'warn' && !(r.id in JUSTIFIED_WARNINGS))).toEqual([]);
  // The justified ones are still what they were (a change of Apollo's would show here).
  expect(results.filter((r) => r.status === 'warn').map((r) => r.id).sort()).toEqual(Object.keys(JUSTIFIED_WARNINGS).sort());
  // Notices are MAYs; the gateway's are GETs refused by Apollo's CSRF rule (the audits send no preflight header).
  expect(results.filter((r) => r.status === 'ok').length).toBeGreaterThan(results.length - 10);
}, 60_000);
