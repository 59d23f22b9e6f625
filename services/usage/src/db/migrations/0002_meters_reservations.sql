CREATE TABLE "usage"."meters" (
	"user_id" uuid NOT NULL,
	"period" text NOT NULL,
	"feature" text NOT NULL,
	"install_id_hash" text NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "meters_user_id_period_feature_install_id_hash_pk" PRIMARY KEY("user_id","period","feature","install_id_hash"),
	CONSTRAINT "meters_count_not_negative" CHECK ("usage"."meters"."count" >= 0),
	CONSTRAINT "meters_period_format" CHECK ("usage"."meters"."period" ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
	CONSTRAINT "meters_install_id_hash_format" CHECK ("usage"."meters"."install_id_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "usage"."quota_exhaustions" (
	"user_id" uuid NOT NULL,
	"period" text NOT NULL,
	"feature" text NOT NULL,
	"quota" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "quota_exhaustions_user_id_period_feature_quota_pk" PRIMARY KEY("user_id","period","feature","quota")
);
--> statement-breakpoint
CREATE TABLE "usage"."reservations" (
	"operation_id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"tier" text NOT NULL,
	"kind" text NOT NULL,
	"feature" text,
	"install_id_hash" text,
	"period" text,
	"amount" integer NOT NULL,
	"status" text NOT NULL,
	"denial_code" text,
	"remaining" integer NOT NULL,
	"committed_amount" integer,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp with time zone,
	CONSTRAINT "reservations_kind" CHECK ("usage"."reservations"."kind" in ('meter', 'credits')),
	CONSTRAINT "reservations_tier" CHECK ("usage"."reservations"."tier" in ('free', 'pro')),
	CONSTRAINT "reservations_status" CHECK ("usage"."reservations"."status" in ('held', 'committed', 'released', 'expired', 'denied')),
	CONSTRAINT "reservations_meter_fields" CHECK (("usage"."reservations"."kind" = 'meter') = ("usage"."reservations"."feature" is not null and "usage"."reservations"."install_id_hash" is not null and "usage"."reservations"."period" is not null)),
	CONSTRAINT "reservations_amount_positive" CHECK ("usage"."reservations"."amount" > 0),
	CONSTRAINT "reservations_remaining_not_negative" CHECK ("usage"."reservations"."remaining" >= 0),
	CONSTRAINT "reservations_committed_amount" CHECK ("usage"."reservations"."committed_amount" is null or ("usage"."reservations"."committed_amount" >= 0 and "usage"."reservations"."committed_amount" <= "usage"."reservations"."amount")),
	CONSTRAINT "reservations_denial" CHECK (("usage"."reservations"."status" = 'denied') = ("usage"."reservations"."denial_code" is not null))
);
--> statement-breakpoint
ALTER TABLE "usage"."credit_ledger" ADD COLUMN "operation_id" uuid;--> statement-breakpoint
CREATE INDEX "reservations_active_meter_idx" ON "usage"."reservations" USING btree ("user_id","period","feature") WHERE "usage"."reservations"."status" = 'held' and "usage"."reservations"."kind" = 'meter';--> statement-breakpoint
CREATE INDEX "reservations_active_credits_idx" ON "usage"."reservations" USING btree ("user_id") WHERE "usage"."reservations"."status" = 'held' and "usage"."reservations"."kind" = 'credits';--> statement-breakpoint
CREATE INDEX "reservations_held_expiry_idx" ON "usage"."reservations" USING btree ("expires_at") WHERE "usage"."reservations"."status" = 'held';--> statement-breakpoint
CREATE INDEX "reservations_created_at_idx" ON "usage"."reservations" USING btree ("created_at");