-- Sessions that do not repair (`repair: false`, a client's --no-repair) each get a group of
-- their own, numbered from 3 * 2^30 up (below them, IPv4 groups from 1 and IPv6 groups from
-- 2^31); next_solo is the next such id.
ALTER TABLE channels ADD COLUMN next_solo BIGINT NOT NULL DEFAULT 3221225472;
