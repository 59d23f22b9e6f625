CREATE TABLE "identity"."erasure_confirmations" (
	"erasure_id" uuid NOT NULL,
	"service" text NOT NULL,
	"purged_at" timestamp with time zone NOT NULL,
	"erased" jsonb NOT NULL,
	CONSTRAINT "erasure_confirmations_erasure_id_service_pk" PRIMARY KEY("erasure_id","service")
);
--> statement-breakpoint
CREATE TABLE "identity"."erasures" (
	"id" uuid PRIMARY KEY NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone,
	"expected_services" text[] NOT NULL
);
--> statement-breakpoint
CREATE TABLE "identity"."google_identities" (
	"sub" text PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"email" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_sign_in_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "google_identities_user_id_key" UNIQUE("user_id")
);
--> statement-breakpoint
CREATE TABLE "identity"."rate_limit_buckets" (
	"key" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"allowed" boolean NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "identity"."session_cutoffs" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"revoked_before" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "identity"."refresh_tokens" ADD COLUMN "install_id_sealed" text;--> statement-breakpoint
ALTER TABLE "identity"."refresh_tokens" ADD COLUMN "successor_sealed" text;--> statement-breakpoint
ALTER TABLE "identity"."users" ADD COLUMN "version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "identity"."erasure_confirmations" ADD CONSTRAINT "erasure_confirmations_erasure_id_erasures_id_fk" FOREIGN KEY ("erasure_id") REFERENCES "identity"."erasures"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "identity"."google_identities" ADD CONSTRAINT "google_identities_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "identity"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "sessions_revoked_at_idx" ON "identity"."sessions" USING btree ("revoked_at","id") WHERE "identity"."sessions"."revoked_at" is not null;