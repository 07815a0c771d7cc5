import { compileTemplate, type CompiledTemplate } from './template-spec.js';

const MAX_ENTRIES = 256;
const cache = new Map<string, CompiledTemplate>();

/** Compiling parses every Liquid string; templates change rarely and render often. Keyed by source text. */
export function compileCached(source: string): CompiledTemplate {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source);
    cache.set(source, hit);
    return hit;
  }
  const compiled = compileTemplate(source);
  cache.set(source, compiled);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return compiled;
}
