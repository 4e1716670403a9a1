-- 0005_quota: chat turns in flight. A turn reserves one message of its
-- quota period here before its first model call and gives the row up when
-- it settles (its reply and usage stored in usage_tracking, in the same
-- transaction) or fails. Reservations are taken under an advisory lock
-- (customerdb.ReserveTurn), so concurrent turns cannot overrun a quota.
CREATE TABLE quota_reservations (
    id         bigserial   PRIMARY KEY,
    -- period is the first day of the quota period reserved against.
    period     date        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_reservations_by_period ON quota_reservations (period, created_at);
