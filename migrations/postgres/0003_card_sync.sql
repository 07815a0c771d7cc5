ALTER TABLE "sources" ADD COLUMN "card_synced_at" bigint;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "cards_checked" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "cards_fixed" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "card_sync_problem" text;