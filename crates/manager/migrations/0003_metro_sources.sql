-- The SSM source address of a metro's group (the edge's own address), when the edge sends it
-- source-specific (issue 15: SSM through edges). NULL: any-source in that metro.
ALTER TABLE metro_groups ADD COLUMN msource TEXT;
