"""Findings to outputs: suppression, alert and order events, rendering. Pure."""
