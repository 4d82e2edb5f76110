"""Drive real libpam from Python with ctypes.

    from lib.pamdriver import authenticate, PAM_SUCCESS, PROMPT_ECHO_OFF

    def answer(style, text):
        if text == "PIN: ":
            return "s3cret-PIN"
        if text == "Email code: ":
            return extract_code(smtp.last())   # the mail is there already
        return None                            # -> PAM_CONV_ERR

    res = authenticate("alice", stack_text, answer)
    rc, name, transcript = res                 # unpacks to three values
    assert res.rc == PAM_SUCCESS, res.describe()

`authenticate` writes `stack_text` as the service file SERVICE into a
temporary confdir and calls pam_start_confdir(SERVICE, user, &conv, confdir,
&pamh) (Linux-PAM >= 1.4), then pam_authenticate.  The conversation records
every message (style, text, the response given) in `transcript`; prompts are
answered by `answer`, which is either a callable (style, text) -> str|None, or
a sequence of answers given to the prompts (ECHO_OFF/ECHO_ON) in order, each
a str or a zero-argument callable.  None (or a exhausted sequence) makes the
conversation fail with PAM_CONV_ERR.  Responses are malloc'd with libc
(calloc/strdup) because libpam frees them.

By default the PAM transaction runs in a forked child process, so that a crash
of the module inside libpam fails one test instead of killing pytest; the
transcript comes back through a pipe.  Side effects of `answer` on Python
objects therefore do not reach the caller (files and mails do); use
fork=False to run in-process.  An exception raised by `answer` is re-raised
in the caller after the transaction ended.

pam_fail_delay is neutralised by installing a PAM_FAIL_DELAY callback (the
requested delays are recorded in res.fail_delays) -- pass real_delay=True to
keep libpam's sleep.

authtok=...: libpam refuses pam_set_item(PAM_AUTHTOK) from an application
(only modules may set it; it returns PAM_BAD_ITEM), so the driver first tries
that and otherwise sets it from a module: it prepends
"auth optional pam_unix.so" to the stack and answers pam_unix's "Password: "
prompt with authtok (pam_unix stores what it read as PAM_AUTHTOK, then fails,
which an optional module may do).  Those pam_unix messages are not recorded
in the transcript.  See res.authtok_via ("pam_set_item" or "pam_unix").
"""

import ctypes
import os
import pickle
import shutil
import signal
import struct
import tempfile
import traceback

# return codes
PAM_SUCCESS = 0
PAM_OPEN_ERR = 1
PAM_SYMBOL_ERR = 2
PAM_SERVICE_ERR = 3
PAM_SYSTEM_ERR = 4
PAM_BUF_ERR = 5
PAM_PERM_DENIED = 6
PAM_AUTH_ERR = 7
PAM_CRED_INSUFFICIENT = 8
PAM_AUTHINFO_UNAVAIL = 9
PAM_USER_UNKNOWN = 10
PAM_MAXTRIES = 11
PAM_NEW_AUTHTOK_REQD = 12
PAM_ACCT_EXPIRED = 13
PAM_SESSION_ERR = 14
PAM_CRED_UNAVAIL = 15
PAM_CRED_EXPIRED = 16
PAM_CRED_ERR = 17
PAM_NO_MODULE_DATA = 18
PAM_CONV_ERR = 19
PAM_AUTHTOK_ERR = 20
PAM_ABORT = 26
PAM_IGNORE = 25
PAM_BAD_ITEM = 29

RC_NAMES = {v: k for k, v in list(globals().items())
            if k.startswith("PAM_") and isinstance(v, int)}

# message styles
PROMPT_ECHO_OFF = ECHO_OFF = 1
PROMPT_ECHO_ON = ECHO_ON = 2
ERROR_MSG = 3
TEXT_INFO = 4
STYLE_NAMES = {1: "ECHO_OFF", 2: "ECHO_ON", 3: "ERROR_MSG", 4: "TEXT_INFO"}

# items
PAM_SERVICE = 1
PAM_USER = 2
PAM_TTY = 3
PAM_RHOST = 4
PAM_CONV = 5
PAM_AUTHTOK = 6
PAM_OLDAUTHTOK = 7
PAM_RUSER = 8
PAM_USER_PROMPT = 9
PAM_FAIL_DELAY = 10

PAM_SILENT = 0x8000
PAM_DISALLOW_NULL_AUTHTOK = 0x0001


class _PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class _PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


_CONV_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int,
                              ctypes.POINTER(ctypes.POINTER(_PamMessage)),
                              ctypes.POINTER(ctypes.POINTER(_PamResponse)),
                              ctypes.c_void_p)
