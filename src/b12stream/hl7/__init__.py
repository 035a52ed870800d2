"""HL7 v2 wire format: framing, ER7 tokenizing, ORU^R01 extraction, outbound building. Knows no medicine."""
