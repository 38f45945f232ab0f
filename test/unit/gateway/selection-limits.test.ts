import { parse } from 'graphql';
import { countSelections, firstOverRepeated } from '../../../src/graphql/selection-limits.rule';

test.each([
  ['{ session { connected } }', 2],
  ['{ vehicles { id odometer { distance } } }', 4],
  // A fragment counts at each spread, with its own selections.
  ['{ vehicle { ...F ...F } } fragment F on Vehicle { make model }', 7],
  ['{ vehicle { ... on Vehicle { make } } }', 3],
  // Unused fragments are walked by validation too: what is written counts when it is more.
  ['{ session { connected } } fragment U on Vehicle { a b c d e }', 7],
  // Two operations: both are validated.
  ['query A { session { connected } } query B { session { connected } }', 4],
  // A cycle counts once (NoFragmentCyclesRule reports it).
  ['{ vehicle { ...A } } fragment A on Vehicle { make ...A }', 4],
])('%s has %i selections', (query, n) => {
  expect(countSelections(parse(query), 1000)).toBe(n);
});

test('counting stops past the limit, whatever a fragment bomb would expand to', () => {
  const levels = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Vehicle { ...F${i + 1} ...F${i + 1} }`).join(' ');
  const n = countSelections(parse(`{ vehicle { ...F0 } } ${levels} fragment F30 on Vehicle { make }`), 300);
  expect(n).toBeGreaterThan(300);
  expect(n).toBeLessThan(1000);
});

test.each([
  ['{ vehicles { make make } }', 2, null],
  ['{ vehicles { make make make } }', 2, { path: 'vehicles.make', count: 3 }],
  // An alias lands on its own answer field; aliasing to an existing name lands on that one.
  ['{ vehicles { a: make b: make make } }', 1, null],
  ['{ vehicles { make m: model m: year m: vin } }', 2, { path: 'vehicles.m', count: 3 }],
  // Children of parents with one answer name merge.
  ['{ vehicles { make make } vehicles { make } }', 1, { path: 'vehicles', count: 2 }],
  ['{ vehicles { make make } vehicles { make } }', 2, { path: 'vehicles.make', count: 3 }],
  ['{ vehicles { make make } vehicles { make } }', 3, null],
  ['{ a: vehicles { make make } b: vehicles { make } }', 2, null],
  // Through inline fragments and fragments; one fragment spread twice merges once.
  ['{ vehicle { make ... on Vehicle { make } ...F } } fragment F on Vehicle { make }', 2, { path: 'vehicle.make', count: 3 }],
  ['{ vehicle { make ...F ...F } } fragment F on Vehicle { make }', 2, null],
  // A cycle is not followed.
  ['{ vehicle { ...A } } fragment A on Vehicle { make ...A }', 1, null],
])('%s with at most %i at one answer field: %p', (query, limit, expected) => {
  expect(firstOverRepeated(parse(query), limit)).toEqual(expected);
});
