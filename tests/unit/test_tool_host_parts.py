"""The parts of the tool host that need no MCP server: what results and listings become, the
launcher's command line and reports, the error-output ring, and what a failure is called.
(tests/integration/test_tool_host.py runs the host against real servers.)"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import MCPError, types

from backend.redact import MASK, REDACTOR
from backend.tools import errors, launch
from backend.tools.connect import is_sse, launcher_command, resolve_command, server_path
from backend.tools.model import ServerError, ServerSpec
from backend.tools.output import MAX_LINE, ErrorOutput
from backend.tools.results import fingerprint, result_text, size_of, tool_info, tools_of

PNG_12_KB = base64.b64encode(b"\0" * 12 * 1024).decode()
SECRET = "mcp-unit-canary-2c4e6a8b0d1f"


def result(*blocks: types.ContentBlock, structured: dict[str, object] | None = None) -> str:
    return result_text(types.CallToolResult(content=list(blocks), structured_content=structured))


# --- results -------------------------------------------------------------------------------------


def test_text_blocks_are_joined_by_blank_lines() -> None:
    text = result(
        types.TextContent(type="text", text="one"), types.TextContent(type="text", text="two")
    )

    assert text == "one\n\ntwo"


def test_images_and_audio_become_short_descriptions() -> None:
    text = result(
        types.ImageContent(type="image", data=PNG_12_KB, mime_type="image/png"),
        types.AudioContent(
            type="audio", data=base64.b64encode(b"abc").decode(), mime_type="audio/wav"
        ),
    )

    assert text == "[image: image/png, 12 KB]\n\n[audio: audio/wav, 3 B]"


def test_resources_are_described_and_text_resources_given_whole() -> None:
    text = result(
        types.EmbeddedResource(
            type="resource",
            resource=types.TextResourceContents(uri="file:///notes.txt", text="the notes"),
        ),
        types.EmbeddedResource(
            type="resource",
            resource=types.BlobResourceContents(
                uri="file:///a.zip", blob=PNG_12_KB, mime_type="application/zip"
            ),
        ),
        types.ResourceLink(type="resource_link", name="readme", uri="file:///README.md"),
    )

    assert text == (
        "[resource: file:///notes.txt]\nthe notes\n\n"
        "[resource: file:///a.zip, application/zip, 12 KB]\n\n"
        "[resource link: readme, file:///README.md]"
    )


def test_structured_content_is_given_as_json_only_without_text() -> None:
    alone = result(structured={"b": 1, "a": "ü"})
    with_text = result(types.TextContent(type="text", text="said"), structured={"a": 1})

    assert alone == '{"a": "ü", "b": 1}'
    assert with_text == "said"


@pytest.mark.parametrize(
    ("size", "said"), [(0, "0 B"), (512, "512 B"), (12 * 1024, "12 KB"), (1536 * 1024, "1.5 MB")]
)
def test_sizes_are_written_as_people_write_them(size: int, said: str) -> None:
    assert size_of(base64.b64encode(b"x" * size).decode()) == said


def test_a_fingerprint_follows_the_description_and_the_schema_not_key_order() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    reordered = {"properties": {"a": {"type": "string"}}, "type": "object"}
    base = fingerprint("Adds.", schema)

    assert fingerprint("Adds.", reordered) == base
    assert fingerprint("Adds two.", schema) != base
    assert fingerprint("Adds.", {**schema, "required": ["a"]}) != base


def test_a_paged_listing_keeps_every_tool_once() -> None:
    def tool(name: str, description: str = "") -> types.Tool:
        return types.Tool(name=name, description=description, input_schema={"type": "object"})

    pages = [
        types.ListToolsResult(tools=[tool("a", "first"), tool("b")], next_cursor="2"),
        types.ListToolsResult(tools=[tool("a", "again"), tool("c")]),
    ]

    listed = tools_of(pages)

    assert [info.name for info in listed] == ["a", "b", "c"]
    assert listed[0].description == "first"
    assert listed[0] == tool_info(tool("a", "first"))


# --- finding the command ------------------------------------------------------------------------


def test_the_command_is_looked_up_on_the_servers_own_path(tmp_path: Path) -> None:
    program = tmp_path / "my-server"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    spec = ServerSpec("s", "S", "stdio", command="my-server", env={"PATH": str(tmp_path)})

    assert server_path(spec) == str(tmp_path)
    assert resolve_command(spec) == str(program)


def test_legacy_sse_is_told_by_the_path() -> None:
    assert is_sse("http://127.0.0.1:3001/sse")
    assert is_sse("https://example.com/mcp/sse/?x=1")
    assert not is_sse("https://example.com/mcp")


# --- the launcher ---------------------------------------------------------------------------------


def run_launcher(*args: str) -> subprocess.CompletedProcess[str]:
    """The launcher, started (like the SDK does) as the leader of a session of its own."""
    return subprocess.run(
        [*launcher_command(), *args],
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )


def test_the_launcher_reports_the_exit_code_as_its_last_line() -> None:
    code = "import sys; print('out'); sys.stderr.write('err\\n'); sys.exit(3)"
    done = run_launcher("--parent", str(os.getpid()), "--", sys.executable, "-c", code)

    assert done.stdout == "out\n"
    assert done.stderr.splitlines() == ["err", "", f"{launch.EXIT_MARK} exit 3"]


def test_the_launcher_runs_nothing_when_its_parent_is_already_gone(tmp_path: Path) -> None:
    flag = tmp_path / "ran"
    done = run_launcher("--parent", "1", "--", sys.executable, "-c", f"open({str(flag)!r}, 'w')")

    assert done.returncode == 1
    assert not flag.exists()


def test_the_launcher_says_why_a_command_cannot_run() -> None:
    done = run_launcher("--parent", str(os.getpid()), "--", "/nonexistent/mcp-server")

    assert done.returncode == 127
    assert f"{launch.EXIT_MARK} error No such file or directory" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--parent", "1"],
        ["--parent", "1", "--"],
        ["--who", "1", "--", "x"],
        ["--parent", "1", "--watch", "psychic", "--", "x"],
    ],
)
def test_the_launcher_refuses_a_bad_command_line(args: list[str]) -> None:
    done = run_launcher(*args)

    assert done.returncode == 2
    assert launch.EXIT_MARK in done.stderr


def test_each_platform_has_a_way_to_watch_the_parent() -> None:
    if sys.platform.startswith("linux"):
        assert launch.default_watch() == "pdeathsig"
    elif sys.platform == "darwin":
        assert launch.default_watch() == "kqueue"
    else:
        assert launch.default_watch() in ("kqueue", "poll")


# --- the error output ----------------------------------------------------------------------------


def test_error_output_keeps_the_last_lines_and_takes_out_the_launchers_report() -> None:
    output = ErrorOutput()
    output.file.write("".join(f"line {n}\n" for n in range(100)))
    output.file.write(f"\n{launch.EXIT_MARK} exit 9\n")
    output.release_writer()

    assert output.wait_status(10) == ("exit", 9)
    assert output.tail(3) == ["line 97", "line 98", "line 99"]


def test_error_output_without_a_report_ends_with_the_output() -> None:
    output = ErrorOutput()
    output.file.write("x" * (MAX_LINE * 10) + "\nlast words")
    output.release_writer()

    assert output.wait_status(10) is None
    assert output.tail() == ["x" * MAX_LINE, "last words"]


# --- what a failure is called --------------------------------------------------------------------


def failure(
    exc: BaseException, statuses: list[int] | None = None, url: str | None = "http://h/mcp"
) -> ServerError:
    return errors.connect_failure(exc, url=url, statuses=statuses or [], ending=None)


def test_a_refused_token_is_auth_failed_whatever_the_sdk_made_of_it() -> None:
    generic = MCPError(-32603, "Server returned an error response")
    request = httpx2.Request("GET", "http://h/sse")
    sse_refusal = httpx2.HTTPStatusError(
        "403", request=request, response=httpx2.Response(403, request=request)
    )

    assert failure(ExceptionGroup("x", [generic]), [401]).code == "AUTH_FAILED"
    assert failure(sse_refusal).code == "AUTH_FAILED"
    assert "HTTP 403" in failure(sse_refusal).message


def test_a_network_failure_is_connection_failed_with_the_url_but_not_its_query() -> None:
    refused = httpx2.ConnectError("All connection attempts failed")

    problem = failure(
        ExceptionGroup("x", [ExceptionGroup("y", [refused])]), url="http://h:1/mcp?k=v"
    )

    assert problem.code == "CONNECTION_FAILED"
    assert problem.message == "Could not connect to http://h:1/mcp: All connection attempts failed"


def test_another_http_status_is_connection_failed_naming_it() -> None:
    problem = failure(MCPError(-32601, "Not Found"), [404])

    assert (problem.code, problem.message) == (
        "CONNECTION_FAILED",
        "The server at http://h/mcp answered HTTP 404. Check the URL.",
    )


def test_a_stdio_server_that_closed_early_is_exited_with_its_output() -> None:
    closed = MCPError(types.CONNECTION_CLOSED, "Connection closed")

    problem = errors.connect_failure(
        closed, url=None, statuses=[], ending=(("signal", 9), ["killed here"])
    )

    assert problem.code == "EXITED"
    assert problem.message.startswith("The server was stopped by signal 9 before it was ready.")
    assert problem.message.endswith("killed here")


def test_anything_else_is_a_protocol_error_with_secrets_masked() -> None:
    REDACTOR.add(SECRET)

    problem = failure(ValueError(f"bad frame {SECRET}"), url=None)

    assert problem.code == "PROTOCOL_ERROR"
    assert SECRET not in problem.message and MASK in problem.message


def test_the_path_searched_is_listed_once_per_folder() -> None:
    problem = errors.command_not_found("npx", os.pathsep.join(["/a", "", "/b", "/a"]))

    assert problem.code == "COMMAND_NOT_FOUND"
    assert problem.message.endswith(": /a, /b")
