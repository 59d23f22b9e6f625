import type { HealthStatus } from '@offload/contracts';
import type { z } from 'zod';
import { SERVICES, type ServiceName } from '../domain/routes.js';

type Status = z.infer<typeof HealthStatus>;

export interface CheckHealthDeps {
  upstreams: Record<ServiceName, string>;
  config: { HEALTH_TIMEOUT_MS: number };
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: Record<ServiceName, Status>;
}

/**
 * Asks every service's `/health/ready` at once, each with a short timeout: a service is `ok` only when it
 * answers 2xx in time; the gateway is `degraded` when any service is down.
 */
export async function checkHealth(deps: CheckHealthDeps): Promise<HealthReport> {
  const results = await Promise.all(
    SERVICES.map(async (name) => [name, await probe(deps.upstreams[name], deps.config.HEALTH_TIMEOUT_MS)]),
  );
  const checks = Object.fromEntries(results) as Record<ServiceName, Status>;
  return { status: Object.values(checks).every((s) => s === 'ok') ? 'ok' : 'degraded', checks };
}

async function probe(baseUrl: string, timeoutMs: number): Promise<Status> {
  try {
    const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok ? 'ok' : 'down';
  } catch {
    return 'down';
  }
}
