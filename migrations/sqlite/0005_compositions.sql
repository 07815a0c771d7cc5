ALTER TABLE `deliveries` ADD `sending` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `events_dropped` integer DEFAULT 0 NOT NULL;