import { describe, expect, it } from 'vitest';
import {
  deprecationHeaders,
  deprecationProblems,
  isUnder,
  PROXY_ROUTES,
  routeForPath,
  routeTableProblems,
  type ProxyRoute,
} from './routes.js';

describe('route table', () => {
  it('the gateway’s own table is sound', () => {
    expect(routeTableProblems(PROXY_ROUTES)).toEqual([]);
  });

  it('matches prefixes segment-wise and picks the longest', () => {
    expect(isUnder('/v1/tasks', '/v1/tasks')).toBe(true);
    expect(isUnder('/v1/tasks/1', '/v1/tasks')).toBe(true);
    expect(isUnder('/v1/tasksx', '/v1/tasks')).toBe(false);
    expect(routeForPath(PROXY_ROUTES, '/v1/users/me')?.access).toBe('bearer');
    expect(routeForPath(PROXY_ROUTES, '/v1/users/erasures/0190')?.access).toBe('public');
    expect(routeForPath(PROXY_ROUTES, '/v2/tasks')).toBeUndefined();
  });

  it('reports a broken table, one line per problem', () => {
    const broken: ProxyRoute[] = [
      { prefix: '/v1/tasks', service: 'tasks', access: 'bearer', limits: ['user'] },
      { prefix: '/v1/tasks', service: 'tasks', access: 'bearer', limits: ['user', 'user'] },
      { prefix: '/v1/open', service: 'tasks', access: 'public', limits: ['user'] },
      { prefix: '/v1/bad prefix/' as `/v1/${string}`, service: 'tasks', access: 'public', limits: [] },
    ];
    expect(routeTableProblems(broken)).toEqual([
      '/v1/tasks: listed twice',
      '/v1/tasks: a limit is listed twice',
      '/v1/open: per-user limits need a bearer token',
      '/v1/bad prefix/: a prefix is /v1/ and plain path segments',
    ]);
  });
});

describe('deprecation', () => {
  it('needs the sunset at least 90 days after the deprecation: 90 days pass, a second less does not', () => {
    expect(deprecationProblems({ since: '2026-01-01T00:00:00Z', sunset: '2026-04-01T00:00:00Z' })).toEqual(
      [],
    );
    expect(deprecationProblems({ since: '2026-01-01T00:00:00Z', sunset: '2026-03-31T23:59:59Z' })).toEqual([
      'the sunset must be at least 90 days after the deprecation',
    ]);
  });

  it('wants UTC ISO-8601 dates and an https link', () => {
    expect(
      deprecationProblems({
        since: '01/01/2026',
        sunset: '2026-06-01T00:00:00+02:00',
        link: 'http://x.example',
      }),
    ).toEqual([
      'deprecation.since is not an ISO-8601 UTC date',
      'deprecation.sunset is not an ISO-8601 UTC date',
      'deprecation.link must be an https URL',
    ]);
  });

  it('writes RFC 9745 Deprecation, RFC 8594 Sunset and a Link', () => {
    expect(
      deprecationHeaders({
        since: '2026-01-01T12:00:00Z',
        sunset: '2026-06-30',
        link: 'https://docs.offload.example/deprecations',
      }),
    ).toEqual({
      deprecation: '@1767268800',
      sunset: 'Tue, 30 Jun 2026 00:00:00 GMT',
      link: '<https://docs.offload.example/deprecations>; rel="deprecation"; type="text/html"',
    });
    expect(deprecationHeaders({ since: '2026-01-01', sunset: '2026-06-30' })).not.toHaveProperty('link');
  });
});
