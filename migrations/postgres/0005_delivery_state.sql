-- One owner for a delivery's state (src/db/delivery-state.ts): a batch being sent is its own status,
-- a disabled source no longer rewrites its deliveries (the queue skips it), quiet hours hold as 'quiet'.
UPDATE deliveries SET status = 'sending' WHERE status = 'pending' AND sending;--> statement-breakpoint
UPDATE deliveries SET status = 'pending' WHERE status = 'paused';--> statement-breakpoint
UPDATE deliveries SET status = 'quiet' WHERE status = 'held';--> statement-breakpoint
DROP INDEX "deliveries_pending_channel";--> statement-breakpoint
DROP INDEX "deliveries_route_status";--> statement-breakpoint
DROP INDEX "routes_source_name";--> statement-breakpoint
DROP INDEX "sources_guild_name";--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "digest_id" integer;--> statement-breakpoint
ALTER TABLE "digests" ADD COLUMN "done_at" bigint;--> statement-breakpoint
-- Digests made before this release were made whole.
UPDATE digests SET done_at = created_at;--> statement-breakpoint
ALTER TABLE "digests" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "routes" ADD COLUMN "removed_at" bigint;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "deleted_at" bigint;--> statement-breakpoint
CREATE INDEX "deliveries_queue" ON "deliveries" USING btree ("status","route_id","seq");--> statement-breakpoint
CREATE INDEX "deliveries_sending" ON "deliveries" USING btree ("channel_id","batch_id") WHERE "deliveries"."status" = 'sending';--> statement-breakpoint
CREATE INDEX "deliveries_digest" ON "deliveries" USING btree ("digest_id") WHERE "deliveries"."digest_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "routes_source_name" ON "routes" USING btree ("source_id","name") WHERE "routes"."removed_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "sources_guild_name" ON "sources" USING btree ("guild_id","name") WHERE "sources"."deleted_at" is null;--> statement-breakpoint
ALTER TABLE "deliveries" DROP COLUMN "sending";