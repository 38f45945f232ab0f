import { createHash } from 'node:crypto';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { ClientLabels } from '../../../src/graphql/client-labels';
import { isIntrospectionOnly, parseManifest } from '../../../src/graphql/trusted-documents';

const sha256 = (t: string) => createHash('sha256').update(t).digest('hex');
const manifest = (operations: unknown[], extra: Record<string, unknown> = {}) => ({ format: 'apollo-persisted-query-manifest', version: 1, operations, ...extra });

describe('parseManifest', () => {
  test('ids and the SHA-256 of each body both find the body', () => {
    const docs = parseManifest(manifest([{ id: 'a1', name: 'A', type: 'query', body: '{ a }' }, { id: sha256('{ b }'), body: '{ b }' }]));
    if ('problem' in docs) throw new Error(docs.problem);
    expect(docs.byId.get('a1')).toBe('{ a }');
    expect(docs.byId.get(sha256('{ a }'))).toBe('{ a }');
    expect(docs.byId.get(sha256('{ b }'))).toBe('{ b }');
    expect([...docs.bodies].sort()).toEqual(['{ a }', '{ b }']);
    expect(docs.byId.get('nope')).toBeUndefined();
  });

  test.each([
    ['another format', { format: 'relay', version: 1, operations: [] }, /format/],
    ['another version', manifest([], { version: 2 }), /version/],
    ['no operations list', { format: 'apollo-persisted-query-manifest', version: 1 }, /operations/],
    ['an operation without body', manifest([{ id: 'x' }]), /operations\.0\.body/],
    ['an empty id', manifest([{ id: '', body: '{ a }' }]), /operations\.0\.id/],
    ['an unknown type', manifest([{ id: 'x', body: '{ a }', type: 'query2' }]), /operations\.0\.type/],
    ['one id for two bodies', manifest([{ id: 'x', body: '{ a }' }, { id: 'x', body: '{ b }' }]), /two operations share the id x/],
    ['not an object', [1, 2], /not an Apollo persisted-query manifest/],
  ])('%s: refused with the reason', (_what, json, reason) => {
    const docs = parseManifest(json);
    expect('problem' in docs && docs.problem).toMatch(reason);
  });

  test('the same operation listed twice is fine', () => {
    expect('problem' in parseManifest(manifest([{ id: 'x', body: '{ a }' }, { id: 'x', body: '{ a }' }]))).toBe(false);
  });
});

test.each([
  ['{ __schema { types { name } } }', true],
  ['{ __type(name: "Vehicle") { name } __typename }', true],
  ['{ __typename vehicle { id } }', false],
  ['{ ...F } fragment F on Query { __typename }', false],
  ['mutation { __typename }', false],
])('isIntrospectionOnly(%s) = %s', (doc, expected) => {
  const op = parse(doc).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  expect(isIntrospectionOnly(op)).toBe(expected);
});

describe('ClientLabels: bounded label values', () => {
  test.each([
    [undefined, undefined, 'none', 'none'],
    ['', '  ', 'none', 'none'],
    [' ios ', '1.0', 'ios', '1.0'],
    ['com.example.app', '2.4.1+build.7', 'com.example.app', '2.4.1+build.7'],
    ['bad name', '1.0', 'invalid', 'other'],
    ['x'.repeat(65), '1', 'invalid', 'other'],
    ['ios', 'v{1}', 'ios', 'invalid'],
    ['ios', undefined, 'ios', 'none'],
  ])('(%j, %j) → %s / %s', (name, version, n, v) => {
    expect(new ClientLabels().of(name, version)).toEqual({ client_name: n, client_version: v });
  });

  test('past the budget, new names and versions are "other"; known ones keep their label', () => {
    const labels = new ClientLabels(2, 2);
    expect(labels.of('a', '1')).toEqual({ client_name: 'a', client_version: '1' });
    expect(labels.of('b', '1')).toEqual({ client_name: 'b', client_version: '1' });
    expect(labels.of('c', '1')).toEqual({ client_name: 'other', client_version: 'other' });
    expect(labels.of('a', '2')).toEqual({ client_name: 'a', client_version: '2' });
    expect(labels.of('a', '3')).toEqual({ client_name: 'a', client_version: 'other' });
    expect(labels.of('a', '1')).toEqual({ client_name: 'a', client_version: '1' });
    expect(labels.of('b', undefined)).toEqual({ client_name: 'b', client_version: 'none' });
  });
});
