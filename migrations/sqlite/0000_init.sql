CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`source_id` integer NOT NULL,
	`channel_id` text NOT NULL,
	`event_type` text NOT NULL,
	`body_hash` text NOT NULL,
	`body` text NOT NULL,
	`received_at` integer NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`batch_id` text,
	`solo` integer DEFAULT false NOT NULL,
	`summary` integer DEFAULT false NOT NULL,
	`last_error` text,
	`delivered_at` integer,
	`message_id` text,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_id_unique` ON `events` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `events_source_body` ON `events` (`source_id`,`body_hash`);--> statement-breakpoint
CREATE INDEX `events_pending_channel` ON `events` (`status`,`channel_id`,`seq`);--> statement-breakpoint
CREATE INDEX `events_batch` ON `events` (`batch_id`) WHERE "events"."batch_id" is not null;--> statement-breakpoint
CREATE TABLE `sources` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`guild_id` text NOT NULL,
	`channel_id` text NOT NULL,
	`name` text NOT NULL,
	`slug` text NOT NULL,
	`provider` text DEFAULT 'sentry' NOT NULL,
	`signing_secret` text,
	`enabled` integer DEFAULT true NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`events_received` integer DEFAULT 0 NOT NULL,
	`events_delivered` integer DEFAULT 0 NOT NULL,
	`events_failed` integer DEFAULT 0 NOT NULL,
	`last_event_at` integer,
	`last_error` text,
	`last_error_at` integer,
	`permanent_failure_streak` integer DEFAULT 0 NOT NULL,
	`events_collapsed` integer DEFAULT 0 NOT NULL,
	`flood_summaries` integer DEFAULT 0 NOT NULL,
	`last_flood_at` integer,
	`last_template_error` text,
	`last_template_error_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sources_slug_unique` ON `sources` (`slug`);--> statement-breakpoint
CREATE UNIQUE INDEX `sources_guild_name` ON `sources` (`guild_id`,`name`);--> statement-breakpoint
CREATE TABLE `templates` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_id` integer NOT NULL,
	`event_pattern` text NOT NULL,
	`body` text NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `templates_source_pattern` ON `templates` (`source_id`,`event_pattern`);