"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
``tfjobs up`` (API, worker, SQLite, folder broker). Screenshots of every page go to
``test-artifacts/ui/`` (or ``$TFJOBS_TEST_ARTIFACTS/ui``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.stack import REPO, Up, clean_env, running_up

CHROMIUM = Path(os.environ.get("TFJOBS_CHROMIUM", "/usr/bin/chromium"))
SHOTS = Path(os.environ.get("TFJOBS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "ui"


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium; scripts/test installs it as root)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it: missing there is a broken setup, not a skip
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``tfjobs up`` with auth off (the embedded default) for a module's tests."""
    _need_chromium()
    with running_up(tmp_path_factory.mktemp("up"), env=clean_env()) as running:
        yield running


@dataclass
class Console:
    """What the page said: console errors, uncaught errors, and dialogs (which fail XSS tests)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: tuple[str, ...] = ()  # substrings of errors a test provokes on purpose (a 401)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser, console: Console) -> Iterator[object]:
    """A fresh browser tab (its own sessionStorage); fails the test on any console error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.on("console", lambda m: console.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))

    def on_dialog(dialog) -> None:
        console.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.set_default_timeout(60_000)
    yield tab
    context.close()
    assert not console.unexpected(), f"console errors: {console.unexpected()}"
    assert not console.dialogs, f"the page opened dialogs: {console.dialogs}"


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
