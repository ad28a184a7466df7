"""The web client in a real browser (headless Chromium through Selenium) against a 3-node
cluster with two copies of each shard: two users on different nodes sign up, chat live with
ticks turning read and typing shown, a reload shows the chat from the browser's cache with
the API cut off, and after a kill -9 of one user's node the chat goes on with nothing lost or
shown twice. Screenshots of each step go to tests/artifacts/web/."""
from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from conftest import formed_cluster
from relay import unique_user

selenium = pytest.importorskip("selenium", reason="selenium is installed by scripts/install-deps")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
WAIT_S = 20


def browser() -> webdriver.Chrome:
    if not CHROMIUM or not DRIVER:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver must be installed in CI (scripts/install-deps)")
        pytest.skip("chromium and chromedriver are not installed (scripts/install-deps installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,700", "--disable-gpu"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


class User:
    def __init__(self, name: str, url: str):
        self.name = name
        self.driver = browser()
        self.driver.get(url)

    def shot(self, step: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"{step}-{self.name.split('_')[0]}.png"))

    def wait(self, what, message: str, timeout: float = WAIT_S):
        return WebDriverWait(self.driver, timeout).until(lambda d: what(), message)

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> bool:
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0", css)

    def signup(self) -> None:
        self.wait(lambda: self.visible("#auth-user"), "the sign-in form")
        self.find("#auth-user").send_keys(self.name)
        self.find("#auth-password").send_keys("correct horse battery")
        self.find("#signup").click()
        self.wait(lambda: self.visible("#conversations"), "the app after sign-up")
        self.wait(lambda: self.text("#status").startswith("connected"), "a live connection")

    def open_chat_with(self, other: str) -> None:
        self.find("#new-chat-user").send_keys(other + "\n")
        self.wait(lambda: self.text("#chat-title") == other, f"the chat with {other}")

    def say(self, text: str) -> None:
        box = self.find("#text")
        box.send_keys(text + "\n")

    def messages(self) -> list[tuple[str, str]]:
        """(seq, body) of the messages shown, in order; unacked ones have seq ''."""
        return [tuple(x) for x in self.driver.execute_script(
            "return [...document.querySelectorAll('#messages li')].filter(li => li.querySelector('.body'))"
            ".map(li => [li.dataset.seq, li.querySelector('.body').textContent])")]

    def text(self, css: str) -> str:
        return self.driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)

    def click(self, css: str) -> None:
        """Clicks the first match; the views redraw often, so it is found and clicked at once."""
        assert self.driver.execute_script("const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e", css), css

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="module")
def web3(tmp_path_factory):
    with formed_cluster(tmp_path_factory.mktemp("web3"), replication=2) as cluster:
        yield cluster


def test_two_users_chat_live_reload_from_cache_and_survive_a_node_kill(web3):
    alice = User(unique_user("alice"), web3.url("n1") + "/")
    bob = User(unique_user("bob"), web3.url("n2") + "/")
    try:
        alice.signup()
        bob.signup()
        alice.shot("01-signed-up")

        alice.open_chat_with(bob.name)
        alice.say("hello bob")
        alice.wait(lambda: alice.messages() == [("1", "hello bob")], "alice's message acked as seq 1")

        # Bob sees the chat appear live and opens it; alice's tick turns read.
        bob.wait(lambda: alice.name in bob.text("#conversations"), "the chat in bob's list")
        bob.click('#conversations li[data-id^="dm:"]')
        bob.wait(lambda: bob.messages() == [("1", "hello bob")], "bob reads seq 1")
        alice.wait(lambda: alice.all("#messages li .tick.read"), "alice's tick turning read")
        alice.shot("02-read-tick")

        # Typing shows on the other side.
        bob.find("#text").send_keys("typing")
        alice.wait(lambda: bob.name in alice.text("#typing"), "bob typing, shown to alice")
        bob.find("#text").clear()
        bob.say("hi alice")
        alice.wait(lambda: alice.messages() == [("1", "hello bob"), ("2", "hi alice")], "bob's reply live")
        bob.shot("03-live-chat")

        # A reload shows the chat from IndexedDB with the API cut off.
        alice.driver.execute_cdp_cmd("Network.enable", {})
        alice.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/v1/*"]})
        alice.driver.refresh()
        alice.wait(lambda: alice.visible("#conversations li"), "the cached conversation list")
        alice.click("#conversations li")
        alice.wait(lambda: alice.messages() == [("1", "hello bob"), ("2", "hi alice")], "the cached messages")
        alice.shot("04-reload-from-cache")
        alice.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        alice.wait(lambda: alice.text("#status").startswith("connected"), "alice reconnected", timeout=30)

        # Kill -9 bob's node: his client moves to another node and the chat goes on.
        assert web3.kill("n2", signal.SIGKILL) == -signal.SIGKILL
        bob.wait(lambda: bob.text("#status").startswith("connected to n"), "bob on another node", timeout=40)
        alice.say("after the kill")
        bob.say("still here")
        expected = {"hello bob", "hi alice", "after the kill", "still here"}
        for user in (alice, bob):
            user.wait(lambda u=user: {b for _, b in u.messages()} == expected and all(s for s, _ in u.messages()),
                      f"{user.name}: every message once, acked", timeout=40)
            seqs = [int(s) for s, _ in user.messages()]
            assert seqs == sorted(seqs) == list(range(1, 5)), f"{user.name} shows {user.messages()}"
        bob.shot("05-after-node-kill")
    finally:
        alice.quit()
        bob.quit()
        if not web3.nodes["n2"].alive:
            web3.start("n2")
