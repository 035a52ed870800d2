"""Findings to outputs: suppression, alert and order events, rendering. Pure.

Public API by module: ``engine.Engine`` (configuration), ``ingest.ingest``/``Accepted``,
``state.PatientState``, ``process.process``/``Outcome``/``OrderMessage``, ``events.rejected_event``
and ``events.encode_event`` (the one byte encoding of events), ``schemas`` (the shipped JSON Schemas).
"""
