import { ApolloServer, HeaderMap } from '@apollo/server';
import { createServer, type IncomingMessage } from 'node:http';

/**
 * The ceiling row: a bare ApolloServer on `node:http` answering a fixed `{ vehicle { make model year } }`
 * (no framework, no session, no Redis, no Smartcar): what Apollo itself costs per request on this
 * machine, the bound the gateway's GraphQL path is compared with. Bodies are bounded like the
 * gateway's (64 kB) and parsed as JSON; everything else is Apollo's defaults, CSRF prevention included.
 */

const typeDefs = `type Vehicle { make: String! model: String! year: Int! }
type Query { vehicle: Vehicle! }`;
const VEHICLE = { make: 'TESLA', model: 'Model 3', year: 2024 };

function body(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 64 * 1024) return reject(new Error('body too large'));
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : (JSON.parse(text) as unknown));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

async function main(): Promise<void> {
  const apollo = new ApolloServer({ typeDefs, resolvers: { Query: { vehicle: () => VEHICLE } }, introspection: false });
  await apollo.start();
  const server = createServer((req, res) => {
    void (async () => {
      try {
        const headers = new HeaderMap();
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const url = new URL(req.url ?? '/', 'http://localhost');
        const answer = await apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body: req.method === 'POST' ? await body(req) : undefined },
          context: async () => ({}),
        });
        for (const [k, v] of answer.headers) res.setHeader(k, v);
        res.statusCode = answer.status ?? 200;
        if (answer.body.kind === 'complete') return void res.end(answer.body.string);
        for await (const chunk of answer.body.asyncIterator) res.write(chunk);
        res.end();
      } catch {
        res.statusCode = 400;
        res.end('{"errors":[{"message":"bad request"}]}');
      }
    })();
  });
  server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  const stop = () => void apollo.stop().finally(() => server.close(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
