-- The credit ledger is append-only (DESIGN 8): a row, once written, never changes. Corrections are new
-- rows. Deletion stays possible for account erasure (DESIGN 5).
CREATE FUNCTION "usage"."credit_ledger_refuse_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'usage.credit_ledger is append-only' USING ERRCODE = 'restrict_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "credit_ledger_append_only" BEFORE UPDATE ON "usage"."credit_ledger"
  FOR EACH ROW EXECUTE FUNCTION "usage"."credit_ledger_refuse_update"();
