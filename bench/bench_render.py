"""Rendering benchmark: a long answer streamed into the page, the way the chat shows it.

Run: .venv/bin/python bench/bench_render.py [--chars 100000] [--rate 50] [--seconds 45]

Starts the app (`python -m backend serve`, its own data folder), opens it in Debian's Chromium
(headless, through Playwright), and streams a generated answer of `--chars` characters (prose,
lists, code blocks, tables, inline and display math) at `--rate` pieces a second into a
`MarkdownStream` (js/lib/markdown.js, what `<chat-message>` renders an answer with), the piece
size chosen so the stream takes about `--seconds`. Measured per run:

  - long tasks (> 50 ms, the PerformanceObserver "longtask" entries): count and the longest;
  - script time (CDP Performance.getMetrics ScriptDuration) and all main-thread task time
    (TaskDuration), each as a share of wall time;
  - how many updates ran (a run that cannot keep up shows fewer than the pieces sent).

The baseline, in the same run and page: the previous algorithm, kept here in the page script
and not in the app: every update lexes the whole text again and re-renders from the first
block whose source changed (blocks are rendered with today's `renderMarkdown`, so both sides
pay the same highlighting and math; only the lexing strategy differs). Both runs start warm: the
page renders the first 20,000 characters once before measuring, so grammar compilation and
KaTeX's set-up (one-time costs of the first reply) are not counted. Targets: 0 long tasks,
script ≤ 10 % of wall time.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serve import start_app

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
TOKEN = "bench-render-token"

WORDS = (  # noqa: SIM905 - prose reads better than a list of words
    "the model returns a stream of tokens and each piece is appended to the answer while the "
    "reader follows along so rendering must stay cheap as the text grows longer than any "
    "screen can hold and every frame counts for a smooth experience on a modest laptop"
).split()
PYTHON = (
    "```python\nimport math\n\n\ndef area(radius: float) -> float:\n"
    '    """The area of a circle."""\n    if radius < 0:\n'
    '        raise ValueError("negative radius")\n    return math.pi * radius ** 2\n\n\n'
    'for r in range(10):\n    print(f"{r}: {area(r):.2f}")\n```\n\n'
)
JAVASCRIPT = (
    "```js\nexport async function load(url, { retries = 3 } = {}) {\n"
    "  for (let i = 0; i < retries; i += 1) {\n    const response = await fetch(url);\n"
    "    if (response.ok) return response.json();\n  }\n"
    "  throw new Error(`failed after ${retries} tries`);\n}\n```\n\n"
)
TABLE = (
    "| method | time | memory |\n|:-------|-----:|-------:|\n| naive | 12.4 s | 1.2 GB |\n"
    "| cached | 0.8 s | 1.5 GB |\n| streamed | 0.9 s | 40 MB |\n\n"
)
DISPLAY_MATH = "$$\n\\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6}\n$$\n\n"


def sentence(rng: random.Random) -> str:
    """A sentence of filler prose, sometimes with inline math, code or emphasis."""
    words = rng.choices(WORDS, k=rng.randint(8, 20))
    extra = rng.random()
    if extra < 0.15:
        words.insert(rng.randrange(len(words)), "$O(n \\log n)$")
    elif extra < 0.3:
        words.insert(rng.randrange(len(words)), "`stream.update()`")
    elif extra < 0.4:
        words.insert(rng.randrange(len(words)), "**important**")
    return " ".join(words).capitalize() + ". "


def answer(chars: int, seed: int = 16) -> str:
    """A realistic long markdown answer of about `chars` characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    section = 0
    while size < chars:
        section += 1
        block = [f"## Part {section}: notes\n\n"]
        block += ["".join(sentence(rng) for _ in range(rng.randint(2, 5))) + "\n\n"]
        block += ["".join(f"- {sentence(rng).strip()}\n" for _ in range(rng.randint(3, 6))) + "\n"]
        block += [rng.choice([PYTHON, JAVASCRIPT, TABLE, DISPLAY_MATH])]
        block += ["".join(sentence(rng) for _ in range(rng.randint(2, 4))) + "\n\n"]
        text = "".join(block)
        parts.append(text)
        size += len(text)
    return "".join(parts)[:chars]


