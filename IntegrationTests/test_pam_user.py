"""pam_get_user failures through real libpam: each keeps its own PAM code instead of being
reported as an unknown user."""

from lib.env import ALICE
from lib.flows import PIN_PROMPT
from lib.pamdriver import PAM_CONV_ERR, PROMPT_ECHO_ON


def test_a_conversation_that_gives_no_name_is_a_conversation_error(site, alice):
    """No PAM_USER: libpam asks for the name through the conversation, which fails."""
    asked = []

    def answer(style, text):
        asked.append((style, text))
        return None

    res = site.authenticate(None, answer)
    assert res.rc == PAM_CONV_ERR, res.describe()
    assert [m for m in res.transcript if m.is_prompt and m.style == PROMPT_ECHO_ON], res.describe()
    assert not [m for m in res.transcript if m.text == PIN_PROMPT], "no PIN prompt without a name"


def test_a_name_given_through_the_conversation_is_used(site, alice):
    """The same path with an answer: the login goes on to the PIN prompt."""
    def answer(style, text):
        return ALICE if style == PROMPT_ECHO_ON else None

    res = site.authenticate(None, answer)
    assert any(m.text == PIN_PROMPT for m in res.transcript), res.describe()
