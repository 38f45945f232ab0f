import type { ApolloServerPlugin } from '@apollo/server';

/**
 * A GraphQL answer with no data because the gateway's own store is down is a 503, so load balancers
 * and clients see the outage without parsing the body. Partial answers stay 200.
 */
export function outageStatusPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (data == null && errors?.some((e) => e.extensions?.code === 'SERVICE_UNAVAILABLE')) response.http.status = 503;
        },
      };
    },
  };
}
