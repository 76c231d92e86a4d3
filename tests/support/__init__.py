"""Helpers the tests share: real services started on 127.0.0.1 free ports."""
