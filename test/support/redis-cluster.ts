import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './redis-server';

/**
 * A private three-master Redis Cluster on loopback, joined with `redis-cli --cluster create`; with a
 * `password`, every node requires it (`requirepass`, and `masterauth` between nodes).
 */
export interface PrivateCluster {
  nodes: { host: string; port: number }[];
  password: string | null;
  stop(): Promise<void>;
}

export function hasClusterTools(): boolean {
  try {
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startPrivateCluster(options: { password?: string } = {}): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const auth = options.password ? ['--requirepass', options.password, '--masterauth', options.password] : [];
  const cli = options.password ? ['-a', options.password, '--no-auth-warning'] : [];
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no', ...auth],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      for (let i = 0; ; i++) {
        try {
          execFileSync('redis-cli', [...cli, '-p', String(port), 'ping'], { stdio: 'pipe' });
          break;
        } catch {
          if (i > 100) throw new Error(`cluster node ${port} did not start`);
          await sleep(50);
        }
      }
    }
    execFileSync('redis-cli', [...cli, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe' });
    for (let i = 0; ; i++) {
      const info = ports.map((p) => execFileSync('redis-cli', [...cli, '-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }));
      if (info.every((t) => t.includes('cluster_state:ok'))) break;
      if (i > 200) throw new Error('cluster did not reach cluster_state:ok');
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), password: options.password ?? null, stop };
}
