CREATE TABLE "usage"."erased_users" (
	"user_id_hash" text PRIMARY KEY NOT NULL,
	"erased_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "erased_users_erased_at_idx" ON "usage"."erased_users" USING btree ("erased_at");