_DELAY_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p)


class _PamConv(ctypes.Structure):
    _fields_ = [("conv", _CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


# The process's own namespace, not libc.so.6 by name: libpam frees the responses with the free
# that the process uses, which is AddressSanitizer's when its runtime is preloaded (asan.sh).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.calloc.restype = ctypes.c_void_p
_libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
_libc.strdup.restype = ctypes.c_void_p
_libc.strdup.argtypes = [ctypes.c_char_p]
_libc.free.restype = None
_libc.free.argtypes = [ctypes.c_void_p]

_libpam = ctypes.CDLL("libpam.so.0", use_errno=True)
_libpam.pam_start_confdir.restype = ctypes.c_int
_libpam.pam_start_confdir.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.POINTER(_PamConv), ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_void_p)]
_libpam.pam_end.restype = ctypes.c_int
_libpam.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
_libpam.pam_authenticate.restype = ctypes.c_int
_libpam.pam_authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int]
_libpam.pam_acct_mgmt.restype = ctypes.c_int
_libpam.pam_acct_mgmt.argtypes = [ctypes.c_void_p, ctypes.c_int]
_libpam.pam_setcred.restype = ctypes.c_int
_libpam.pam_setcred.argtypes = [ctypes.c_void_p, ctypes.c_int]
_libpam.pam_set_item.restype = ctypes.c_int
_libpam.pam_set_item.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_libpam.pam_get_item.restype = ctypes.c_int
_libpam.pam_get_item.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_void_p)]
_libpam.pam_strerror.restype = ctypes.c_char_p
_libpam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]


def _b(s):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return os.fsencode(s) if isinstance(s, os.PathLike) else s.encode("utf-8", "surrogateescape")


def strerror(rc):
    """pam_strerror text for a return code."""
    t = _libpam.pam_strerror(None, rc)
    return t.decode(errors="replace") if t else str(rc)


def rc_name(rc):
    return RC_NAMES.get(rc, "PAM_%s" % rc)


class Message:
    """One conversation message: style, text, and the response given (None
    for TEXT_INFO/ERROR_MSG or an unanswered prompt)."""
    __slots__ = ("style", "text", "response")

    def __init__(self, style, text, response=None):
        self.style, self.text, self.response = style, text, response

    @property
    def is_prompt(self):
        return self.style in (PROMPT_ECHO_OFF, PROMPT_ECHO_ON)

    def __iter__(self):
        return iter((self.style, self.text))

    def __eq__(self, other):
        if isinstance(other, tuple):
            return (self.style, self.text) == other
        return isinstance(other, Message) and (self.style, self.text) == (other.style, other.text)

    def __repr__(self):
        r = "" if self.response is None else ", response=%r" % self.response
        return "Message(%s, %r%s)" % (STYLE_NAMES.get(self.style, self.style), self.text, r)

    def __getstate__(self):
        return (self.style, self.text, self.response)

    def __setstate__(self, st):
        self.style, self.text, self.response = st


class PamResult:
    """Result of one PAM transaction.  Unpacks as (rc, name, transcript)."""

    def __init__(self, rc, name, transcript, fail_delays=(), authtok_via=None,
                 error=None, signal=None, acct_rc=None):
        self.rc = rc
        self.name = name                  # pam_strerror text
        self.transcript = list(transcript)
        self.fail_delays = list(fail_delays)
        self.authtok_via = authtok_via
        self.error = error                # traceback text of an exception in `answer`
        self.signal = signal              # the child died of this signal
        self.acct_rc = acct_rc

    def __iter__(self):
        return iter((self.rc, self.name, self.transcript))

    def __getitem__(self, i):
        return (self.rc, self.name, self.transcript)[i]

    def __len__(self):
        return 3

    @property
    def rc_name(self):
        return rc_name(self.rc) if self.rc is not None else "CRASHED(signal %s)" % self.signal

    @property
    def prompts(self):
        return [m.text for m in self.transcript if m.is_prompt]

    @property
    def infos(self):
        return [m.text for m in self.transcript if m.style == TEXT_INFO]

    @property
    def errors(self):
        return [m.text for m in self.transcript if m.style == ERROR_MSG]

    def texts(self):
        return [m.text for m in self.transcript]

    def describe(self):
        lines = ["rc=%s (%s: %s)" % (self.rc, self.rc_name, self.name)]
        for m in self.transcript:
            lines.append("  %-9s %r%s" % (STYLE_NAMES.get(m.style, m.style), m.text,
                                          "" if m.response is None else " <- %r" % m.response))
        if self.error:
            lines.append("answer() raised:\n" + self.error)
        return "\n".join(lines)

    def __repr__(self):
        return "PamResult(%s)" % self.describe()


