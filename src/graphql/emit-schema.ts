import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printSchema } from 'graphql';
import { buildGatewaySchema } from './schema';

/** `npm run schema`: writes schema.graphql at the repository root (committed; a test checks it). */
export async function printGatewaySchema(): Promise<string> {
  return `${printSchema(await buildGatewaySchema())}\n`;
}

if (require.main === module) {
  void printGatewaySchema().then((sdl) => {
    const file = join(__dirname, '..', '..', 'schema.graphql');
    writeFileSync(file, sdl);
    console.log(`wrote ${file}`);
  });
}
