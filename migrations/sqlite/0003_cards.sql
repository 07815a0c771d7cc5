CREATE TABLE `card_messages` (
	`message_id` text PRIMARY KEY NOT NULL,
	`channel_id` text NOT NULL,
	`embeds` text NOT NULL,
	`content` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `cards` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`route_id` integer NOT NULL,
	`card_key` text NOT NULL,
	`channel_id` text NOT NULL,
	`message_id` text NOT NULL,
	`position` integer DEFAULT 0 NOT NULL,
	`shared` integer DEFAULT false NOT NULL,
	`thread_id` text,
	`state` text NOT NULL,
	`posted_at` integer NOT NULL,
	`last_edit_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`resolved_at` integer,
	FOREIGN KEY (`route_id`) REFERENCES `routes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cards_route_key` ON `cards` (`route_id`,`card_key`);--> statement-breakpoint
CREATE INDEX `cards_message` ON `cards` (`message_id`);--> statement-breakpoint
ALTER TABLE `deliveries` ADD `card_key` text;--> statement-breakpoint
CREATE INDEX `deliveries_card` ON `deliveries` (`route_id`,`card_key`,`status`);--> statement-breakpoint
ALTER TABLE `routes` ADD `layout` text DEFAULT 'feed' NOT NULL;--> statement-breakpoint
ALTER TABLE `routes` ADD `thread_problem` text;