"""The caveclient compatibility smoke checks, run with python -m caveclient_smoke."""
