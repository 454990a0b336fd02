from app.accounts import service as accounts
from tests.support import action_link


def test_sign_up_sends_confirmation(app, delivered):
    accounts.sign_up("bob@example.com", "long password", "Bob")
    [message] = delivered.run()
    assert message["Subject"] == "Confirm your email address for Mooch"
    assert action_link(message).startswith("https://mooch.test/confirm/")
