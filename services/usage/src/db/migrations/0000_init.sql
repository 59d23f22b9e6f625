CREATE SCHEMA IF NOT EXISTS "usage";
--> statement-breakpoint
CREATE TYPE "usage"."credit_kind" AS ENUM('daily', 'subscription', 'purchased', 'kickstart');--> statement-breakpoint
CREATE TABLE "usage"."credit_ledger" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" "usage"."credit_kind" NOT NULL,
	"amount" integer NOT NULL,
	"reason" text NOT NULL,
	"source_event_id" uuid,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_ledger_amount_not_zero" CHECK ("usage"."credit_ledger"."amount" <> 0),
	CONSTRAINT "credit_ledger_reason_format" CHECK ("usage"."credit_ledger"."reason" ~ '^[a-z][a-z_]{0,31}$')
);
--> statement-breakpoint
CREATE TABLE "usage"."inbox" (
	"consumer" text NOT NULL,
	"event_id" uuid NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inbox_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
--> statement-breakpoint
CREATE TABLE "usage"."outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"headers" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "credit_ledger_user_kind_created_idx" ON "usage"."credit_ledger" USING btree ("user_id","kind","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_ledger_kickstart_once_idx" ON "usage"."credit_ledger" USING btree ("user_id") WHERE "usage"."credit_ledger"."reason" = 'kickstart';--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "usage"."outbox" USING btree ("created_at") WHERE "usage"."outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_published_at_idx" ON "usage"."outbox" USING btree ("published_at");