# The page side: `mode` "tail" is today's MarkdownStream, "full" the previous algorithm.
STREAM = """async ({text, piece, rate, mode}) => {
  const md = await import('/js/lib/markdown.js');
  const { Marked } = await import('/vendor/marked-18.2.1/marked.esm.js');
  const box = document.createElement('div');
  box.className = 'markdown msg-content';
  document.body.replaceChildren(box);

  // The previous MarkdownStream.update: lex everything, keep the blocks whose source is the same.
  const marked = new Marked({ gfm: true, breaks: false, async: false });
  let blocks = [];
  const fullRelex = (source) => {
    const tokens = marked.lexer(source);
    let keep = 0;
    const same = (i) => i < tokens.length && i < blocks.length && blocks[i].raw === tokens[i].raw;
    while (same(keep)) keep += 1;
    for (const block of blocks.splice(keep)) for (const node of block.nodes) node.remove();
    for (const token of tokens.slice(keep)) {
      const fragment = md.renderMarkdown(token.raw);
      blocks.push({ raw: token.raw, nodes: [...fragment.childNodes] });
      box.append(fragment);
    }
  };
  const stream = new md.MarkdownStream(box);
  const update = mode === 'tail' ? (source) => stream.update(source) : fullRelex;

  // Warm up outside the measurement: the first use of a grammar compiles it and KaTeX builds
  // its tables (a one-time cost of tens of milliseconds each, paid by the first reply).
  md.renderMarkdown(text.slice(0, 20000));
  await new Promise((resolve) => setTimeout(resolve, 100));

  const longTasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longTasks.push(entry.duration);
  });
  observer.observe({ type: 'longtask' });

  const pieces = Math.ceil(text.length / piece);
  const started = performance.now();
  let updates = 0;
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      // As a socket would: everything that arrived by now is shown in one update.
      const due = Math.min(pieces, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      if (due > sent) {
        sent = due;
        update(text.slice(0, sent * piece));
        updates += 1;
      }
      if (sent >= pieces) resolve();
      else setTimeout(tick, 1000 / rate);
    };
    tick();
  });
  // Let the last long task entries arrive.
  await new Promise((resolve) => setTimeout(resolve, 200));
  observer.disconnect();
  return {
    wall: (performance.now() - started) / 1000,
    updates,
    pieces,
    longTasks: longTasks.length,
    longest: longTasks.length ? Math.max(...longTasks) : 0,
    chars: box.textContent.length,
  };
}"""


def run(page: Any, cdp: Any, text: str, piece: int, rate: int, mode: str) -> dict[str, Any]:
    """Stream `text` once in `mode` and return what was measured."""
    page.reload()
    page.wait_for_load_state("load")
    before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    result: dict[str, Any] = page.evaluate(
        STREAM, {"text": text, "piece": piece, "rate": rate, "mode": mode}
    )
    after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    result["script"] = after["ScriptDuration"] - before["ScriptDuration"]
    result["task"] = after["TaskDuration"] - before["TaskDuration"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=50, help="pieces per second")
    parser.add_argument("--seconds", type=float, default=45, help="about how long a run takes")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    text = answer(args.chars)
    piece = max(1, round(len(text) / (args.rate * args.seconds)))
    modes = ["tail"] if args.skip_baseline else ["tail", "full"]
    with tempfile.TemporaryDirectory() as scratch:
        process, base = start_app(Path(scratch) / "data", TOKEN)
        url = f"{base}/#token={TOKEN}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
                results = {mode: run(page, cdp, text, piece, args.rate, mode) for mode in modes}
                browser.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    report(results, len(text), piece, args.rate)


def report(results: dict[str, dict[str, Any]], chars: int, piece: int, rate: int) -> None:
    """Print the table."""
    names = {"tail": "tail re-lex (MarkdownStream)", "full": "full re-lex (previous)"}
    print(f"Streaming a {chars:,}-character answer at {rate} pieces/s, {piece} characters a piece")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, Chromium headless)\n")
    print(
        "| algorithm | wall | updates | long tasks > 50 ms | longest | script | script share "
        "| all tasks share |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        print(
            f"| {names[mode]} | {r['wall']:.1f} s | {r['updates']:,} of {r['pieces']:,} "
            f"| {r['longTasks']} | {r['longest']:.0f} ms | {r['script']:.2f} s "
            f"| {100 * r['script'] / r['wall']:.1f} % | {100 * r['task'] / r['wall']:.1f} % |"
        )
    tail = results["tail"]
    ok = tail["longTasks"] == 0 and tail["script"] / tail["wall"] <= 0.10
    print(f"\nTargets (0 long tasks, script ≤ 10 %): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
