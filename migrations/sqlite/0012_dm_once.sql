CREATE TABLE `dm_sent` (
	`dm_key` text PRIMARY KEY NOT NULL,
	`sent_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dm_sent_at` ON `dm_sent` (`sent_at`);