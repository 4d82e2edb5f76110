"""A web application's login as python-pam does it: one password per attempt,
the module's messages shown to the user from p.messages.

    echo '{"user": U, "password": P, "service": S}' | VENV/bin/python pam_app.py
prints {"ok": bool, "code": int, "reason": str, "messages": [str], "uid": int}
"""

import json
import os
import sys

import pam

request = json.load(sys.stdin)
p = pam.pam()
ok = p.authenticate(request["user"], request["password"], service=request["service"])
print(json.dumps({"ok": bool(ok), "code": p.code, "reason": p.reason,
                  "messages": [str(m) for m in p.messages], "uid": os.getuid()}))
