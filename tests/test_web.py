"""The web client in a real browser (headless Chromium through Selenium) against a 3-node
cluster with two copies of each shard: two users on different nodes sign up, chat live with
ticks turning read and typing shown, a reload shows the chat from the browser's cache with
the API cut off, and after a kill -9 of one user's node the chat goes on with nothing lost or
shown twice. Screenshots of each step go to tests/artifacts/web/."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import time
import zlib
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

    def dialog_button(self, label: str) -> None:
        """Clicks the open dialog's button labelled `label`."""
        assert self.driver.execute_script(
            "const b = [...document.querySelectorAll('#dialog button')].find(b => b.textContent === arguments[0]);"
            "if (b) b.click(); return !!b", label), f"no {label} button in the dialog"

    def dialog_inputs(self):
        return self.all("#dialog input")

    def token(self) -> str:
        return self.driver.execute_script("return JSON.parse(localStorage.getItem('relay.session')).token")

    def quit(self) -> None:
        self.driver.quit()


def png(path: Path, width: int = 64, height: int = 48) -> Path:
    """A small valid PNG: a colour gradient."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 200)) for x in range(width)) for y in range(height))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


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


def test_a_group_by_invite_link_a_block_and_the_phone_layout(web3):
    alice = User(unique_user("alice"), web3.url("n1") + "/")
    bob = User(unique_user("bob"), web3.url("n2") + "/")
    carol = User(unique_user("carol"), web3.url("n3") + "/")
    try:
        for u in (alice, bob, carol):
            u.signup()

        # Alice makes a group with bob, then an invite link that carol opens.
        alice.click("#new-group")
        title, members = alice.dialog_inputs()[:2]
        title.send_keys("Team")
        members.send_keys(bob.name)
        alice.dialog_button("Create")
        alice.wait(lambda: alice.text("#chat-title") == "Team", "the new group open")
        alice.say("welcome")
        alice.wait(lambda: [b for _, b in alice.messages()] == ["welcome"], "alice's group message acked")
        alice.click("#chat-info")
        alice.wait(lambda: "Create invite link" in alice.text("#dialog"), "the group's info")
        alice.dialog_button("Create invite link")
        link = alice.wait(lambda: alice.driver.execute_script(
            "const i = document.querySelector('#dialog input[readonly]'); return i && i.value"), "the invite link")
        alice.shot("06-invite-link")
        alice.dialog_button("Close")
        assert "/#/invite/" in link
        carol.driver.get(link.replace(web3.url("n1"), web3.url("n3")))
        carol.wait(lambda: carol.text("#chat-title") == "Team", "carol in the group through the link")
        carol.wait(lambda: "joined with an invite link" in carol.text("#messages"), "the join as a system message")
        carol.say("hi team")
        for u in (alice, bob):
            u.wait(lambda u=u: "Team" in u.text("#conversations"), f"{u.name} lists the group")
        alice.wait(lambda: "hi team" in alice.text("#messages"), "carol's message reaches alice live")

        # An image attachment: uploaded with progress, shown inline to everyone.
        image = png(ARTIFACTS.parent / "gradient.png")
        alice.driver.execute_script("document.querySelector('#attach').hidden = false")
        alice.find("#attach").send_keys(str(image))
        for u in (alice, carol):
            u.wait(lambda u=u: u.driver.execute_script(
                "const i = document.querySelector('#messages img'); return !!i && i.complete && i.naturalWidth === 64"),
                f"the image inline at {u.name}")
        carol.shot("07-group")

        # Bob blocks carol: her direct message is acked for her and never reaches him, while
        # the group goes on for both.
        bob.open_chat_with(carol.name)
        bob.click("#chat-block")
        bob.wait(lambda: "Block" in bob.text("#dialog"), "the block dialog")
        bob.dialog_button("Block")
        carol.open_chat_with(bob.name)
        carol.say("can you see this")
        carol.wait(lambda: [s for s, _ in carol.messages()] == ["1"], "carol's direct message acked")
        carol.click('#conversations li[data-id^="grp:"]')
        carol.say("group still works")
        bob.click('#conversations li[data-id^="grp:"]')
        bob.wait(lambda: "group still works" in bob.text("#messages"), "the group message at bob")
        assert "can you see this" not in bob.text("#conversations")
        status, page = web3.client("n2").http("GET", f"/v1/conversations/dm:{min(bob.name, carol.name)}:{max(bob.name, carol.name)}/messages",
                                            token=bob.token())
        assert status == 200 and page["messages"] == [], "the blocked message is not bob's to read"

        # A phone-sized screen: the list, then the chat with a back button.
        bob.driver.set_window_size(390, 800)
        bob.click("#back")
        bob.wait(lambda: bob.visible("#conversations") and not bob.visible("#messages"), "the list alone on a phone")
        bob.click('#conversations li[data-id^="grp:"]')
        bob.wait(lambda: bob.visible("#messages") and not bob.visible("#conversations"), "the chat alone on a phone")
        bob.shot("08-phone")
    finally:
        for u in (alice, bob, carol):
            u.quit()
