import type { Erasure } from '@offload/contracts';

export interface ErasureRecord {
  id: string;
  requestedAt: Date;
  completedAt: Date | null;
  expectedServices: string[];
}

export interface ErasureConfirmation {
  service: string;
  purgedAt: Date;
  erased: Record<string, number>;
}

/** True when every expected service has confirmed. */
export function isErasureComplete(expected: string[], confirmed: Iterable<string>): boolean {
  const done = new Set(confirmed);
  return expected.every((service) => done.has(service));
}

/** The erasure as the API reports it: one entry per expected service, in the configured order. */
export function toErasureStatus(erasure: ErasureRecord, confirmations: ErasureConfirmation[]): Erasure {
  const byService = new Map(confirmations.map((c) => [c.service, c]));
  const complete = erasure.completedAt !== null;
  return {
    erasure_id: erasure.id,
    status: complete ? 'completed' : 'pending',
    requested_at: erasure.requestedAt.toISOString(),
    completed_at: erasure.completedAt?.toISOString() ?? null,
    services: erasure.expectedServices.map((service) => {
      const confirmation = byService.get(service);
      return confirmation
        ? {
            service,
            status: 'purged' as const,
            purged_at: confirmation.purgedAt.toISOString(),
            erased: confirmation.erased,
          }
        : { service, status: 'pending' as const, purged_at: null, erased: null };
    }),
  };
}
