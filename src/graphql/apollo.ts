import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { GraphQLSchema, ValidationRule } from 'graphql';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { GraphQLContext } from './context';
import { createFormatError, errorLogPlugin } from './format-error';
import { metricsPlugin } from './metrics.plugin';
import { selectionLimitsRule } from './selection-limits.rule';
import { outageStatusPlugin } from './status.plugin';
import { trustedDocumentsPlugin, type TrustedDocuments } from './trusted-documents';

export interface ApolloOptions {
  schema: GraphQLSchema;
  limits: Config['limits'];
  production: boolean;
  logger: Logger;
  /** Drains the HTTP edge when Apollo stops (the Fastify integration's drain plugin). */
  drain: ApolloServerPlugin;
  /** Automatic persisted queries: the documents' cache (Redis, shared by every instance) and their life. */
  apq: { cache: KeyValueCache<string>; ttlSec: number };
  /** Only these operations run (GRAPHQL_TRUSTED_DOCUMENTS); null: any. */
  trustedDocuments: TrustedDocuments | null;
}

/** Apollo Server with the gateway's abuse limits, error boundary, metrics and landing page; started. */
export async function startApollo({ schema, limits, production, logger, drain, apq, trustedDocuments }: ApolloOptions): Promise<ApolloServer<GraphQLContext>> {
  const armor = armorFor(limits);
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    validationRules: validationRulesFor(limits, armor),
    parseOptions: { maxTokens: limits.maxTokens },
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    // GET operations too (Apollo's mobile clients send queries as GET), under Apollo's CSRF rule: a
    // request needs a non-simple content type or a preflight header (`x-apollo-operation-name`,
    // `apollo-require-preflight`); mutations only over POST (Apollo answers a GET mutation 405).
    csrfPrevention: true,
    persistedQueries: { cache: apq.cache, ttl: apq.ttlSec },
    stopOnTerminationSignals: false, // main.ts owns the signals and stops everything in order
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    formatError: createFormatError(logger),
    plugins: [
      // First: a document that is not trusted is refused before anything else looks at it.
      ...(trustedDocuments ? [trustedDocumentsPlugin(trustedDocuments, { allowIntrospection: !production })] : []),
      ...armor.plugins,
      metricsPlugin(),
      errorLogPlugin(logger),
      outageStatusPlugin(),
      // Apollo's default cache-control plugin hooks every field (willResolveField) to compute HTTP
      // cache hints nobody uses here (answers are per session): −46 % CPU on a 10 × 9 dashboard
      // served from the readings cache (BENCHMARKS.md, "Performance problems").
      ApolloServerPluginCacheControlDisabled(),
      drain,
      production ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: true }),
    ],
  });
  await apollo.start();
  return apollo;
}

/**
 * Depth, aliases, tokens, cost and directives bounded before execution: one crafted query must not
 * fan out into hundreds of billed calls (the readings cap in SignalService is the last line).
 */
function armorFor(limits: Config['limits']) {
  return new ApolloArmor({
    // Introspection counts too: a deeply nested __schema query is the classic depth attack.
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: false },
    maxAliases: { n: limits.maxAliases },
    // Tokens are bounded by graphql-js's own parser option (startApollo): armor's Apollo plugin throws
    // from a plugin hook, which Apollo answers with a 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: limits.maxCost, ignoreIntrospection: false },
    maxDirectives: { n: 10 },
    // Apollo's hideSchemaDetailsFromClientErrors (startApollo) already drops "Did you mean" in production;
    // armor's plugin would add a hook to every request for nothing.
    blockFieldSuggestion: { enabled: false },
  }).protect();
}

/**
 * The validation rules of every operation, over HTTP and over WebSocket. First the selection limits,
 * so that a query with too many selections is refused before the costly rules walk it.
 */
export function validationRulesFor(limits: Config['limits'], armor = armorFor(limits)): ValidationRule[] {
  return [selectionLimitsRule({ maxSelections: limits.maxSelections, maxRepeats: 20 }), ...armor.validationRules];
}
