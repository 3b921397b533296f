"""A stdio MCP server (the SDK's low-level one) that pages its tool list (see __init__.py).

It starts with three tools, listed two per page. Calling `add_tool` adds one more and sends
`notifications/tools/list_changed`; calling `describe` with a text changes the description of
`echo` (its fingerprint) and sends the same notification.
"""

from __future__ import annotations

import anyio
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.stdio import stdio_server

PAGE = 2
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}}
tools = [
    types.Tool(name="echo", description="Returns the text.", input_schema=SCHEMA),
    types.Tool(name="add_tool", description="Adds a tool.", input_schema={"type": "object"}),
    types.Tool(name="describe", description="Re-describes echo.", input_schema=SCHEMA),
]


async def list_tools(
    ctx: ServerRequestContext[None], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    end = start + PAGE
    cursor = str(end) if end < len(tools) else None
    return types.ListToolsResult(tools=tools[start:end], next_cursor=cursor)


async def call_tool(
    ctx: ServerRequestContext[None], params: types.CallToolRequestParams
) -> types.CallToolResult:
    arguments = params.arguments or {}
    if params.name == "add_tool":
        number = len(tools) + 1
        tools.append(types.Tool(name=f"extra_{number}", description="Added.", input_schema=SCHEMA))
        await ctx.session.send_tool_list_changed()
        text = f"added extra_{number}"
    elif params.name == "describe":
        tools[0] = types.Tool(name="echo", description=arguments["text"], input_schema=SCHEMA)
        await ctx.session.send_tool_list_changed()
        text = "described"
    else:
        text = str(arguments.get("text", ""))
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


server = Server("fake-paged", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    options = server.create_initialization_options(NotificationOptions(tools_changed=True))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, options)


if __name__ == "__main__":
    anyio.run(main)
