-- Meter reservations in one round trip each (ADR 0012). A reserve and a settle used to be a transaction of
-- 6 to 10 statements, each its own round trip from the usage service; on the breakdown path they were
-- most of the call's added latency and CPU. These functions run the same statements inside Postgres, in
-- the order the TypeScript use-cases ran them, under the same advisory lock. PL/pgSQL runs each statement
-- with a fresh snapshot (read committed), so what is read after the lock includes every hold and charge
-- committed by whoever held it before. The rules they apply are the domain's (`decideMeterHold`,
-- `planSettle`, `isExhausted`); tests check the functions against those.

-- The advisory-lock key of one user's meter of one feature in one month.
CREATE FUNCTION "usage"."meter_lock_key"(p_user_id uuid, p_period text, p_feature text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended('usage:meter:' || p_user_id::text || ':' || p_period || ':' || p_feature, 0)
$$;
--> statement-breakpoint

-- Holds `p_amount` of the user's monthly quota for the operation, or records the denial. A known
-- operation id answers its stored row (`replayed`), which the caller compares with the request.
CREATE FUNCTION "usage"."reserve_meter"(
  p_operation_id uuid,
  p_user_id uuid,
  p_tier text,
  p_feature text,
  p_install_id_hash text,
  p_period text,
  p_amount integer,
  p_ttl_ms integer,
  p_quota integer
)
RETURNS TABLE (
  operation_id uuid,
  user_id uuid,
  kind text,
  feature text,
  install_id_hash text,
  amount integer,
  status text,
  denial_code text,
  remaining integer,
  replayed boolean
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_used integer;
  v_held integer;
  v_left integer;
  v_granted boolean;
BEGIN
  PERFORM pg_advisory_xact_lock("usage"."meter_lock_key"(p_user_id, p_period, p_feature));

  RETURN QUERY
    SELECT r.operation_id, r.user_id, r.kind, r.feature, r.install_id_hash, r.amount, r.status,
           r.denial_code, r.remaining, true
    FROM "usage"."reservations" r WHERE r.operation_id = p_operation_id;
  IF FOUND THEN
    RETURN;
  END IF;

  SELECT coalesce(sum(m.count), 0) INTO v_used FROM "usage"."meters" m
  WHERE m.user_id = p_user_id AND m.period = p_period AND m.feature = p_feature;
  -- A hold counts while it is held and its TTL has not passed (lazy expiry; the sweeper tidies up).
  SELECT coalesce(sum(r.amount), 0) INTO v_held FROM "usage"."reservations" r
  WHERE r.user_id = p_user_id AND r.kind = 'meter' AND r.period = p_period AND r.feature = p_feature
    AND r.status = 'held' AND r.expires_at > now();

  -- decideMeterHold: what is left never goes below zero; the hold fits when the amount does.
  v_left := greatest(0, p_quota - v_used - v_held);
  v_granted := p_amount <= v_left;

  RETURN QUERY
    INSERT INTO "usage"."reservations" AS r (
      operation_id, user_id, tier, kind, feature, install_id_hash, period, amount, status, denial_code,
      remaining, expires_at
    ) VALUES (
      p_operation_id, p_user_id, p_tier, 'meter', p_feature, p_install_id_hash, p_period, p_amount,
      CASE WHEN v_granted THEN 'held' ELSE 'denied' END,
      CASE WHEN v_granted THEN NULL ELSE 'quota_exceeded' END,
      CASE WHEN v_granted THEN v_left - p_amount ELSE v_left END,
      now() + p_ttl_ms * interval '1 millisecond'
    )
    RETURNING r.operation_id, r.user_id, r.kind, r.feature, r.install_id_hash, r.amount, r.status,
              r.denial_code, r.remaining, false;
END;
$$;
--> statement-breakpoint

-- Commits (`p_action = 'commit'`, charging `p_amount`, or the reserved amount when null) or releases a
-- meter hold. Answers the settle status of the contract, or:
--   'credits'          the operation holds credits: the caller settles it itself,
--   'amount_too_large' a commit asked for more than was reserved (`reserved` says how much); nothing
--                      changed.
-- A commit that brings the user's total to the tier's quota records the exhaustion once and queues
-- `usage.quota.exhausted` (id, time and trace headers from the caller) in the outbox, waking its relay.
CREATE FUNCTION "usage"."settle_meter"(
  p_operation_id uuid,
  p_action text,
  p_amount integer,
  p_quota_free integer,
  p_quota_pro integer,
  p_event_id uuid,
  p_event_time text,
  p_event_headers jsonb,
  p_outbox_channel text
)
RETURNS TABLE (status text, reserved integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_peek "usage"."reservations"%ROWTYPE;
  v "usage"."reservations"%ROWTYPE;
  v_amount integer;
  v_total integer;
  v_quota integer;
BEGIN
  IF p_action NOT IN ('commit', 'release') THEN
    RAISE EXCEPTION 'settle_meter: unknown action %', p_action USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT * INTO v_peek FROM "usage"."reservations" r WHERE r.operation_id = p_operation_id;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::text, NULL::integer;
    RETURN;
  END IF;
  IF v_peek.kind <> 'meter' THEN
    RETURN QUERY SELECT 'credits'::text, v_peek.amount;
    RETURN;
  END IF;

  -- The lock its reserve took, then the row: a reserve or settle of the same meter month waits here.
  PERFORM pg_advisory_xact_lock("usage"."meter_lock_key"(v_peek.user_id, v_peek.period, v_peek.feature));
  SELECT * INTO v FROM "usage"."reservations" r WHERE r.operation_id = p_operation_id FOR UPDATE;

  -- planSettle.
  IF v.status <> 'held' THEN
    -- A denied reserve held nothing, so there is nothing to settle.
    RETURN QUERY SELECT CASE v.status
      WHEN 'committed' THEN 'already_committed'
      WHEN 'released' THEN 'already_released'
      WHEN 'expired' THEN 'expired'
      ELSE 'unknown'
    END, v.amount;
    RETURN;
  ELSIF v.expires_at <= clock_timestamp() THEN
    -- The statement's clock, not the transaction's: read after the lock, so a hold another reserve
    -- already treated as expired (`expires_at <= now()` there) is expired here too.
    UPDATE "usage"."reservations" r SET status = 'expired', committed_amount = NULL, settled_at = now()
    WHERE r.operation_id = p_operation_id;
    RETURN QUERY SELECT 'expired'::text, v.amount;
    RETURN;
  END IF;

  IF p_action = 'release' THEN
    UPDATE "usage"."reservations" r SET status = 'released', committed_amount = NULL, settled_at = now()
    WHERE r.operation_id = p_operation_id;
    RETURN QUERY SELECT 'released'::text, v.amount;
    RETURN;
  END IF;

  v_amount := coalesce(p_amount, v.amount);
  IF v_amount > v.amount THEN
    RETURN QUERY SELECT 'amount_too_large'::text, v.amount;
    RETURN;
  END IF;

  IF v_amount > 0 THEN
    INSERT INTO "usage"."meters" AS m (user_id, period, feature, install_id_hash, count, updated_at)
    VALUES (v.user_id, v.period, v.feature, v.install_id_hash, v_amount, now())
    ON CONFLICT (user_id, period, feature, install_id_hash)
    DO UPDATE SET count = m.count + excluded.count, updated_at = now();

    SELECT coalesce(sum(m.count), 0) INTO v_total FROM "usage"."meters" m
    WHERE m.user_id = v.user_id AND m.period = v.period AND m.feature = v.feature;
    v_quota := CASE WHEN v.tier = 'pro' THEN p_quota_pro ELSE p_quota_free END;

    -- isExhausted, announced once per user, feature, month and quota (whoever gets there first).
    IF v_total > 0 AND v_total >= v_quota THEN
      INSERT INTO "usage"."quota_exhaustions" (user_id, period, feature, quota)
      VALUES (v.user_id, v.period, v.feature, v_quota)
      ON CONFLICT DO NOTHING;
      IF FOUND THEN
        INSERT INTO "usage"."outbox" (id, type, payload, headers) VALUES (
          p_event_id,
          'usage.quota.exhausted',
          jsonb_build_object(
            'id', p_event_id,
            'type', 'usage.quota.exhausted',
            'source', 'usage',
            'time', p_event_time,
            'subject', v.user_id,
            'data', jsonb_build_object(
              'user_id', v.user_id, 'feature', v.feature, 'period', v.period,
              'quota', v_quota, 'used', v_total
            )
          ),
          p_event_headers
        );
        PERFORM pg_notify(p_outbox_channel, '');
      END IF;
    END IF;
  END IF;

  UPDATE "usage"."reservations" r SET status = 'committed', committed_amount = v_amount, settled_at = now()
  WHERE r.operation_id = p_operation_id;
  RETURN QUERY SELECT 'committed'::text, v.amount;
END;
$$;
