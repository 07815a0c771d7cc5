CREATE TABLE `member_links` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`guild_id` text NOT NULL,
	`user_id` text NOT NULL,
	`sentry_base_url` text NOT NULL,
	`sentry_org` text NOT NULL,
	`token` text,
	`sentry_user_id` text NOT NULL,
	`sentry_name` text NOT NULL,
	`sentry_email` text NOT NULL,
	`scopes` text DEFAULT '' NOT NULL,
	`dm_kinds` text DEFAULT 'assigned' NOT NULL,
	`dm_channel_id` text,
	`dms_closed_at` integer,
	`notice` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `member_links_member` ON `member_links` (`guild_id`,`user_id`,`sentry_base_url`,`sentry_org`);--> statement-breakpoint
CREATE INDEX `member_links_sentry_user` ON `member_links` (`guild_id`,`sentry_user_id`);--> statement-breakpoint
ALTER TABLE `routes` ADD `kind` text DEFAULT 'channel' NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `member_link_id` integer REFERENCES member_links(id);--> statement-breakpoint
CREATE INDEX `routes_member` ON `routes` (`member_link_id`);