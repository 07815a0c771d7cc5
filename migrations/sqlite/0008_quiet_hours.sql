CREATE TABLE `digests` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`route_id` integer NOT NULL,
	`kind` text NOT NULL,
	`period_start` integer NOT NULL,
	`period_end` integer NOT NULL,
	`events` integer DEFAULT 0 NOT NULL,
	`event_id` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`route_id`) REFERENCES `routes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `digests_route_kind_end` ON `digests` (`route_id`,`kind`,`period_end`);--> statement-breakpoint
ALTER TABLE `deliveries` ADD `muted` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `time_zone` text DEFAULT 'UTC' NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `quiet_from` integer;--> statement-breakpoint
ALTER TABLE `routes` ADD `quiet_to` integer;--> statement-breakpoint
ALTER TABLE `routes` ADD `quiet_pass` text DEFAULT 'fatal' NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `digest_every` text;--> statement-breakpoint
ALTER TABLE `routes` ADD `digest_weekday` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `digest_at` integer;--> statement-breakpoint
ALTER TABLE `routes` ADD `digest_when_empty` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `quiet_since` integer;--> statement-breakpoint
ALTER TABLE `routes` ADD `digest_since` integer;