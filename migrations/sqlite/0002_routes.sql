CREATE TABLE `deliveries` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event_seq` integer NOT NULL,
	`route_id` integer NOT NULL,
	`channel_id` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`batch_id` text,
	`solo` integer DEFAULT false NOT NULL,
	`summary` integer DEFAULT false NOT NULL,
	`render_fallback` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`delivered_at` integer,
	`message_id` text,
	FOREIGN KEY (`event_seq`) REFERENCES `events`(`seq`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`route_id`) REFERENCES `routes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deliveries_pending_channel` ON `deliveries` (`status`,`channel_id`,`seq`);--> statement-breakpoint
CREATE INDEX `deliveries_batch` ON `deliveries` (`batch_id`) WHERE "deliveries"."batch_id" is not null;--> statement-breakpoint
CREATE INDEX `deliveries_event` ON `deliveries` (`event_seq`);--> statement-breakpoint
CREATE INDEX `deliveries_route_status` ON `deliveries` (`route_id`,`status`);--> statement-breakpoint
CREATE TABLE `routes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_id` integer NOT NULL,
	`name` text NOT NULL,
	`channel_id` text NOT NULL,
	`filter` text DEFAULT '{}' NOT NULL,
	`ping_role_id` text,
	`ping_level` text DEFAULT 'error' NOT NULL,
	`events_filtered` integer DEFAULT 0 NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `routes_source_name` ON `routes` (`source_id`,`name`);--> statement-breakpoint
CREATE INDEX `routes_source` ON `routes` (`source_id`);--> statement-breakpoint
-- Data: each source's channel becomes its first route, and each event's delivery job moves to deliveries (in the same order).
INSERT INTO `routes` (`source_id`, `name`, `channel_id`, `created_by`, `created_at`, `updated_at`)
  SELECT `id`, 'main', `channel_id`, `created_by`, `created_at`, `updated_at` FROM `sources` ORDER BY `id`;--> statement-breakpoint
INSERT INTO `deliveries` (`event_seq`, `route_id`, `channel_id`, `status`, `attempts`, `next_attempt_at`, `batch_id`, `solo`, `summary`, `render_fallback`, `last_error`, `delivered_at`, `message_id`)
  SELECT e.`seq`, r.`id`, e.`channel_id`, e.`status`, e.`attempts`, e.`next_attempt_at`, e.`batch_id`, e.`solo`, e.`summary`, e.`render_fallback`, e.`last_error`, e.`delivered_at`, e.`message_id`
  FROM `events` e JOIN `routes` r ON r.`source_id` = e.`source_id` ORDER BY e.`seq`;--> statement-breakpoint
DROP INDEX `events_pending_channel`;--> statement-breakpoint
DROP INDEX `events_batch`;--> statement-breakpoint
ALTER TABLE `events` ADD `filtered_by` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
CREATE INDEX `events_source_seq` ON `events` (`source_id`,`seq`);--> statement-breakpoint
CREATE INDEX `events_received` ON `events` (`received_at`);--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `channel_id`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `status`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `attempts`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `next_attempt_at`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `batch_id`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `solo`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `summary`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `render_fallback`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `last_error`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `delivered_at`;--> statement-breakpoint
ALTER TABLE `events` DROP COLUMN `message_id`;--> statement-breakpoint
DROP INDEX `templates_source_pattern`;--> statement-breakpoint
ALTER TABLE `templates` ADD `route_id` integer REFERENCES routes(id) ON DELETE cascade;--> statement-breakpoint
CREATE UNIQUE INDEX `templates_route_pattern` ON `templates` (`route_id`,`event_pattern`) WHERE "templates"."route_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX `templates_source_pattern` ON `templates` (`source_id`,`event_pattern`) WHERE "templates"."route_id" is null;--> statement-breakpoint
ALTER TABLE `sources` DROP COLUMN `channel_id`;