-- The unicast fallback (issue 15): where viewers without multicast get the stream by unicast.
-- A channel's central relay (groupcast source --unicast-listen), and each edge-fed metro's
-- relay (groupcast edge --unicast-listen). NULL: none.
ALTER TABLE channels ADD COLUMN relay TEXT;
ALTER TABLE metro_groups ADD COLUMN mrelay TEXT;
