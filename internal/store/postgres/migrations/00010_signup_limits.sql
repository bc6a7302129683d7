-- +goose Up
-- When the last confirmation email went to a subscriber: one per
-- subscribe.confirm_resend, whoever signs the address up and from where,
-- kept here so that the limit holds across processes and restarts.
ALTER TABLE subscribers ADD COLUMN confirm_sent_at BIGINT;

-- +goose Down
ALTER TABLE subscribers DROP COLUMN confirm_sent_at;
