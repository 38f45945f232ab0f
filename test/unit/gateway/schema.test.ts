import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printGatewaySchema } from '../../../src/graphql/emit-schema';

test('schema.graphql is the schema the code builds (run `npm run schema` after changing it)', async () => {
  const committed = readFileSync(join(__dirname, '../../../schema.graphql'), 'utf8');
  expect(await printGatewaySchema()).toBe(committed);
});

test('the schema has the names the README documents', async () => {
  const sdl = await printGatewaySchema();
  for (const needle of [
    'connectUrl(',
    'session: Session!',
    'vehicles: [Vehicle!]!',
    'vehicle(id: ID): Vehicle!',
    'createSession: SessionToken!',
    'exchangeCode(',
    'expiresAt: DateTimeISO!',
  ]) {
    expect(sdl).toContain(needle);
  }
});
