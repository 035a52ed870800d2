"""b12stream: streaming decision support for B12-deficiency thrombocytopenia from HL7 v2 lab results."""

__version__ = "0.1.0"
