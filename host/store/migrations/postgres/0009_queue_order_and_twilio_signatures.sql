-- Texts of one sending number go out in queue order across nodes: a claim skips an SMS
-- while an earlier unsettled SMS of its number is held, which it looks up here.
CREATE INDEX queue_entries_pending_by_sender ON queue_entries (sender, number)
    WHERE state = 'pending' AND media = 'sms';

-- A connector's Twilio auth token, with which Twilio signs its posts
-- (`X-Twilio-Signature`): a signed post needs no connector token. Never returned.
ALTER TABLE sms_connectors ADD COLUMN twilio_auth_token TEXT;
