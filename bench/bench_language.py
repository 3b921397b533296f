"""What the translation layer costs a user: opening the app, and switching language.

Rows (Chromium against `miaoda serve`, runs taking turns, p50/p95 in ms):
- **page load → providers view ready**, in English and in Simplified Chinese: from navigation
  start to the providers view showing its list (settings read, catalogues fetched, shell built,
  providers loaded); **of which settings + catalogues**: when the last of getSettings and the
  seven catalogue files had arrived (the shell's modules load meanwhile); **the same tab
  reloaded**: modules and catalogues in the tab's caches (catalogues revalidated);
- **baseline** (`--before CHECKOUT`, e.g. `git worktree add ../before e4d6b94`): the same load
  of a checkout from before the translation layer, in the same rounds;
- **switch language** (Settings → 简体中文 → English): from the click to the navigation
  showing the new language, every view rebuilt.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.serve import start_app

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "bench-language-token"

# From navigation start to the providers view with its list (or its empty state).
LOAD = r"""() => new Promise((resolve) => {
  const ready = () => {
    const sub = document.querySelector("providers-view .view-subtitle");
    return sub && sub.textContent && !document.querySelector("providers-view [aria-busy=true]")
      && document.querySelector("providers-view provider-card, providers-view .empty-state");
  };
  const done = () => {
    const entries = performance.getEntriesByType("resource");
    const early = entries.filter((e) => /\/locales\/|getSettings/.test(e.name));
    const end = Math.max(0, ...early.map((e) => e.responseEnd));
    resolve({ ready: performance.now(), before: end });
  };
  const tick = () => (ready() ? done() : requestAnimationFrame(tick));
  tick();
})"""

SWITCH = """async (language) => {
  let radio;
  const selector = `settings-view input[name=language][value="${language}"]`;
  while (!(radio = document.querySelector(selector))) {
    await new Promise((r) => requestAnimationFrame(r));
  }
  const start = performance.now();
  radio.click();
  const want = language === "en" ? "Providers" : "服务商";
  while (!([...document.querySelectorAll("side-nav a")].some((a) => a.textContent.includes(want))
    && document.querySelector("settings-view .view-title"))) {
    await new Promise((r) => requestAnimationFrame(r));
  }
  return performance.now() - start;
}"""


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(len(ordered) * 0.95) - 1)]


def set_language(base: str, language: str) -> None:
    headers = {"X-MiaoDa-Token": TOKEN, "Content-Type": "application/json"}
    answer = httpx.post(
        f"{base}/api/rpc/updateSettings", json=[{"language": language}], headers=headers
    ).json()
    assert answer["success"], answer


def load_once(browser: Any, base: str, label: str, rows: dict[str, list[float]]) -> None:
    """Open the app in a fresh context, then reload the tab; rows under `label`."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page: Any = context.new_page()
    page.goto(f"{base}/#token={TOKEN}")
    first = page.evaluate(LOAD)
    rows.setdefault(f"page load → providers view ready, {label}", []).append(first["ready"])
    if first["before"]:
        rows.setdefault(f"  of which settings + catalogues, {label}", []).append(first["before"])
    page.reload()  # the same tab again: modules and catalogues in its caches
    again = page.evaluate(LOAD)
    rows.setdefault(f"  the same tab reloaded, {label}", []).append(again["ready"])
    context.close()


def measure(base: str, before: str | None, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    rows: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        for _ in range(runs):
            if before is not None:
                load_once(browser, before, "baseline: --before checkout", rows)
            for language in ("en", "zh-CN"):
                set_language(base, language)
                load_once(browser, base, language, rows)
        set_language(base, "en")
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{base}/#token={TOKEN}")
        page.evaluate(LOAD)
        page.evaluate("location.hash = '#/settings'")
        page.locator("settings-view").wait_for()
        for _ in range(runs):
            rows.setdefault("switch language: English → 简体中文", []).append(
                page.evaluate(SWITCH, "zh-CN")
            )
            rows.setdefault("switch language: 简体中文 → English", []).append(
                page.evaluate(SWITCH, "en")
            )
        context.close()
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout from before the translation layer (git worktree add ../before e4d6b94), "
        "loaded in the same rounds as the baseline",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, base = start_app(Path(folder) / "now", TOKEN)
        old = None
        if args.before is not None:
            old = start_app(Path(folder) / "before", TOKEN, args.before.resolve())
        try:
            started = time.perf_counter()
            rows = measure(base, None if old is None else old[1], args.runs)
            elapsed = time.perf_counter() - started
        finally:
            for running in (process, None if old is None else old[0]):
                if running is not None:
                    running.send_signal(signal.SIGTERM)
                    running.wait(timeout=10)
    print(f"\nLanguage: opening the app and switching language ({args.runs} runs, {elapsed:.0f} s)")
    print(f"{'what':<64} {'p50 ms':>8} {'p95 ms':>8}")
    for name, samples in rows.items():
        p50, p95 = p50_p95(samples)
        print(f"{name:<64} {p50:>8.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
