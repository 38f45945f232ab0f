import { HEAP_GROWING_PERCENT, tuneHeap } from '../../../src/heap';

test('the heap growing factor is set unless node was started with its own', () => {
  expect(HEAP_GROWING_PERCENT).toBe(50);
  expect(tuneHeap(['--enable-source-maps'])).toBe(true);
  expect(tuneHeap(['--heap-growing-percent=100'])).toBe(false);
  expect(tuneHeap(['--heap_growing_percent', '20'])).toBe(false);
});
