import express, { type Request, type Response, type Router } from 'express';
import type { AuthState } from './auth.state';
import { parseFault, type Faults } from './faults';
import { MUTABLE_SETTINGS, type ResolvedOptions } from './options';
import { checkV3Setting } from './v3/settings';
import type { Recorder } from './recorder';
import { FIXED_USERS, userFor } from './world';

/**
 * `/__simulator/*`: the test and developer controls. They are not part of Smartcar's API, are never
 * recorded, and are never hit by faults. Loopback-only by default (the simulator binds 127.0.0.1).
 */

export function adminRoutes(opts: ResolvedOptions, auth: AuthState, recorder: Recorder, faults: Faults, configured: () => void = () => {}): Router {
  const router = express.Router();
  router.use(express.json({ limit: '16kb' }));

  const settings = () => Object.fromEntries(MUTABLE_SETTINGS.map((k) => [k, opts[k]]));

  router.get('/', (_req, res) => {
    res.json({
      clients: opts.clients.map((c) => ({ clientId: c.clientId, clientSecret: c.clientSecret, redirectUris: c.redirectUris })),
      settings: settings(),
      users: Object.keys(FIXED_USERS),
    });
  });

  router.get('/requests', (req, res) => {
    const since = Number(req.query.since ?? 0);
    res.json({ requests: recorder.list(Number.isFinite(since) ? since : 0) });
  });
  router.delete('/requests', (_req, res) => {
    recorder.clear();
    res.status(204).end();
  });

  router.get('/config', (_req, res) => {
    res.json(settings());
  });
  router.patch('/config', (req: Request, res: Response) => {
    const patch = (req.body ?? {}) as Record<string, unknown>;
    const problems: string[] = [];
    for (const [k, v] of Object.entries(patch)) {
      if (!(MUTABLE_SETTINGS as readonly string[]).includes(k)) problems.push(`unknown setting "${k}"`);
      else if (!(checkV3Setting(k, v) ?? (k === 'batchErrorHeaders' ? typeof v === 'boolean' : typeof v === 'number' && v >= 0))) problems.push(`bad value for "${k}"`);
    }
    if (problems.length) {
      res.status(400).json({ error: problems.join('; ') });
      return;
    }
    Object.assign(opts, patch);
    configured();
    res.json(settings());
  });

  router.get('/faults', (_req, res) => {
    res.json({ faults: faults.list() });
  });
  router.post('/faults', (req, res) => {
    const spec = parseFault(req.body);
    if (typeof spec === 'string') {
      res.status(400).json({ error: spec });
      return;
    }
    res.status(201).json(faults.add(spec));
  });
  router.delete('/faults', (_req, res) => {
    faults.remove();
    res.status(204).end();
  });
  router.delete('/faults/:id', (req, res) => {
    faults.remove(req.params.id);
    res.status(204).end();
  });

  router.get('/users/:username', (req, res) => {
    res.json(userFor(req.params.username));
  });
  router.post('/users/:username/expire-access-tokens', (req, res) => {
    res.json({ expired: auth.expireAccessTokens(req.params.username) });
  });
  router.post('/users/:username/revoke-refresh-tokens', (req, res) => {
    res.json({ revoked: auth.revokeRefreshTokens(req.params.username) });
  });

  return router;
}
