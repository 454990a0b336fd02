"""The worker process: the RQ worker that sends (runner), the clock that relays and
fires timed events (clock), the supervisor of several processes (supervisor) and the
status report (status). The mail itself (notifiers, compose, templates, mailer,
outbox, delivery) is app.notifications; the queue is app.jobqueue.

Importing this package loads nothing: the supervisor stays small."""
