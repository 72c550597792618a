-- Rate limits over a sliding window instead of fixed ones: a fixed window let twice the limit
-- through around its edge (ten SMS codes a day before midnight UTC and ten more after it).
-- Each allowed request is a row; a request is let through while fewer than the limit fall in
-- the window that ends now. The bucket's row is taken (upserted) first, so two servers
-- counting the same bucket at once take turns. Counts of the old fixed windows are dropped:
-- limits start afresh once, at the upgrade.
DROP TABLE rate_limits;

CREATE TABLE rate_limit_buckets (
    bucket                TEXT PRIMARY KEY,
    last_hit_at           BIGINT NOT NULL
);

CREATE TABLE rate_limit_hits (
    bucket                TEXT NOT NULL REFERENCES rate_limit_buckets (bucket) ON DELETE CASCADE,
    at                    BIGINT NOT NULL
);
CREATE INDEX rate_limit_hits_by_bucket ON rate_limit_hits (bucket, at);
