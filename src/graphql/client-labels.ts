/**
 * `apollographql-client-name` / `apollographql-client-version` as metric labels, with bounded
 * cardinality: the headers are the client's to choose, and every distinct value would be a new
 * Prometheus series. The first `maxNames` names seen by this process keep their own label, and the
 * first `maxVersions` versions of each; later ones count as `other`. A missing header is `none`; a
 * value that is too long or has characters outside [A-Za-z0-9._+@/-] is `invalid`.
 */

export interface ClientLabel {
  client_name: string;
  client_version: string;
}

const SHAPE = /^[\w.+@/-]{1,64}$/;

export class ClientLabels {
  private readonly versions = new Map<string, Set<string>>();

  constructor(
    private readonly maxNames = 20,
    private readonly maxVersions = 10,
  ) {}

  of(name: string | undefined, version: string | undefined): ClientLabel {
    const n = this.name(name);
    return { client_name: n, client_version: this.version(n, version) };
  }

  private name(raw: string | undefined): string {
    const v = raw?.trim();
    if (!v) return 'none';
    if (!SHAPE.test(v)) return 'invalid';
    if (this.versions.has(v)) return v;
    if (this.versions.size >= this.maxNames) return 'other';
    this.versions.set(v, new Set());
    return v;
  }

  private version(name: string, raw: string | undefined): string {
    const v = raw?.trim();
    if (!v) return 'none';
    if (!SHAPE.test(v)) return 'invalid';
    const seen = this.versions.get(name);
    // A name without its own label (none, invalid, other) keeps no versions of its own either.
    if (!seen) return 'other';
    if (seen.has(v)) return v;
    if (seen.size >= this.maxVersions) return 'other';
    seen.add(v);
    return v;
  }
}

/** One budget per process, like the metrics registry it labels. */
export const clientLabels = new ClientLabels();
