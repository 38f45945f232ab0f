import { enableCompileCache } from 'node:module';

/**
 * Imported first by main.ts, before the modules it loads: V8 keeps the compiled code of every module
 * on disk (by default in the system's temporary directory; `NODE_COMPILE_CACHE` chooses another), so
 * a start after the first on the same machine or image skips compiling them. Best effort: where the
 * directory cannot be written, modules are compiled as without it.
 */
try {
  enableCompileCache();
} catch {
  // a Node without it, or a file system that refuses: start as without it
}
