-- Bumped by every change of users or entitlements, in the same transaction: every instance
-- polls it and drops its token cache when it moves (issue 13, finding 3).
CREATE TABLE auth_version (
    id SMALLINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO auth_version (id, version) VALUES (1, 0);
