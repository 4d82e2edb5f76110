"""Conversation helpers: answer the module's prompts like a user would.

    from lib.flows import CodeAnswerer, RIGHT, WRONG
    ans = CodeAnswerer(smtp, pin="s3cret-PIN", codes=[WRONG, RIGHT])
    res = site.authenticate("alice", ans)

The PIN prompt ("PIN: ") gets `pin`; each code prompt ("Email code: ", or
"Code sent to ... (valid 5 min): " for a quiet application) takes the next item of `codes`: RIGHT = the code from the newest captured
mail, WRONG = a code of the same length that differs from it, a str = that
text, a callable(code) -> str.  `before_code` (callable) runs when a code
prompt arrives, before the answer is chosen (e.g. to edit the store).
Any other prompt, or more code prompts than `codes`, ends the conversation
(PAM_CONV_ERR).  `mailbox` may be an SMTPCapture or a callable returning the
newest message (e.g. for the maildir transport).
"""

import re

from .env import DEFAULT_PIN
from .mail import extract_code

PIN_PROMPT = "PIN: "
OTP_PROMPT = "Email code: "
# The code prompt of an application that passes PAM_SILENT or sets no PAM_TTY (pamtester).
QUIET_OTP_PROMPT = re.compile(r"Code sent to \S+ \(valid [^)]*\): ")
# Either code prompt, for pexpect.
ANY_OTP_PROMPT = re.compile(r"(Email code: |Code sent to \S+ \(valid [^)]*\): )")


class _Tag:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


RIGHT = _Tag("RIGHT")
WRONG = _Tag("WRONG")


def wrong_code(code):
    """A code of the same length that is not `code`."""
    n = len(code)
    return str((int(code) + 1) % (10 ** n)).zfill(n)


class CodeAnswerer:
    def __init__(self, mailbox, pin=DEFAULT_PIN, codes=(RIGHT,), before_code=None,
                 pin_prompt=PIN_PROMPT, otp_prompt=OTP_PROMPT):
        self.mailbox = mailbox
        self.pin = pin
        self.codes = list(codes)
        self.before_code = before_code
        self.pin_prompt = pin_prompt
        self.otp_prompt = otp_prompt

    def newest(self):
        if callable(self.mailbox):
            return self.mailbox()
        return self.mailbox.last()

    def __call__(self, style, text):
        if text == self.pin_prompt:
            return self.pin
        if text == self.otp_prompt or (self.otp_prompt == OTP_PROMPT and QUIET_OTP_PROMPT.fullmatch(text)):
            if self.before_code:
                self.before_code()
            if not self.codes:
                return None
            item = self.codes.pop(0)
            if item is RIGHT:
                return extract_code(self.newest())
            if item is WRONG:
                return wrong_code(extract_code(self.newest()))
            if callable(item):
                return item(extract_code(self.newest()))
            return item
        return None


def password_answer(password):
    """Answer every prompt (echo off or on) with `password` (challenge mode)."""
    def answer(style, text):
        return password
    return answer
