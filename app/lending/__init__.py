"""Loans: the state table (states.py) and the actions on it (service.py)."""
