"""The pam-auth-update profile (pam-configs/emailotp) through real libpam, placed the way
pam-auth-update places an Additional module (after common-auth's primary block, which leaves
a success on the stack; pam_permit stands in for pam_unix here): a user without a token keeps
logging in, an enrolled user is asked for the code; without nullok (the end of the roll-out)
the user without a token is refused."""

import pathlib

from lib.env import ALICE, ALICE_EMAIL
from lib.flows import CodeAnswerer, WRONG
from lib.pamdriver import PAM_SUCCESS, PAM_AUTH_ERR

PROFILE = pathlib.Path(__file__).resolve().parents[1] / "pam-configs" / "emailotp"


def profile_stack(site, drop_nullok=False):
    line = PROFILE.read_text().split("Auth:", 1)[1].strip()
    control, module, *args = line.split()
    assert module == "pam_emailotp.so"
    if drop_nullok:
        args.remove("nullok")
    args.append("config=%s" % site.config)
    return ("auth [success=1 default=ignore] pam_permit.so\nauth requisite pam_deny.so\n"
            "auth required pam_permit.so\n"
            "auth %s %s %s\naccount required pam_permit.so\n" % (control, site.module, " ".join(args)))


def test_profile_does_not_lock_out_users_without_a_token(site, smtp):
    site.enroll(ALICE, ALICE_EMAIL, pin=None)
    stack = profile_stack(site)
    res = site.authenticate("notenrolled", [], stack=stack)
    assert res.rc == PAM_SUCCESS, res.describe()
    assert res.transcript == [] and smtp.count() == 0
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin=None), stack=stack)
    assert res.rc == PAM_SUCCESS and smtp.count() == 1, res.describe()
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin=None, codes=[WRONG] * 3), stack=stack)
    assert res.rc == PAM_AUTH_ERR, res.describe()


def test_without_nullok_users_without_a_token_are_refused(site, smtp):
    res = site.authenticate("notenrolled", [], stack=profile_stack(site, drop_nullok=True))
    assert res.rc == PAM_AUTH_ERR, res.describe()
