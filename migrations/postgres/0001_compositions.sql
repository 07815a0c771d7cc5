ALTER TABLE "deliveries" ADD COLUMN "sending" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "events_dropped" integer DEFAULT 0 NOT NULL;