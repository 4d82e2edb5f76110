"""Cockpit (cockpit-ws 287) on a loopback port, driven in headless Chromium through
selenium (Debian's chromium, chromium-driver, python3-selenium).

    ws = CockpitWS(tmp_path / "cockpit").start(ns)      # cockpit-ws --no-tls inside ns
    with Browser(artifacts) as b:
        b.open(ws.url)
        b.login_field("login-user-input", "alice")
        b.shot("01-login")                               # artifacts/01-login.png

Everything the page shows is read from the DOM; every step can save a screenshot.
"""

import os
import shutil
import subprocess

from servers import _listening, free_port, read

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def cockpit_version():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "cockpit-ws"], capture_output=True, text=True)
    return p.stdout.strip()


class CockpitWS:
    """cockpit-ws --no-tls on 127.0.0.1:PORT as root, in a namespace whose /etc/cockpit
    holds `cockpit_conf` (bind it there: see etc_dir)."""

    def __init__(self, directory, cockpit_conf=""):
        self.dir = str(directory)
        self.etc = os.path.join(self.dir, "etc-cockpit")
        os.makedirs(self.etc, mode=0o755, exist_ok=True)
        for name in ("disallowed-users",):
            if os.path.exists(os.path.join("/etc/cockpit", name)):
                shutil.copyfile(os.path.join("/etc/cockpit", name), os.path.join(self.etc, name))
        with open(os.path.join(self.etc, "cockpit.conf"), "w") as f:
            f.write(cockpit_conf)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.stderr = os.path.join(self.dir, "cockpit-ws.log")
        self.proc = None

    def start(self, ns):
        self.proc = ns.popen([COCKPIT_WS, "--no-tls", "--address", "127.0.0.1", "--port", str(self.port)],
                             stdin=subprocess.DEVNULL, stdout=open(self.stderr, "ab"),
                             stderr=subprocess.STDOUT,
                             env=dict(os.environ, G_MESSAGES_DEBUG="", XDG_CONFIG_DIRS="/etc"))
        if _listening(self.proc, self.port):
            return self
        raise RuntimeError("cockpit-ws did not start:\n" + read(self.stderr))

    def log_text(self):
        return read(self.stderr)


class Browser:
    """Headless Chromium; `shot(name)` saves artifacts/NAME.png."""

    def __init__(self, artifacts):
        self.artifacts = str(artifacts)
        os.makedirs(self.artifacts, exist_ok=True)
        self.driver = None
        self.profile = None
        self.shots = []

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # A short path of its own: Chromium's singleton socket lives in the profile directory.
        import tempfile
        self.profile = tempfile.mkdtemp(prefix="eoc-chromium-")
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1100,760", "--lang=en-US", "--no-first-run",
                         "--user-data-dir=" + self.profile):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)
        return self

    def __exit__(self, *exc):
        if self.driver is not None:
            self.driver.quit()
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)

    def shot(self, name):
        path = os.path.join(self.artifacts, name + ".png")
        self.driver.save_screenshot(path)
        self.shots.append(path)
        return path

    def open(self, url):
        self.driver.get(url)

    def wait(self, condition, timeout=90):
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)

    def visible(self, css, timeout=90):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def find(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        return " ".join(e.text for e in self.find(css) if e.is_displayed())

    def type(self, css, value):
        field = self.visible(css)
        field.clear()
        field.send_keys(value)
        return field
