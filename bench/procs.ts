import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startPrivateRedis as startRedisServer } from '../test/support/redis-server';

export { freePort };

/**
 * Child processes of the benchmark: every one is tracked and killed when the harness exits, on
 * success, on error, on Ctrl-C and on the watchdog. CPU time and memory are read from /proc, so
 * what is measured is the process's own work (every thread), not the harness's.
 */

const children = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills every child still running (synchronous: also usable from process.on('exit')). */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

process.on('exit', killAll);

export const isRunning = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => isRunning(child) && child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User + system CPU time of a process (all its threads), in ms. Resolution: one clock tick (10 ms). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond();
}

/** Resident set size now and its peak over the process's life (VmHWM), in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Samples a process's RSS every `everyMs` until stopped; returns the highest seen (MB). */
export function sampleRss(pid: number, everyMs = 200): { stop(): number } {
  let max = 0;
  const tick = () => {
    try {
      max = Math.max(max, memoryMb(pid).rss);
    } catch {
      // the process is gone
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      tick();
      return max;
    },
  };
}

export interface PrivateRedis {
  url: string;
  port: number;
  pid: number;
  /** Commands Redis has processed so far (INFO stats), this query excluded. */
  commands(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The tests' throw-away redis-server (a free loopback port, nothing persisted, never the one on
 * 6379), tracked like every child of the harness and able to count the commands it processed.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const redis = await startRedisServer();
  track(redis.process);
  return { url: redis.url, port: redis.port, pid: redis.process.pid!, commands: () => commandsProcessed(redis.port), stop: redis.stop };
}

/**
 * Redis MONITOR on a socket of its own: the commands clients send (round trips; commands run inside
 * Lua scripts are left out), by name, until `stop()`. Only for single, isolated requests: MONITOR
 * slows Redis down.
 */
export async function monitorRedis(port: number): Promise<{ stop(): Promise<Record<string, number>> }> {
  const socket = connect(port, '127.0.0.1');
  const counts: Record<string, number> = {};
  let buffer = '';
  await new Promise<void>((resolve, reject) => {
    socket.setTimeout(10_000, () => reject(new Error('redis MONITOR: no answer')));
    socket.once('error', reject);
    socket.once('connect', () => socket.write('MONITOR\r\n'));
    socket.on('data', (d) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (line === '+OK') {
          resolve();
          continue;
        }
        const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
        if (m && m[1] !== 'lua') counts[m[2]!.toUpperCase()] = (counts[m[2]!.toUpperCase()] ?? 0) + 1;
      }
    });
  });
  socket.setTimeout(0);
  return {
    stop: async () => {
      await sleep(30); // the last commands reach the monitor
      socket.destroy();
      return counts;
    },
  };
}

/** `total_commands_processed` from INFO stats, minus the INFO itself. */
async function commandsProcessed(port: number): Promise<number> {
  const reply = await rawCommand(port, 'INFO stats\r\n', (s) => /total_commands_processed:\d+\r\n/.test(s));
  const n = /total_commands_processed:(\d+)/.exec(reply)?.[1];
  if (n === undefined) throw new Error(`redis INFO answered ${reply.slice(0, 100)}`);
  return Number(n) - 1;
}

function rawCommand(port: number, command: string, complete: (reply: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error('redis did not answer in 5 s'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(command));
    socket.on('data', (d) => {
      reply += d.toString();
      if (complete(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
  });
}
