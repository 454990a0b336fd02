"""What happens to an account, told to whoever subscribes, so that accounts need not
know who does: app.lending subscribes when it is imported (as every app is, by its
blueprints), and accounts never imports lending.

Both are sent inside the transaction of the account's step, with the account as the
sender; a receiver writes into that transaction, or refuses by raising a MoochError,
and then nothing of the step is written.

- `closing`: the account asks to close (start_disconnect). Lending refuses while
  loans are under way.
- `closed`: the account is closed (disconnect). Lending calls off its open loans.
"""

from __future__ import annotations

from blinker import Namespace, Signal

from app.models import User

_signals = Namespace()

closing = _signals.signal("account-closing")
closed = _signals.signal("account-closed")


def send(signal: Signal, user: User) -> None:
    """Tell the subscribers of `signal` about `user`. Closing an account that nobody
    winds up after would leave its loans open, so a signal without subscribers is a
    wiring mistake, not a quiet no-op."""
    if not signal.receivers:
        raise RuntimeError(f"nothing subscribes to {signal.name!r}: import app.lending.service")
    signal.send(user)
