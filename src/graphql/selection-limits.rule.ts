import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

/**
 * Bounds what validation may spend. graphql-js's rules walk every selection with type information,
 * and OverlappingFieldsCanBeMerged compares every pair of fields that land on the same answer field:
 * a few hundred repeated fields cost milliseconds, up to its own abort after ~100 ms. This rule
 * counts with plain walks of the syntax tree before any other rule has seen an operation:
 * - selections (fields and fragments, a fragment once per spread): at most `maxSelections`;
 * - fields landing on one answer field (`a: odometer` twice, repeated parents, fragments): at most
 *   `maxRepeats`, which bounds the pairs that rule compares.
 * Past a bound it reports that and hands the other rules an empty document, so a refused query costs
 * its parse and these walks.
 */

export interface SelectionLimits {
  maxSelections: number;
  maxRepeats: number;
}

const NOTHING: DocumentNode = { kind: Kind.DOCUMENT, definitions: [] };

/**
 * Selections of the document: the larger of every operation's selections with its fragments
 * expanded, and the selections written in the document (unused fragments are walked too). Counting
 * stops past `limit`, so a fragment that doubles at each level costs no more than the limit.
 */
export function countSelections(document: DocumentNode, limit: number): number {
  const fragments = fragmentsOf(document);
  const expanded = new Map<string, number>();

  const count = (set: SelectionSetNode, expand: boolean, budget: number): number => {
    let n = 0;
    for (const s of set.selections) {
      n += 1;
      if (s.kind === Kind.FRAGMENT_SPREAD) {
        if (expand) n += fragmentSize(s.name.value, budget - n);
      } else if (s.selectionSet) {
        n += count(s.selectionSet, expand, budget - n);
      }
      if (n > budget) return n;
    }
    return n;
  };
  // A cycle counts as 0 here; NoFragmentCyclesRule reports it when the count passes.
  const fragmentSize = (name: string, budget: number): number => {
    const known = expanded.get(name);
    if (known !== undefined) return known;
    expanded.set(name, 0);
    const set = fragments.get(name)?.selectionSet;
    const size = set ? count(set, true, budget) : 0;
    expanded.set(name, size);
    return size;
  };

  let written = 0;
  let executed = 0;
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION && d.kind !== Kind.FRAGMENT_DEFINITION) continue;
    written += count(d.selectionSet, false, limit - written);
    if (d.kind === Kind.OPERATION_DEFINITION) executed += count(d.selectionSet, true, limit - executed);
    if (written > limit || executed > limit) break;
  }
  return Math.max(written, executed);
}

/**
 * The first answer field (`vehicles.odometer`) that more than `limit` fields land on, merged as
 * execution merges them: aliases of one name, inline fragments, fragment spreads, and the children
 * of every parent field of one name. Linear in the expanded selections, which countSelections bounds.
 */
export function firstOverRepeated(document: DocumentNode, limit: number): { path: string; count: number } | null {
  const fragments = fragmentsOf(document);

  // `expanding`: fragments spread on the way here; a spread of one of them again is a cycle
  // (NoFragmentCyclesRule reports it) and is not followed.
  const check = (sets: SelectionSetNode[], path: string, expanding: ReadonlySet<string>): { path: string; count: number } | null => {
    const byName = new Map<string, FieldNode[]>();
    const spread = new Set(expanding); // a fragment spread twice into one place merges once
    const collect = (set: SelectionSetNode) => {
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          const name = (s.alias ?? s.name).value;
          const list = byName.get(name);
          if (list) list.push(s);
          else byName.set(name, [s]);
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          collect(s.selectionSet);
        } else if (!spread.has(s.name.value)) {
          spread.add(s.name.value);
          const fragment = fragments.get(s.name.value);
          if (fragment) collect(fragment.selectionSet);
        }
      }
    };
    for (const set of sets) collect(set);
    for (const [name, fields] of byName) {
      const at = path ? `${path}.${name}` : name;
      if (fields.length > limit) return { path: at, count: fields.length };
      const children = fields.flatMap((f) => (f.selectionSet ? [f.selectionSet] : []));
      const found = children.length ? check(children, at, spread) : null;
      if (found) return found;
    }
    return null;
  };

  for (const d of document.definitions) {
    const found = d.kind === Kind.OPERATION_DEFINITION ? check([d.selectionSet], '', new Set()) : null;
    if (found) return found;
  }
  return null;
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  return fragments;
}

export function selectionLimitsRule(limits: SelectionLimits) {
  return (context: ValidationContext): ASTVisitor => ({
    Document(document) {
      let refusal: string | null = null;
      if (countSelections(document, limits.maxSelections) > limits.maxSelections) {
        refusal = `The query has more than ${limits.maxSelections} selections (fields and fragments, a fragment counted at each spread).`;
      } else {
        const repeated = firstOverRepeated(document, limits.maxRepeats);
        if (repeated) refusal = `The query selects ${repeated.path} ${repeated.count} times (repeated, aliased to one name, or through fragments); the limit is ${limits.maxRepeats}.`;
      }
      if (!refusal) return undefined;
      context.reportError(new GraphQLError(refusal));
      // A node returned from a visitor replaces the one visited: every rule now walks an empty document.
      return NOTHING;
    },
  });
}
