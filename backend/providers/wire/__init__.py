"""providers/wire"""
