-- groupcast manager schema: one file for SQLite and PostgreSQL (through sqlx's Any driver):
-- times are BIGINT unix ms, flags SMALLINT, ids BIGINT assigned by the manager.

CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

CREATE TABLE channels (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    mgroup TEXT NOT NULL,
    source TEXT,
    chunk_packets BIGINT NOT NULL,
    buffer_ms BIGINT NOT NULL,
    group_size BIGINT NOT NULL,
    -- Bumped by every membership change: the lock the change takes, and what other manager
    -- instances poll to learn that groups changed.
    version BIGINT NOT NULL DEFAULT 0,
    -- The id the next new repair group of this channel gets.
    next_group BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE metro_groups (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    metro TEXT NOT NULL,
    mgroup TEXT NOT NULL,
    PRIMARY KEY (channel_id, metro)
);

CREATE TABLE entitlements (
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    PRIMARY KEY (user_name, channel_id)
);

CREATE TABLE metros (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Rows outlive their members (epochs must never repeat); `changed_version` is the channel
-- version of the group's last change.
CREATE TABLE repair_groups (
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    gkey TEXT NOT NULL,
    changed_version BIGINT NOT NULL,
    PRIMARY KEY (channel_id, id)
);

CREATE TABLE sessions (
    id BIGINT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    metro_id BIGINT NOT NULL REFERENCES metros(id),
    peer_addr TEXT NOT NULL,
    group_id BIGINT NOT NULL,
    pos BIGINT NOT NULL,
    stats TEXT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX sessions_channel ON sessions (channel_id, group_id);
CREATE INDEX sessions_seen ON sessions (last_seen_ms);

-- Per-metro deltas over fixed buckets, summed over sessions and manager instances.
CREATE TABLE metro_samples (
    metro_id BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    received BIGINT NOT NULL,
    lost BIGINT NOT NULL,
    repaired BIGINT NOT NULL,
    unrecovered BIGINT NOT NULL
);
CREATE INDEX metro_samples_at ON metro_samples (at_ms);
