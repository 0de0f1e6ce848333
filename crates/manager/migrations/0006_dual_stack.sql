-- Dual-stack channels (issue 15): an IPv6 group (and its SSM source) beside the IPv4 one.
-- IPv6 viewers are grouped apart from IPv4 ones (they cannot reach each other), in groups
-- numbered from 2^31 up; next_group6 is the next such id.
ALTER TABLE channels ADD COLUMN group6 TEXT;
ALTER TABLE channels ADD COLUMN source6 TEXT;
ALTER TABLE channels ADD COLUMN next_group6 BIGINT NOT NULL DEFAULT 2147483648;
