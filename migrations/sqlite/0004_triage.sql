ALTER TABLE `card_messages` ADD `components` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `triage_role_id` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `sentry_token` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `sentry_base_url` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `sentry_org` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `sentry_identity` text;--> statement-breakpoint
ALTER TABLE `sources` ADD `sentry_problem` text;