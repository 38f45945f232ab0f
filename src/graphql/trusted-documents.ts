import type { ApolloServerPlugin } from '@apollo/server';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GraphQLError, Kind, type OperationDefinitionNode } from 'graphql';
import { z } from 'zod';
import { StartupError } from '../errors';

/**
 * Trusted documents (GRAPHQL_TRUSTED_DOCUMENTS): an Apollo persisted-query manifest, as Apollo
 * iOS/Kotlin codegen and `generate-persisted-query-manifest` emit it. Only its operations run: sent
 * by id (`extensions.persistedQuery.sha256Hash`, also over GET), or as the identical text. Anything
 * else fails with PERSISTED_QUERY_NOT_ALLOWED before it is executed, so it costs no upstream call.
 * Outside production, introspection alone stays allowed, so that Apollo Sandbox loads the schema.
 */

const MANIFEST = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string().min(1), name: z.string().optional(), type: z.enum(['query', 'mutation', 'subscription']).optional(), body: z.string().min(1) })),
});

export interface TrustedDocuments {
  /** Body by manifest id, and by the SHA-256 of the body (what an APQ client sends as its hash). */
  byId: ReadonlyMap<string, string>;
  bodies: ReadonlySet<string>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The manifest's operations, or the first problem with it (a pure function: table-tested). */
export function parseManifest(json: unknown): TrustedDocuments | { problem: string } {
  const parsed = MANIFEST.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `not an Apollo persisted-query manifest (${issue.path.join('.') || 'the file'}: ${issue.message})` };
  }
  const byId = new Map<string, string>();
  for (const op of parsed.data.operations) {
    const known = byId.get(op.id);
    if (known !== undefined && known !== op.body) return { problem: `two operations share the id ${op.id}` };
    byId.set(op.id, op.body);
    byId.set(sha256(op.body), op.body);
  }
  return { byId, bodies: new Set(parsed.data.operations.map((op) => op.body)) };
}

/** Reads and checks the manifest at start; a problem stops the gateway with one line naming the variable. */
export async function loadTrustedDocuments(path: string): Promise<TrustedDocuments> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new StartupError(`GRAPHQL_TRUSTED_DOCUMENTS: cannot read ${path} as JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const docs = parseManifest(json);
  if ('problem' in docs) throw new StartupError(`GRAPHQL_TRUSTED_DOCUMENTS: ${path} is ${docs.problem}`);
  return docs;
}

export const PERSISTED_QUERY_NOT_ALLOWED = 'PERSISTED_QUERY_NOT_ALLOWED';

const notAllowed = () =>
  new GraphQLError("This operation is not one of the gateway's trusted documents.", { extensions: { code: PERSISTED_QUERY_NOT_ALLOWED, http: { status: 400 } } });

/** Every root selection is `__schema`, `__type` or `__typename`: what Sandbox asks to load the schema. */
export function isIntrospectionOnly(operation: OperationDefinitionNode): boolean {
  return operation.operation === 'query' && operation.selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.name.value.startsWith('__'));
}

/**
 * A refused request runs as this instead of what it sent: Apollo answers an error thrown from
 * didResolveOperation (and only there) as the request's own error, with its status, and the
 * refused text is never parsed or validated.
 */
const REFUSED = 'query PersistedQueryNotAllowed { __typename }';

export function trustedDocumentsPlugin(docs: TrustedDocuments, options: { allowIntrospection: boolean }): ApolloServerPlugin {
  const refused = { async didResolveOperation() { throw notAllowed(); } };
  return {
    async requestDidStart({ request }) {
      const { persistedQuery, ...otherExtensions } = request.extensions ?? {};
      const hash = (persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
      // Without the extension Apollo neither re-checks the hash (a manifest id need not be a
      // SHA-256 of the text) nor registers the document again.
      const runAs = (query: string) => {
        request.query = query;
        request.extensions = otherExtensions;
      };
      if (request.query === undefined && typeof hash === 'string') {
        const body = docs.byId.get(hash);
        runAs(body ?? REFUSED);
        return body === undefined ? refused : undefined;
      }
      if (request.query === undefined || docs.bodies.has(request.query)) return;
      if (!options.allowIntrospection) {
        runAs(REFUSED);
        return refused;
      }
      // Outside production an unlisted document may still be introspection: decided once parsed.
      return {
        async didResolveOperation({ operation }) {
          if (!operation || !isIntrospectionOnly(operation)) throw notAllowed();
        },
      };
    },
  };
}
