import { z } from 'zod';

export const PageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(25),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();
export type PageQuery = z.infer<typeof PageQuery>;

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const IdParams = z.object({ id: z.uuid() }).strict();

export const HealthStatus = z.enum(['ok', 'down']);
export const GatewayHealth = z.object({
  status: z.enum(['ok', 'degraded']),
  service: z.string(),
  version: z.string(),
  environment: z.string(),
  checks: z.record(z.string(), HealthStatus),
});
export type GatewayHealth = z.infer<typeof GatewayHealth>;
