DROP TABLE "dm_sent";
--> statement-breakpoint
CREATE TABLE "dm_sent" (
	"dm_key" text PRIMARY KEY NOT NULL,
	"received_at" bigint NOT NULL,
	"delivery_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "dm_sent_received_at" ON "dm_sent" USING btree ("received_at");