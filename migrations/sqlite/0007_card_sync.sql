ALTER TABLE `sources` ADD `card_synced_at` integer;--> statement-breakpoint
ALTER TABLE `sources` ADD `cards_checked` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `cards_fixed` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `card_sync_problem` text;