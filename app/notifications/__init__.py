"""Email: the notifier table, the outbox and its relay, RQ jobs, the mailer."""
