import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { App } from './index.js';
import { routePlugin } from './route-plugin.js';

describe('routePlugin', () => {
  it('gives an anonymous plugin a name instead of its source text', async () => {
    const names: string[] = [];
    const app = Fastify();
    await app.register(async (scope) => void names.push(scope.pluginName));
    await app.register(
      routePlugin('things routes', async (scope: App) => {
        names.push(scope.pluginName);
      }),
    );
    await app.ready();
    expect(names[0]).toContain('names.push'); // what an unnamed plugin is called
    expect(names[1]).toBe('things routes');
    await app.close();
  });
});
