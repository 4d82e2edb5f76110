#!/usr/bin/python3
"""Run one PAM transaction in this process and print its outcome as JSON.

The fault-injection tests run this script with LD_PRELOAD=faultinject.so (and
EMAILOTP_FAULT=...), so that the libc calls of the module -- loaded by libpam
into this very process -- can be made to fail.  The faults are armed right
before the transaction (faultinject_arm), so Python's own start-up is left
alone.

    /usr/bin/python3 drive.py --user alice (--stack-file S | --direct ARGS) [--pin P]
        [--mail-dir D [--mail-to ADDR]] [--codes RIGHT,WRONG,123456] [--password PW]

--codes: what the "Email code: " prompts get, in order: RIGHT (the code of the
newest mail in --mail-dir, or of the newest one to --mail-to), WRONG (a code of
the same length that differs from it) or the digits themselves.  --password:
answer every prompt with this text (challenge mode).  --no-answer: the
conversation fails at the first prompt.  Prints one line:
    {"rc": 9, "rc_name": "PAM_AUTHINFO_UNAVAIL", "transcript": [[style, text, response]], "error": null}
and exits 0; a crash of the module kills this process (the caller sees the signal).
"""

import argparse
import ctypes
import email.utils
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # IntegrationTests

from lib import pamdriver  # noqa: E402
from lib.env import module_path  # noqa: E402
from lib.flows import CodeAnswerer, RIGHT, WRONG, password_answer  # noqa: E402
from lib.mail import parse  # noqa: E402


def newest_mail(directory, to=None):
    def newest():
        names = sorted(n for n in os.listdir(directory) if n.endswith(".eml") and n[:-4].isdigit())
        for name in reversed(names):
            msg = parse(os.path.join(directory, name))
            if to is None or email.utils.parseaddr(str(msg["To"]))[1] == to:
                return msg
        raise AssertionError("no mail%s was captured in %s" % (" to " + to if to else "", directory))
    return newest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--stack-file")
    ap.add_argument("--direct", metavar="ARGS",
                    help="call the module's pam_sm_authenticate with these arguments instead of "
                         "pam_authenticate over --stack-file (to see PAM_IGNORE, which libpam "
                         "turns into PAM_PERM_DENIED for a stack of one)")
    ap.add_argument("--pin", default="s3cret-PIN")
    ap.add_argument("--mail-dir")
    ap.add_argument("--mail-to")
    ap.add_argument("--codes", default="RIGHT")
    ap.add_argument("--password")
    ap.add_argument("--no-answer", action="store_true", help="fail every prompt (PAM_CONV_ERR)")
    ap.add_argument("--service", default="emailotp-test")
    args = ap.parse_args()

    if (args.stack_file is None) == (args.direct is None):
        ap.error("give --stack-file or --direct")
    if args.no_answer:
        answer = None
    elif args.password is not None:
        answer = password_answer(args.password)
    else:
        tags = {"RIGHT": RIGHT, "WRONG": WRONG}
        codes = [tags.get(c, c) for c in args.codes.split(",") if c]
        answer = CodeAnswerer(newest_mail(args.mail_dir, args.mail_to) if args.mail_dir else None,
                              pin=args.pin, codes=codes)

    me = ctypes.CDLL(None)
    arm = getattr(me, "faultinject_arm", None)
    disarm = getattr(me, "faultinject_disarm", None)
    if arm is not None:
        arm()
    try:
        if args.direct is not None:
            res = pamdriver.call_module(module_path(), args.user, args.direct, answer,
                                        service=args.service, fork=False, reraise=False)
        else:
            with open(args.stack_file) as f:
                stack = f.read()
            res = pamdriver.authenticate(args.user, stack, answer, service=args.service,
                                         fork=False, reraise=False)
    finally:
        if disarm is not None:
            disarm()
    out = {"rc": res.rc, "rc_name": res.rc_name,
           "transcript": [[m.style, m.text, m.response] for m in res.transcript],
           "error": res.error}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
