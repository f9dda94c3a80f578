-- An operator's own alert webhook: its venues' alerts are POSTed there too.
ALTER TABLE operators ADD COLUMN alert_webhook TEXT;
