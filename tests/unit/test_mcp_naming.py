"""The names a model sees for MCP tools (backend.tools.naming)."""

from __future__ import annotations

import re

from backend.tools.naming import exposed_names

SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def test_a_unique_tool_keeps_its_own_name() -> None:
    assert exposed_names([("files", "read_file"), ("web", "fetch")]) == ["read_file", "fetch"]


def test_names_two_servers_share_are_prefixed_with_the_server_name() -> None:
    names = exposed_names([("files", "search"), ("web", "search"), ("web", "fetch")])
    assert names == ["files__search", "web__search", "fetch"]


def test_other_characters_become_underscores_and_long_names_are_cut() -> None:
    long_tool = "t" * 100
    names = exposed_names([("my.server", "read file/now"), ("s", long_tool)])
    assert names[0] == "read_file_now"
    assert names[1] == "t" * 64
    assert all(SHAPE.fullmatch(name) for name in names)


def test_a_prefixed_name_keeps_the_tool_part_whole_where_it_fits() -> None:
    names = exposed_names([("s" * 64, "lookup"), ("short", "lookup")])
    assert names == ["s" * 56 + "__lookup", "short__lookup"]


def test_names_that_still_clash_get_a_number() -> None:
    names = exposed_names([("a", "x.y"), ("a", "x_y"), ("b", "a__x_y")])
    assert len(set(names)) == 3
    assert all(SHAPE.fullmatch(name) for name in names)


def test_the_same_tools_always_get_the_same_names() -> None:
    tools = [("one", "search"), ("two", "search"), ("two", "fetch")]
    assert exposed_names(tools) == exposed_names(list(tools))