class AnswerError(Exception):
    pass


def _make_answerer(answer):
    if answer is None:
        return lambda style, text: None
    if callable(answer):
        return answer
    seq = list(answer)

    def from_seq(style, text):
        if style not in (PROMPT_ECHO_OFF, PROMPT_ECHO_ON):
            return None
        if not seq:
            return None
        a = seq.pop(0)
        return a() if callable(a) else a
    return from_seq


def service_file(lines):
    """Service file text from a string or a list of lines."""
    if isinstance(lines, str):
        text = lines
    else:
        text = "\n".join(lines)
    return text if text.endswith("\n") else text + "\n"


def _conversation(answerer, transcript, state, authtok=None):
    """The driver's one PAM conversation callback (for pam_authenticate through a stack and
    for a direct pam_sm_* call): every message goes into `transcript`, prompts are answered
    by `answerer` (None fails the conversation with PAM_CONV_ERR), TEXT_INFO/ERROR_MSG reach
    it only when it `wants_info`. While state["hide"] > 0, pam_unix's prompt is answered
    with `authtok` and not recorded. An exception of `answerer` is kept in state["error"]."""
    def conv(num_msg, msgs, resp_out, appdata):
        try:
            if num_msg <= 0 or num_msg > 32:
                return PAM_CONV_ERR
            arr = _libc.calloc(num_msg, ctypes.sizeof(_PamResponse))
            if not arr:
                return PAM_BUF_ERR
            responses = ctypes.cast(arr, ctypes.POINTER(_PamResponse))
            ok = True
            for i in range(num_msg):
                m = msgs[i].contents
                style = m.msg_style
                raw = m.msg if m.msg is not None else b""
                mtext = raw.decode("utf-8", "surrogateescape")
                # pam_unix's prompt while we inject PAM_AUTHTOK
                if state["hide"]:
                    if style in (PROMPT_ECHO_OFF, PROMPT_ECHO_ON):
                        responses[i].resp = _libc.strdup(_b(authtok))
                        responses[i].resp_retcode = 0
                        state["hide"] -= 1
                        continue
                    continue
                msg = Message(style, mtext)
                transcript.append(msg)
                if style in (PROMPT_ECHO_OFF, PROMPT_ECHO_ON):
                    a = None
                    if state["error"] is None:
                        try:
                            a = answerer(style, mtext)
                        except BaseException:
                            state["error"] = traceback.format_exc()
                            a = None
                    if a is None:
                        ok = False
                        break
                    if isinstance(a, bytes):
                        a = a.decode("utf-8", "surrogateescape")
                    msg.response = a
                    p = _libc.strdup(_b(a))
                    if not p:
                        ok = False
                        break
                    responses[i].resp = p
                    responses[i].resp_retcode = 0
                else:
                    try:
                        answerer(style, mtext) if getattr(answerer, "wants_info", False) else None
                    except BaseException:
                        state["error"] = traceback.format_exc()
            if not ok:
                for i in range(num_msg):
                    if responses[i].resp:
                        _libc.free(responses[i].resp)
                _libc.free(arr)
                return PAM_CONV_ERR
            resp_out[0] = responses
            return PAM_SUCCESS
        except BaseException:
            state["error"] = traceback.format_exc()
            return PAM_CONV_ERR
    return conv


