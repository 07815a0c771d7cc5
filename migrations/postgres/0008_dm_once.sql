CREATE TABLE "dm_sent" (
	"dm_key" text PRIMARY KEY NOT NULL,
	"sent_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "dm_sent_at" ON "dm_sent" USING btree ("sent_at");