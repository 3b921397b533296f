"""MCP tools: the servers the user added, run with the official SDK, and the tools they offer.

`model` holds the shapes the parts share; `host.ToolHost` runs the servers (`launch` is the
launcher a stdio server starts through; `connect`, `output`, `results` and `errors` its parts);
`service.McpService` keeps the user's servers and answers the contract's methods.
"""
