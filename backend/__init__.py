"""MiaoDa Chat: a desktop chat app for any LLM provider."""

__version__ = "0.1.0"
APP_NAME = "MiaoDa Chat"
