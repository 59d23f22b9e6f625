import { sql } from 'drizzle-orm';
import type { Database } from '@offload/platform/db';
import type { IdentitySchema } from './schema.js';

export interface BucketTake {
  allowed: boolean;
  /** Tokens left after this call (fractional). */
  tokens: number;
}

export function createRateLimitRepository(database: Database<IdentitySchema>) {
  const { db } = database;
  return {
    /**
     * Takes one token from the bucket `key` (capacity `capacity`, refilled at `perSecond`) in one
     * statement: the row lock of the upsert makes concurrent calls on every replica queue, so a bucket
     * never hands out more than it holds. A refused call takes nothing.
     */
    async take(key: string, capacity: number, perSecond: number): Promise<BucketTake> {
      const refilled = sql`least(${capacity}::float8, b.tokens + extract(epoch from (now() - b.updated_at)) * ${perSecond}::float8)`;
      const rows = await db.execute<{ tokens: number; allowed: boolean }>(sql`
        insert into identity.rate_limit_buckets as b (key, tokens, allowed, updated_at)
        values (${key}, ${capacity}::float8 - 1, true, now())
        on conflict (key) do update set
          tokens = case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end,
          allowed = ${refilled} >= 1,
          updated_at = now()
        returning tokens, allowed`);
      const row = rows[0]!;
      return { allowed: row.allowed, tokens: Number(row.tokens) };
    },

    /** Buckets untouched for `idleSeconds` are full again: forget them. */
    async prune(idleSeconds: number): Promise<number> {
      const rows = await db.execute(sql`
        delete from identity.rate_limit_buckets
        where updated_at < now() - make_interval(secs => ${idleSeconds}) returning key`);
      return rows.length;
    },
  };
}

export type RateLimitRepository = ReturnType<typeof createRateLimitRepository>;
