import type { App } from './index.js';

/**
 * Names an encapsulated route plugin. Fastify names an anonymous plugin after its source text, and
 * `@fastify/otel` copies that name into every handler span (`hook.name`, and the span name when the
 * handler is anonymous too): kilobytes of code per span. Use it for every plugin a service registers.
 */
export function routePlugin<T extends (app: App) => Promise<void>>(name: string, plugin: T): T {
  Object.defineProperty(plugin, Symbol.for('fastify.display-name'), { value: name });
  return plugin;
}
