import {
  IdentitySessionRevoked,
  identityRevocationsRpc,
  type EventData,
  type RevocationSnapshot,
} from '@offload/contracts';
import type { Logger } from '../logger/index.js';
import { callRpc, type Bus } from '../nats/index.js';

/** What a token verifier asks after the signature checks (and after a cache hit). */
export interface RevocationCheck {
  /**
   * True when an access token of session `sessionId` (the `sid` claim) for `userId` (`sub`), issued at
   * `issuedAt` (`iat`, seconds), must be refused: the session was revoked, or the user logged out
   * everywhere (or was erased) in or after the second the token was issued.
   */
  isRevoked(sessionId: string, userId: string, issuedAt: number): boolean;
}

/** Access tokens live at most an hour (identity's ACCESS_TOKEN_TTL_SECONDS is bounded by 3600). */
const DEFAULT_WINDOW_MS = 3_600_000 + 60_000;

/**
 * The in-memory part, without I/O: revoked session ids and per-user cutoffs, each kept only as long as
 * a token it refuses could still be alive (`windowMs` after the revocation). Revocations only ever
 * accumulate, so merging a snapshot and events in any order gives the same set.
 */
export class RevocationSet implements RevocationCheck {
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, number>();
  windowMs: number;

  constructor(windowMs: number = DEFAULT_WINDOW_MS) {
    this.windowMs = windowMs;
  }

  revokeSessions(sessionIds: Iterable<string>, revokedAtMs: number): void {
    for (const id of sessionIds) {
      const known = this.sessions.get(id);
      if (known === undefined || known < revokedAtMs) this.sessions.set(id, revokedAtMs);
    }
  }

  /** Every token of `userId` with `iat` at or before the second of `cutoffMs` is refused. */
  revokeUserBefore(userId: string, cutoffMs: number): void {
    const known = this.users.get(userId);
    if (known === undefined || known < cutoffMs) this.users.set(userId, cutoffMs);
  }

  /** Applies the data of an `identity.session.revoked` event. */
  apply(data: EventData<'identity.session.revoked'>): void {
    const at = Date.parse(data.revoked_at);
    this.revokeSessions(data.session_ids, at);
    if (data.all) this.revokeUserBefore(data.user_id, at);
  }

  applySnapshot(snapshot: RevocationSnapshot): void {
    this.windowMs = snapshot.window_seconds * 1000;
    for (const s of snapshot.sessions) this.revokeSessions([s.session_id], Date.parse(s.revoked_at));
    for (const u of snapshot.users) this.revokeUserBefore(u.user_id, Date.parse(u.revoked_before));
  }

  /** Forgets revocations older than the window: every token they refuse has expired by then. */
  prune(nowMs: number = Date.now()): void {
    const oldest = nowMs - this.windowMs;
    for (const [id, at] of this.sessions) if (at < oldest) this.sessions.delete(id);
    for (const [id, at] of this.users) if (at < oldest) this.users.delete(id);
  }

  isRevoked(sessionId: string, userId: string, issuedAt: number): boolean {
    if (this.sessions.has(sessionId)) return true;
    const cutoff = this.users.get(userId);
    return cutoff !== undefined && issuedAt <= Math.floor(cutoff / 1000);
  }

  get size(): { sessions: number; users: number } {
    return { sessions: this.sessions.size, users: this.users.size };
  }
}

export interface RevocationList extends RevocationCheck {
  /** Records a revocation at once (identity calls this right after its own commit). */
  add(data: EventData<'identity.session.revoked'>): void;
  /** Reloads the current revocations from identity (`identity.revocations`) and merges them. */
  resync(): Promise<void>;
  /** True once a snapshot from identity has been merged. */
  readonly loaded: boolean;
  stop(): Promise<void>;
}

export interface RevocationListOptions {
  bus: Bus;
  logger?: Logger;
  /** A full resync this often heals anything a plain subscription missed (default 60 s). */
  resyncIntervalMs?: number;
  rpcTimeoutMs?: number;
}

/**
 * Keeps the revoked sessions of the last access-token lifetime in memory, so the gateway and services
 * refuse access tokens of revoked sessions within about a second of the revocation, with no database
 * call per request (DESIGN 5, 6). It subscribes (plain core NATS, no durable state) to
 * `identity.session.revoked` on the IDENTITY stream's subject, then loads the current set over the
 * `identity.revocations` request/reply, again after every reconnect and every `resyncIntervalMs`.
 * When identity does not answer at start, it keeps retrying in the background and meanwhile refuses
 * only what the events told it (tokens still expire within their 15-minute lifetime).
 */
export async function createRevocationList(options: RevocationListOptions): Promise<RevocationList> {
  const { bus, logger } = options;
  const set = new RevocationSet();
  let loaded = false;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let syncing: Promise<void> | undefined;

  const subscription = bus.nc.subscribe(bus.subject('identity.session.revoked'));
  void (async () => {
    for await (const msg of subscription) {
      const parsed = IdentitySessionRevoked.safeParse(safeJson(msg.data));
      if (parsed.success) set.apply(parsed.data.data);
      else logger?.warn({ subject: msg.subject }, 'ignored an invalid identity.session.revoked message');
    }
  })();

  const loadAll = async () => {
    let cursor: string | undefined;
    do {
      const snapshot = await callRpc(bus, identityRevocationsRpc, cursor ? { cursor } : {}, {
        timeoutMs: options.rpcTimeoutMs ?? 3_000,
      });
      set.applySnapshot(snapshot);
      cursor = snapshot.next_cursor ?? undefined;
    } while (cursor && !stopped);
    set.prune();
    loaded = true;
  };

  const resync = (): Promise<void> => {
    syncing ??= loadAll().finally(() => {
      syncing = undefined;
    });
    return syncing;
  };

  const resyncOrRetry = async () => {
    try {
      await resync();
    } catch (error) {
      if (stopped) return;
      logger?.warn(
        { error: (error as { code?: string }).code ?? 'Error' },
        'revocations not loaded; retrying',
      );
      clearTimeout(retry);
      retry = setTimeout(() => void resyncOrRetry(), 2_000);
      retry.unref?.();
    }
  };

  const statuses = bus.nc.status();
  void (async () => {
    for await (const status of statuses) if (status.type === 'reconnect') void resyncOrRetry();
  })();

  await bus.nc.flush();
  await resyncOrRetry();
  const timer = setInterval(() => {
    set.prune();
    void resyncOrRetry();
  }, options.resyncIntervalMs ?? 60_000);
  timer.unref?.();

  return {
    isRevoked: (sessionId, userId, issuedAt) => set.isRevoked(sessionId, userId, issuedAt),
    add: (data) => set.apply(data),
    resync,
    get loaded() {
      return loaded;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(retry);
      (statuses as { stop?: () => void }).stop?.();
      subscription.unsubscribe();
      await syncing?.catch(() => undefined);
    },
  };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
