-- A channel's default uplink budget per viewer, kbit/s (issue 12, item 2): the most one viewer
-- uploads to its repair group. 0: no cap.
ALTER TABLE channels ADD COLUMN uplink_kbps BIGINT NOT NULL DEFAULT 0;
