CREATE TABLE `holds` (
	`channel_id` text PRIMARY KEY NOT NULL,
	`guild_id` text NOT NULL,
	`code` integer NOT NULL,
	`reason` text NOT NULL,
	`since` integer NOT NULL,
	`next_probe_at` integer NOT NULL
);
--> statement-breakpoint
DROP INDEX `events_source_body`;--> statement-breakpoint
ALTER TABLE `events` ADD `deduped` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `duplicates` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `last_duplicate_at` integer;--> statement-breakpoint
ALTER TABLE `events` ADD `render_fallback` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `events_source_body` ON `events` (`source_id`,`body_hash`) WHERE "events"."deduped";--> statement-breakpoint
ALTER TABLE `sources` DROP COLUMN `permanent_failure_streak`;