def _transaction(user, stack, answerer, *, service, authtok, rhost, tty, ruser,
                 flags, real_delay, acct, confdir):
    transcript = []
    delays = []
    state = {"error": None, "hide": 0}
    own_confdir = confdir is None
    confdir = tempfile.mkdtemp(prefix="pamconf-") if own_confdir else os.fspath(confdir)
    try:
        authtok_via = None
        text = service_file(stack)
        if authtok is not None:
            authtok_via = "pam_set_item"
        with open(os.path.join(confdir, service), "w") as f:
            f.write(text)
        if service != "other" and not os.path.exists(os.path.join(confdir, "other")):
            with open(os.path.join(confdir, "other"), "w") as f:   # libpam wants a fallback
                f.write("auth required pam_deny.so\naccount required pam_deny.so\n")

        conv_cb = _CONV_FUNC(_conversation(answerer, transcript, state, authtok))
        pamconv = _PamConv(conv_cb, None)
        pamh = ctypes.c_void_p()
        rc = _libpam.pam_start_confdir(_b(service), _b(user), ctypes.byref(pamconv),
                                       _b(confdir), ctypes.byref(pamh))
        if rc != PAM_SUCCESS:
            raise RuntimeError("pam_start_confdir failed: %s" % rc_name(rc))

        def delay_cb(retval, usec, appdata):
            delays.append(usec)
        delay_keep = _DELAY_FUNC(delay_cb)
        acct_rc = None
        try:
            if not real_delay:
                r = _libpam.pam_set_item(pamh, PAM_FAIL_DELAY,
                                         ctypes.cast(delay_keep, ctypes.c_void_p))
                if r != PAM_SUCCESS:
                    raise RuntimeError("pam_set_item(PAM_FAIL_DELAY) failed: %s" % rc_name(r))
            for item, value in ((PAM_RHOST, rhost), (PAM_TTY, tty), (PAM_RUSER, ruser)):
                if value is not None:
                    buf = ctypes.create_string_buffer(_b(value))
                    r = _libpam.pam_set_item(pamh, item, ctypes.cast(buf, ctypes.c_void_p))
                    if r != PAM_SUCCESS:
                        raise RuntimeError("pam_set_item(%d) failed: %s" % (item, rc_name(r)))
            if authtok is not None:
                buf = ctypes.create_string_buffer(_b(authtok))
                r = _libpam.pam_set_item(pamh, PAM_AUTHTOK, ctypes.cast(buf, ctypes.c_void_p))
                if r != PAM_SUCCESS:
                    # applications may not set PAM_AUTHTOK: let pam_unix set it
                    _libpam.pam_end(pamh, r)
                    authtok_via = "pam_unix"
                    state["hide"] = 1
                    with open(os.path.join(confdir, service), "w") as f:
                        f.write("auth optional pam_unix.so\n" + text)
                    pamh = ctypes.c_void_p()
                    rc = _libpam.pam_start_confdir(_b(service), _b(user), ctypes.byref(pamconv),
                                                   _b(confdir), ctypes.byref(pamh))
                    if rc != PAM_SUCCESS:
                        raise RuntimeError("pam_start_confdir failed: %s" % rc_name(rc))
                    if not real_delay:
                        _libpam.pam_set_item(pamh, PAM_FAIL_DELAY,
                                             ctypes.cast(delay_keep, ctypes.c_void_p))
                    for item, value in ((PAM_RHOST, rhost), (PAM_TTY, tty), (PAM_RUSER, ruser)):
                        if value is not None:
                            b2 = ctypes.create_string_buffer(_b(value))
                            _libpam.pam_set_item(pamh, item, ctypes.cast(b2, ctypes.c_void_p))
            rc = _libpam.pam_authenticate(pamh, flags)
            if acct and rc == PAM_SUCCESS:
                acct_rc = _libpam.pam_acct_mgmt(pamh, 0)
        finally:
            _libpam.pam_end(pamh, rc)
        return PamResult(rc, strerror(rc), transcript, delays, authtok_via,
                         state["error"], None, acct_rc)
    finally:
        if own_confdir:
            shutil.rmtree(confdir, ignore_errors=True)


# The application of these tests is a terminal login (PAM_TTY set, no PAM_SILENT): the module
# shows where the code went in a message. tty="" (or flags=PAM_SILENT) makes it an application
# without a terminal, whose code prompt carries that instead.
TERMINAL = "/dev/pts/0"


def authenticate(user, stack, answer=None, *, service="emailotp-test", authtok=None,
                 rhost=None, tty=TERMINAL, ruser=None, flags=0, real_delay=False,
                 acct=False, confdir=None, fork=True, reraise=True):
    """Run one pam_authenticate over the stack text `stack` for `user`.
    Returns a PamResult (unpacks to (rc, pam_strerror name, transcript))."""
    answerer = _make_answerer(answer)
    kw = dict(service=service, authtok=authtok, rhost=rhost, tty=tty, ruser=ruser,
              flags=flags, real_delay=real_delay, acct=acct, confdir=confdir)
    if not fork:
        res = _transaction(user, stack, answerer, **kw)
    else:
        res = _forked(lambda: _transaction(user, stack, answerer, **kw))
    if reraise and res.error:
        raise AnswerError("the conversation's answer() raised:\n%s\n%s"
                          % (res.error, res.describe()))
    return res


