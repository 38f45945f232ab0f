import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import { countClient, countRequest } from '../metrics';
import { clientLabels } from './client-labels';

/**
 * Counts GraphQL requests by operation and outcome (`ok`, or the first error's code). The operation
 * label is built from the schema's root fields (`query:vehicles`), never from client-chosen
 * operation names, so a client cannot blow up the number of series. The client's name and version
 * are counted in a counter of their own (bounded, see client-labels.ts): in the same series they
 * would multiply the operation × outcome series by every client.
 */
export function metricsPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      let operation = 'invalid';
      return {
        async didResolveOperation({ operation: op }) {
          if (!op) return;
          const fields = op.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));
          operation = `${op.operation}:${[...new Set(fields)].sort().slice(0, 3).join(',') || 'fragment'}`;
        },
        async willSendResponse({ request, response, errors }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : null;
          const first = body?.errors?.[0]?.extensions?.code ?? errors?.[0]?.extensions?.code;
          // A refused untrusted document ran as a stand-in (trusted-documents.ts): not its operation.
          if (first === 'PERSISTED_QUERY_NOT_ALLOWED') operation = 'invalid';
          countRequest(operation, typeof first === 'string' ? first : 'ok');
          const headers = request.http?.headers;
          countClient(clientLabels.of(headers?.get('apollographql-client-name'), headers?.get('apollographql-client-version')));
        },
      };
    },
  };
}
