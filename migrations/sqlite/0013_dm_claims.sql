DROP TABLE `dm_sent`;
--> statement-breakpoint
CREATE TABLE `dm_sent` (
	`dm_key` text PRIMARY KEY NOT NULL,
	`received_at` integer NOT NULL,
	`delivery_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dm_sent_received_at` ON `dm_sent` (`received_at`);