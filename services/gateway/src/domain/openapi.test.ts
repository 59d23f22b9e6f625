import { describe, expect, it } from 'vitest';
import { mergeOpenApi, type OpenApiDocument } from './openapi.js';
import { PROXY_ROUTES, type ProxyRoute } from './routes.js';

const info = { title: 'Offload Cloud API', version: '1.0.0', description: 'all of it' };
const bearerAuth = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' };
const op = (extra: Record<string, unknown> = {}) => ({
  responses: { '200': { description: 'ok' } },
  ...extra,
});
const doc = (paths: Record<string, unknown>, components: Record<string, unknown> = {}): OpenApiDocument => ({
  openapi: '3.1.0',
  info: { title: 'x', version: '1' },
  paths: paths as OpenApiDocument['paths'],
  components: components as OpenApiDocument['components'],
});
const merge = (
  services: Array<[string, OpenApiDocument | undefined]>,
  routes: readonly ProxyRoute[] = PROXY_ROUTES,
) =>
  mergeOpenApi({
    info,
    gateway: doc({ '/v1/health': { get: op({ tags: ['health'] }) } }),
    services: services.map(([service, document]) => ({ service: service as 'tasks', document })),
    routes,
  });

describe('mergeOpenApi', () => {
  it('keeps only the paths the route table sends to the service that documents them', () => {
    const merged = merge([
      [
        'tasks',
        doc({ '/v1/tasks': { get: op() }, '/v1/notes/{id}': { get: op() }, '/v1/credits': { get: op() } }),
      ],
      [
        'identity',
        doc({
          '/v1/users/me': { get: op() },
          '/v1/users/erasures/{id}': { get: op() },
          '/admin': { get: op() },
        }),
      ],
    ]);
    expect(Object.keys(merged.paths!).sort()).toEqual(
      ['/v1/health', '/v1/notes/{id}', '/v1/tasks', '/v1/users/erasures/{id}', '/v1/users/me'].sort(),
    );
  });

  it('shares identical components and renames a clashing one, following every $ref', () => {
    const taskError = { type: 'object', properties: { code: { type: 'string' } } };
    const aiError = {
      type: 'object',
      properties: { code: { type: 'string' }, provider: { type: 'string' } },
    };
    const merged = merge([
      [
        'ai',
        doc(
          {
            '/v1/ai/chat': {
              post: op({
                responses: {
                  '502': {
                    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
                  },
                },
              }),
            },
          },
          {
            schemas: {
              Error: aiError,
              Wrapper: { type: 'object', properties: { e: { $ref: '#/components/schemas/Error' } } },
            },
            securitySchemes: { bearerAuth },
          },
        ),
      ],
      [
        'tasks',
        doc(
          {
            '/v1/tasks': {
              get: op({
                responses: {
                  '404': {
                    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
                  },
                },
              }),
            },
          },
          {
            schemas: {
              Error: taskError,
              Wrapper: { type: 'object', properties: { e: { $ref: '#/components/schemas/Error' } } },
            },
            securitySchemes: { bearerAuth },
          },
        ),
      ],
    ]);
    const schemas = merged.components!.schemas!;
    expect(schemas.Error).toEqual(aiError);
    expect(schemas.tasks_Error).toEqual(taskError);
    // Wrapper is textually the same in both documents but points at different errors: renamed too.
    expect(schemas.Wrapper).toEqual({
      type: 'object',
      properties: { e: { $ref: '#/components/schemas/Error' } },
    });
    expect(schemas.tasks_Wrapper).toEqual({
      type: 'object',
      properties: { e: { $ref: '#/components/schemas/tasks_Error' } },
    });
    const tasks404 = (merged.paths!['/v1/tasks']!.get as any).responses['404'];
    expect(tasks404.content['application/json'].schema.$ref).toBe('#/components/schemas/tasks_Error');
    const ai502 = (merged.paths!['/v1/ai/chat']!.post as any).responses['502'];
    expect(ai502.content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(merged.components!.securitySchemes).toEqual({ bearerAuth });
  });

  it('renames a clashing security scheme in the operations’ security requirements too', () => {
    const merged = merge([
      [
        'tasks',
        doc(
          { '/v1/tasks': { get: op({ security: [{ bearerAuth: [] }] }) } },
          { securitySchemes: { bearerAuth } },
        ),
      ],
      [
        'billing',
        doc(
          { '/v1/subscription': { get: op({ security: [{ bearerAuth: [] }] }) } },
          { securitySchemes: { bearerAuth: { type: 'apiKey', in: 'header', name: 'x-key' } } },
        ),
      ],
    ]);
    expect(Object.keys(merged.components!.securitySchemes!).sort()).toEqual([
      'bearerAuth',
      'billing_bearerAuth',
    ]);
    expect((merged.paths!['/v1/subscription']!.get as any).security).toEqual([{ billing_bearerAuth: [] }]);
    expect((merged.paths!['/v1/tasks']!.get as any).security).toEqual([{ bearerAuth: [] }]);
  });

  it('keeps operation ids unique', () => {
    const merged = merge([
      ['tasks', doc({ '/v1/tasks': { get: op({ operationId: 'list' }) } })],
      ['usage', doc({ '/v1/usage': { get: op({ operationId: 'list' }) } })],
    ]);
    expect((merged.paths!['/v1/tasks']!.get as any).operationId).toBe('list');
    expect((merged.paths!['/v1/usage']!.get as any).operationId).toBe('usage_list');
  });

  it('adds the gateway’s 429 where a limit applies and 503 everywhere proxied; marks deprecated prefixes', () => {
    const routes: ProxyRoute[] = [
      ...PROXY_ROUTES,
      {
        prefix: '/v1/legacy',
        service: 'tasks',
        access: 'bearer',
        limits: ['user'],
        deprecation: { since: '2026-01-01', sunset: '2026-06-01' },
      },
    ];
    const merged = merge(
      [
        ['tasks', doc({ '/v1/tasks': { get: op() }, '/v1/legacy/x': { get: op() } })],
        ['identity', doc({ '/v1/.well-known/jwks.json': { get: op() } })],
      ],
      routes,
    );
    const tasks = merged.paths!['/v1/tasks']!.get as any;
    expect(Object.keys(tasks.responses).sort()).toEqual(['200', '429', '503']);
    expect(tasks.deprecated).toBeUndefined();
    expect((merged.paths!['/v1/legacy/x']!.get as any).deprecated).toBe(true);
    const jwks = merged.paths!['/v1/.well-known/jwks.json']!.get as any;
    expect(Object.keys(jwks.responses).sort()).toEqual(['200', '503']);
    // The gateway's own routes are left as they are.
    expect(Object.keys((merged.paths!['/v1/health']!.get as any).responses)).toEqual(['200']);
  });

  it('says which services were missing, and lists operation tags in order', () => {
    const merged = merge([
      ['identity', doc({ '/v1/users/me': { get: op({ tags: ['users'] }) } })],
      ['billing', undefined],
      ['tasks', doc({ '/v1/tasks': { get: op({ tags: ['tasks'] }), post: op({ tags: ['tasks'] }) } })],
    ]);
    expect(merged['x-offload-services']).toEqual({ identity: 'ok', billing: 'unavailable', tasks: 'ok' });
    expect(merged.info!.description).toBe(
      'all of it\n\nNot available right now (their operations are missing): billing.',
    );
    expect(merged.tags!.map((t) => t.name)).toEqual(['health', 'users', 'tasks']);
  });

  it('does not change the documents it is given', () => {
    const tasks = doc({ '/v1/tasks': { get: op() } });
    const before = JSON.stringify(tasks);
    merge([['tasks', tasks]]);
    expect(JSON.stringify(tasks)).toBe(before);
  });
});
