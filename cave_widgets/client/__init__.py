"""The client core: a CAVEclient-compatible client talking the CAVE wire format.

Importable without Jupyter. Filled in by the client-core work; nothing here yet.
"""