def _forked(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            try:
                res = fn()
                payload = pickle.dumps(("ok", res))
            except BaseException:
                payload = pickle.dumps(("exc", traceback.format_exc()))
            data = struct.pack("!Q", len(payload)) + payload
            view = memoryview(data)
            while view:
                n = os.write(w, view)
                view = view[n:]
            os.close(w)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if len(data) >= 8:
        (n,) = struct.unpack("!Q", data[:8])
        if len(data) == 8 + n:
            kind, val = pickle.loads(data[8:])
            if kind == "ok":
                return val
            raise RuntimeError("PAM driver failed in the child:\n" + val)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return PamResult(None, "child died (status %r, signal %r)" % (status, sig), [],
                     signal=sig, error=None)


def can_set_authtok_from_app():
    """Whether libpam lets an application set PAM_AUTHTOK (Linux-PAM: no)."""
    confdir = tempfile.mkdtemp(prefix="pamconf-")
    try:
        with open(os.path.join(confdir, "probe"), "w") as f:
            f.write("auth required pam_deny.so\n")
        pamconv = _PamConv(_CONV_FUNC(lambda *a: PAM_CONV_ERR), None)
        pamh = ctypes.c_void_p()
        rc = _libpam.pam_start_confdir(b"probe", b"nobody", ctypes.byref(pamconv),
                                       _b(confdir), ctypes.byref(pamh))
        if rc != PAM_SUCCESS:
            return False
        buf = ctypes.create_string_buffer(b"x")
        r = _libpam.pam_set_item(pamh, PAM_AUTHTOK, ctypes.cast(buf, ctypes.c_void_p))
        _libpam.pam_end(pamh, PAM_SUCCESS)
        return r == PAM_SUCCESS
    finally:
        shutil.rmtree(confdir, ignore_errors=True)


_SM_FUNC_ARGTYPES = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                     ctypes.POINTER(ctypes.c_char_p)]


def _call_module(module, user, args, answerer, *, fn, service, rhost, tty, flags):
    transcript = []
    delays = []
    state = {"error": None, "hide": 0}
    argv_list = [_b(a) for a in (args.split() if isinstance(args, str) else list(args))]

    conv_cb = _CONV_FUNC(_conversation(answerer, transcript, state))
    pamconv = _PamConv(conv_cb, None)
    confdir = tempfile.mkdtemp(prefix="pamconf-")
    try:
        with open(os.path.join(confdir, service), "w") as f:
            f.write("auth required pam_deny.so\n")
        pamh = ctypes.c_void_p()
        rc = _libpam.pam_start_confdir(_b(service), _b(user), ctypes.byref(pamconv),
                                       _b(confdir), ctypes.byref(pamh))
        if rc != PAM_SUCCESS:
            raise RuntimeError("pam_start_confdir failed: %s" % rc_name(rc))
        delay_keep = _DELAY_FUNC(lambda r, usec, a: delays.append(usec))
        _libpam.pam_set_item(pamh, PAM_FAIL_DELAY, ctypes.cast(delay_keep, ctypes.c_void_p))
        items = []
        for item, value in ((PAM_RHOST, rhost), (PAM_TTY, tty)):
            if value is not None:
                items.append(ctypes.create_string_buffer(_b(value)))
                _libpam.pam_set_item(pamh, item, ctypes.cast(items[-1], ctypes.c_void_p))
        lib = ctypes.CDLL(os.fspath(module), mode=os.RTLD_NOW)
        func = getattr(lib, fn)
        func.restype = ctypes.c_int
        func.argtypes = _SM_FUNC_ARGTYPES
        argv = (ctypes.c_char_p * (len(argv_list) + 1))(*argv_list, None)
        rc = func(pamh, flags, len(argv_list), argv)
        _libpam.pam_end(pamh, rc)
        return PamResult(rc, strerror(rc), transcript, delays, None, state["error"])
    finally:
        shutil.rmtree(confdir, ignore_errors=True)


def call_module(module, user, args, answer=None, *, fn="pam_sm_authenticate",
                service="emailotp-test", rhost=None, tty=TERMINAL, flags=0, fork=True, reraise=True):
    """Call the module's pam_sm_* function directly on a libpam handle made by
    pam_start_confdir, to see the module's own return code (libpam's dispatcher
    maps e.g. a lone PAM_IGNORE to PAM_PERM_DENIED).  `args` is the argument
    string of a stack line.  PAM_AUTHTOK is not available this way (libpam
    hides it from applications)."""
    answerer = _make_answerer(answer)
    kw = dict(fn=fn, service=service, rhost=rhost, tty=tty, flags=flags)
    if fork:
        res = _forked(lambda: _call_module(module, user, args, answerer, **kw))
    else:
        res = _call_module(module, user, args, answerer, **kw)
    if reraise and res.error:
        raise AnswerError("the conversation's answer() raised:\n%s\n%s"
                          % (res.error, res.describe()))
    return res
