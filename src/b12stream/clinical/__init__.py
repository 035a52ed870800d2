"""The medicine: terminology, patient history and the rules, as pure functions over plain data."""
