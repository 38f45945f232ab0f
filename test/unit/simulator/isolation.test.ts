import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The simulator is a product of its own: it must not import anything of the gateway. */
test('src/simulator imports nothing outside itself', () => {
  const dir = join(__dirname, '../../../src/simulator');
  const offenders: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const m of source.matchAll(/from '([^']+)'/g)) {
      if (m[1]!.startsWith('..')) offenders.push(`${file}: ${m[1]}`);
    }
  }
  expect(readdirSync(dir).length).toBeGreaterThan(10);
  expect(offenders).toEqual([]);
});
