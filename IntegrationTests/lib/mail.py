"""Read the one-time code and the transaction id out of a captured mail.

    from lib.mail import extract_code, extract_txid
    code = extract_code(smtp.messages()[-1])   # "123456"
    txid = extract_txid(smtp.messages()[-1])   # "12345678901234567890"

The default body (docs/DESIGN.md) has the code alone on a line indented by
four spaces; the text part is quoted-printable, which get_content() decodes.
Accepts an EmailMessage, raw bytes/str, or a path to a .eml file.
"""

import email
import email.policy
import os
import re

CODE_LINE = re.compile(r"^    (\d{6,10})[ \t]*$", re.M)
TXID = re.compile(r"^\d{20}$")


def parse(msg):
    if isinstance(msg, email.message.Message):
        return msg
    if isinstance(msg, (str, os.PathLike)) and os.path.exists(msg):
        with open(msg, "rb") as f:
            msg = f.read()
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    return email.message_from_bytes(msg, policy=email.policy.default)


def text_body(msg):
    """The decoded text/plain body of a message."""
    msg = parse(msg)
    part = msg.get_body(("plain",))
    if part is None:
        raise AssertionError("mail has no text/plain part:\n%s" % msg.as_string())
    return part.get_content()


def html_body(msg):
    msg = parse(msg)
    part = msg.get_body(("html",))
    return None if part is None else part.get_content()


def extract_code(msg):
    """The code: the digits alone on a line indented by four spaces."""
    body = text_body(msg)
    found = CODE_LINE.findall(body.replace("\r\n", "\n"))
    if len(found) != 1:
        raise AssertionError("expected exactly one code line in the body, found %r:\n%s"
                             % (found, body))
    return found[0]


def extract_txid(msg):
    """The 20-digit X-EmailOTP-Transaction-Id header."""
    msg = parse(msg)
    values = msg.get_all("X-EmailOTP-Transaction-Id") or []
    if len(values) != 1:
        raise AssertionError("expected one X-EmailOTP-Transaction-Id header, got %r" % values)
    txid = str(values[0]).strip()
    if not TXID.match(txid):
        raise AssertionError("transaction id is not 20 digits: %r" % txid)
    return txid


def find_txids(text):
    """All 20-digit runs in a text (e.g. a PAM message)."""
    return re.findall(r"(?<!\d)\d{20}(?!\d)", text or "")


def code_mails(smtp):
    """The captured code mails, in order: alert mails (X-EmailOTP-Alert) left out."""
    return [m for m in smtp.messages() if m.get("X-EmailOTP-Transaction-Id")]


def alert_mails(smtp, kind=None):
    """The captured alert mails (of `kind`: lockout, recovery, new_host)."""
    return [m for m in smtp.messages()
            if m.get("X-EmailOTP-Alert") and (kind is None or m.get("X-EmailOTP-Alert") == kind)]
