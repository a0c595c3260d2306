"""Evaluation: dataset protocols, FRVT-style metrics and reports."""
