CREATE SCHEMA IF NOT EXISTS "voice";
--> statement-breakpoint
CREATE TABLE "voice"."outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"headers" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "voice"."outbox" USING btree ("created_at") WHERE "voice"."outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_published_at_idx" ON "voice"."outbox" USING btree ("published_at");