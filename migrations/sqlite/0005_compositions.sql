ALTER TABLE `deliveries` ADD `sending` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `events_dropped` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Waiting deliveries of disabled sources are paused (not pending), so finding due work never reads past them.
UPDATE `deliveries` SET `status` = 'paused' WHERE `status` = 'pending' AND `event_seq` IN (SELECT e.`seq` FROM `events` e JOIN `sources` s ON s.`id` = e.`source_id` WHERE s.`enabled` = 0);
