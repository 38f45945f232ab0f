import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import { metrics } from '../metrics';

/**
 * Counts GraphQL requests by operation and outcome (`ok`, or the first error's code). The operation
 * label is built from the schema's root fields (`query:vehicles`), never from client-chosen
 * operation names, so a client cannot blow up the number of series.
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
        async willSendResponse({ response, errors }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : null;
          const first = body?.errors?.[0]?.extensions?.code ?? errors?.[0]?.extensions?.code;
          metrics.requests.inc({ operation, outcome: typeof first === 'string' ? first : 'ok' });
        },
      };
    },
  };
}
