CREATE TABLE `alert_ping_roles` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_id` integer NOT NULL,
	`role_id` text NOT NULL,
	`accepted_at` integer NOT NULL,
	FOREIGN KEY (`source_id`) REFERENCES `sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alert_ping_roles_source_role` ON `alert_ping_roles` (`source_id`,`role_id`);