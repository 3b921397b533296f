"""Tests against a real LiteLLM proxy in mock mode, run from its own venv (see proxy.py)."""
