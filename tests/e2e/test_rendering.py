"""Rendering model output: highlighted code, TeX math as MathML, untrusted input that stays text,
and streaming that lexes only the growing tail yet ends in exactly the DOM of a one-shot render.

Most tests import `js/lib/markdown.js` into the served app's page and render into a detached
(or, for the script-injection cases, attached) element; one drives a real reply through the
chat view for the screenshots."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    RunningApp,
    chat_reply,
    emulate_scheme,
    last_reply,
    open_chat,
    screenshot_matrix,
    send_message,
)

pytestmark = pytest.mark.browser

# Renders `text` into a fresh `.markdown` element (in the document when `attach`) and describes
# what came out.
RENDER = """async ({text, attach}) => {
  const { renderMarkdown } = await import('/js/lib/markdown.js');
  const box = document.createElement('div');
  box.className = 'markdown e2e-render';
  if (attach) document.body.append(box);
  box.append(renderMarkdown(text));
  const all = [...box.querySelectorAll('*')];
  return {
    html: box.innerHTML,
    text: box.textContent,
    tags: [...new Set(all.map((el) => el.localName))].sort(),
    attributes: [...new Set(all.flatMap((el) => el.getAttributeNames()))].sort(),
    hljs: [...box.querySelectorAll('code span[class^="hljs-"]')].map((el) => el.className),
    math: [...box.querySelectorAll('math')].map((el) => ({
      display: el.getAttribute('display'),
      tex: el.querySelector('annotation')?.textContent ?? '',
      namespace: el.namespaceURI,
    })),
  };
}"""

# Streams `text` into a MarkdownStream piece by piece (every size in `steps`) and compares the
# container with a one-shot render; an open fence at the end is highlighted once the stream is
# idle, so a difference is waited out for up to a second before it counts.
STREAM_EQUALS_ONE_SHOT = """async ({texts, steps}) => {
  const { renderMarkdown, MarkdownStream } = await import('/js/lib/markdown.js');
  const settled = async (box, want) => {
    for (let i = 0; i < 50 && box.innerHTML !== want; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return box.innerHTML === want;
  };
  const failures = [];
  for (const text of texts) {
    const ref = document.createElement('div');
    ref.append(renderMarkdown(text));
    for (const step of steps) {
      const box = document.createElement('div');
      const stream = new MarkdownStream(box);
      for (let end = step; end < text.length + step; end += step) {
        stream.update(text.slice(0, end));
      }
      if (!(await settled(box, ref.innerHTML))) {
        failures.push({text, step, got: box.innerHTML, want: ref.innerHTML});
      }
    }
  }
  return failures;
}"""

TRICKY_TEXTS = [
    # a list that continues after a blank line, by number and by indentation
    "Steps:\n\n1. one\n2. two\n\n3. three\n\n   still three\n\nAfter the list.\n",
    "- a\n- b\n\n  more of b\n- c\n\n-\n\n+ other list\n",
    # a fence opened and closed, then text right after it; a longer closing fence
    "Intro\n\n```js\nconst a = 1;\n\nlet b = `x`;\n```\nafter the fence\n\n~~~py\nx = 1\n~~~~\n",
    # reference links defined at the end (so earlier text turns into links late)
    'See [the docs][d] and [x].\n\nMore text.\n\n[d]: https://example.com/docs "Docs"\n'
    "[x]: https://example.com/x\n",
    # a table that grows row by row, then ends
    "| name | value |\n|:-----|------:|\n| a | 1 |\n| b | 2 |\n| c | 3 |\n\nafter the table\n",
    # a $$ block and \\[ \\] (their bodies look like a list and a rule until they close)
    "Before\n\n$$\n- x + y\n---\n$$\n\nafter $a$ and $5 and $10.\n\n\\[\nx^2\n\\]\n",
    # setext headings, lazy blockquote lines, indented code across a blank line
    "Heading\n=======\n\nsub\n---\n\n> quote\nlazy\n\n> second\n\n    indented\n\n    code\n\ndone",
    # a paragraph that a list may or may not interrupt
    "text\n2. not a list\n- a list\n\nend\n",
    # an answer that stops inside a fence (highlighted once the stream is idle)
    "Here:\n\n```python\ndef f(x):\n    return x * 2\n",
]

FRAGMENTS = [
    "- item one\n",
    "- item two\n",
    "\n",
    "  indented\n",
    "1. first\n",
    "2. second\n",
    "3",
    ". third\n",
    "text with $x$ and *em* and $5 and $10\n",
    "```python\n",
    "def f():\n",
    "    return 1\n",
    "```\n",
    "~~~\n",
    "| a | b |\n",
    "|---|---|\n",
    "| 1 | 2 |\n",
    "> quote\n",
    "lazy line\n",
    "Title\n",
    "===\n",
    "---\n",
    "$$\n",
    "x^2\n",
    "[ref]: https://e.com\n",
    "see [ref] now\n",
    "    code\n",
    "# Head\n",
    "<div>\n",
    "text <b>b</b>\n",
    "* star\n",
    "\\[a\\]\n",
    '[r2]: https://f.com "t"\n',
    "use [r2]\n",
    "  \n",
    "- [ ] task\n",
    "- [x] done\n",
    "\\(b\\) inline\n",
    "$$y$$\n",
]


def random_texts(count: int, seed: int) -> list[str]:
    """`count` texts stitched from FRAGMENTS, the same for a given seed."""
    import random

    rng = random.Random(seed)
    return ["".join(rng.choices(FRAGMENTS, k=rng.randint(4, 24))) for _ in range(count)]


def render(page: Any, text: str, *, attach: bool = False) -> dict[str, Any]:
    """What `renderMarkdown(text)` produced."""
    result: dict[str, Any] = page.evaluate(RENDER, {"text": text, "attach": attach})
    return result


# --- code -----------------------------------------------------------------------------------


CODE = (
    "```python\ndef area(r: float) -> float:\n    # a circle\n    return 3.14 * r ** 2\n```\n\n"
    "```js\nconst greet = (name) => `hi ${name}`;\nexport default greet;\n```\n"
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_python_and_javascript_blocks_are_highlighted_in_both_themes(
    page: Any, scheme: str
) -> None:
    emulate_scheme(page, scheme)
    out = render(page, CODE, attach=True)

    assert "hljs-keyword" in out["hljs"] and "hljs-comment" in out["hljs"]
    assert "hljs-title function_" in out["hljs"]  # def area
    assert "hljs-string" in out["hljs"]  # the template literal
    assert out["text"].count("return 3.14 * r ** 2") == 1  # the code itself is unchanged
    colors = page.evaluate(
        """() => {
          const box = document.querySelector('.e2e-render');
          const color = (sel) => getComputedStyle(box.querySelector(sel)).color;
          const frame = getComputedStyle(box.querySelector('.code-block'));
          return {keyword: color('.hljs-keyword'), comment: color('.hljs-comment'),
                  code: color('pre > code'), background: frame.backgroundColor};
        }"""
    )
    assert colors["keyword"] != colors["code"] and colors["comment"] != colors["code"]
    dark_background = sum(int(c) for c in colors["background"][4:-1].split(",")[:3]) < 200
    assert dark_background == (scheme == "dark")


def test_an_unknown_or_missing_language_is_shown_plain(page: Any) -> None:
    out = render(page, "```brainfuck\n+++[>+<-]\n```\n\n```\nplain words if else\n```\n")
    assert out["hljs"] == []
    assert "+++[>+<-]" in out["text"] and "plain words if else" in out["text"]


# --- math -----------------------------------------------------------------------------------


def test_all_four_delimiters_render_as_mathml(page: Any) -> None:
    text = (
        "Inline $x^2$ and \\(\\alpha + \\beta\\).\n\n"
        "$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$\n\n"
        "\\[\n\\sqrt{a^2 + b^2}\n\\]\n"
    )
    out = render(page, text)
    assert out["math"] == [
        {"display": None, "tex": "x^2", "namespace": "http://www.w3.org/1998/Math/MathML"},
        {
            "display": None,
            "tex": "\\alpha + \\beta",
            "namespace": "http://www.w3.org/1998/Math/MathML",
        },
        {
            "display": "block",
            "tex": "\\int_0^1 x\\,dx = \\frac{1}{2}",
            "namespace": "http://www.w3.org/1998/Math/MathML",
        },
        {
            "display": "block",
            "tex": "\\sqrt{a^2 + b^2}",
            "namespace": "http://www.w3.org/1998/Math/MathML",
        },
    ]
    assert {"mfrac", "msqrt", "msup", "msubsup"} <= set(out["tags"])


def test_a_square_root_is_drawn_with_the_math_font(page: Any) -> None:
    # Without a font that has a MATH table Chromium lays out <msqrt> with no radical sign (and
    # <mfrac> with no bar): the root is then no wider than what it holds.
    drawn = page.evaluate(
        """async (tex) => {
      const { renderMarkdown } = await import('/js/lib/markdown.js');
      const box = document.createElement('div');
      box.className = 'markdown';
      document.body.append(box);
      box.append(renderMarkdown(tex));
      await document.fonts.ready;
      const widths = [...box.querySelectorAll('math')].map((m) => m.getBoundingClientRect().width);
      const [plain, root] = widths;
      const face = [...document.fonts].find((f) => f.family.includes('STIX Two Math'));
      const font = getComputedStyle(box.querySelector('math')).fontFamily;
      box.remove();
      return { extra: root - plain, status: face?.status, font };
    }""",
        r"$\pi$ and $\sqrt{\pi}$",
    )
    assert drawn.get("status") == "loaded" and "STIX Two Math" in drawn["font"], drawn
    assert drawn["extra"] > 6, drawn


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $10 a month.",
        "Between $ 1 and 2 $ dollars.",
        "Escaped \\$x\\$ stays a dollar sign.",
        "`$x$` in code.",
    ],
)
def test_dollar_signs_that_are_not_math_stay_text(page: Any, text: str) -> None:
    out = render(page, text)
    assert out["math"] == []
    assert "$" in out["text"]


def test_bad_tex_shows_its_source_instead_of_failing(page: Any) -> None:
    out = render(page, "Broken: $\\frac{1}{$ and fine: $y$")
    assert "\\frac{1}{" in out["text"]
    assert [m["tex"] for m in out["math"]] == ["y"]


# --- untrusted input stays text ----------------------------------------------------------------

XSS_TEXTS = {
    "code": "```html\n<script>alert(1)</script><img src=x onerror=alert(1)>\n```\n",
    "code language": '```"><img src=x onerror=alert(1)>\ncode\n```\n',
    "math href": "Click $\\href{javascript:alert(1)}{here}$ or $\\url{javascript:alert(1)}$.",
    "math html commands": (
        "$$\\htmlId{x}{y} \\htmlClass{a}{b} \\htmlStyle{color:red}{c} \\htmlData{a=b}{d}$$"
    ),
    "script in a math block": "$$\n<script>alert(1)</script>\n$$\n",
    "markup in inline math": (
        "Then $<img src=x onerror=alert(1)>$ and \\(<b onmouseover=alert(1)>x\\)."
    ),
    "includegraphics": "$\\includegraphics{https://example.com/x.png}$",
}


@pytest.mark.parametrize("name", list(XSS_TEXTS))
def test_script_in_code_or_math_stays_text(page: Any, name: str) -> None:
    out = render(page, XSS_TEXTS[name], attach=True)

    assert not {"img", "script", "iframe", "object", "style", "annotation-xml"} & set(out["tags"])
    assert not [a for a in out["attributes"] if a.startswith("on") or a in ("style", "id", "src")]
    assert page.evaluate(
        "() => [...document.querySelectorAll('.e2e-render [href]')].every("
        "(el) => /^(https?|mailto):/.test(el.getAttribute('href')))"
    )
    # A dialog or page error would also fail the test, in the `page` fixture's teardown.


def test_a_hostile_language_name_is_shown_as_text_and_dropped_from_the_class(page: Any) -> None:
    out = render(page, XSS_TEXTS["code language"])
    assert out["tags"].count("img") == 0
    assert 'class="language-' not in out["html"]
    assert "code" in out["text"]


# --- streaming -------------------------------------------------------------------------------


def test_streaming_tricky_texts_ends_in_the_dom_of_a_one_shot_render(page: Any) -> None:
    failures = page.evaluate(STREAM_EQUALS_ONE_SHOT, {"texts": TRICKY_TEXTS, "steps": [1, 4, 17]})
    assert failures == []


def test_streaming_random_texts_ends_in_the_dom_of_a_one_shot_render(page: Any) -> None:
    texts = random_texts(100, seed=16)
    failures = page.evaluate(STREAM_EQUALS_ONE_SHOT, {"texts": texts, "steps": [3, 11]})
    assert failures[:1] == []


def test_an_edited_text_is_rendered_from_scratch(page: Any) -> None:
    html = page.evaluate(
        """async () => {
          const { renderMarkdown, MarkdownStream } = await import('/js/lib/markdown.js');
          const box = document.createElement('div');
          const stream = new MarkdownStream(box);
          stream.update('# Old title\\n\\n- one\\n- two\\n\\ntext');
          stream.update('Replaced *entirely*.');
          const ref = document.createElement('div');
          ref.append(renderMarkdown('Replaced *entirely*.'));
          return [box.innerHTML, ref.innerHTML];
        }"""
    )
    assert html[0] == html[1]


def test_finished_blocks_keep_their_nodes_while_the_tail_grows(page: Any) -> None:
    same = page.evaluate(
        """async () => {
          const { MarkdownStream } = await import('/js/lib/markdown.js');
          const box = document.createElement('div');
          const stream = new MarkdownStream(box);
          let text = '```python\\nx = 1\\n```\\n\\nFirst paragraph.\\n\\n';
          stream.update(text);
          const code = box.querySelector('pre');
          for (const piece of ['Second ', 'paragraph ', 'grows.', '\\n\\n- a', '\\n- b']) {
            text += piece;
            stream.update(text);
          }
          return box.querySelector('pre') === code && box.querySelectorAll('p').length === 2;
        }"""
    )
    assert same is True


# --- a real reply -----------------------------------------------------------------------------

REPLY = (
    "Here is the area of a circle, $A = \\pi r^2$, in Python:\n\n"
    "```python\nimport math\n\n\ndef area(r: float) -> float:\n"
    '    """The area of a circle of radius r."""\n    return math.pi * r ** 2\n```\n\n'
    "and the Gaussian integral:\n\n"
    "$$\n\\int_{-\\infty}^{\\infty} e^{-x^2}\\,dx = \\sqrt{\\pi}\n$$\n\n"
    "A price of $5 and $10 stays text.\n"
)


def test_a_streamed_reply_with_code_and_math(page: Any, app: RunningApp) -> None:
    app.add_provider(name="groq", displayName="Groq")
    open_chat(page)
    pieces = [REPLY[i : i + 23] for i in range(0, len(REPLY), 23)]
    app.upstream.script(CHAT_PATH, chat_reply(pieces, delay=0.01))
    send_message(page, "Show me code and math")

    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "done")
    content = reply.locator(".msg-content")
    expect(content.locator("code.language-python .hljs-keyword").first).to_be_visible()
    expect(content.locator("math")).to_have_count(2)
    expect(content.locator("math[display=block]")).to_have_count(1)
    expect(content).to_contain_text("A price of $5 and $10 stays text.")
    screenshot_matrix(page, "rendering-code-and-math")
