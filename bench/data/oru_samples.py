"""Realistic ORU^R01 messages for the parse benchmark: a CBC (~1 KB) and a 50-result chemistry panel."""

from __future__ import annotations

__all__ = ["cbc_message", "chemistry_panel_message"]

_HEADER = (
    "MSH|^~\\&|LABSYS|CITYHOSP LAB|"
    "B12STREAM|CITYHOSP|{time}+0000||ORU^R01^ORU_R01|{control}|P|2.5.1"
)
_PATIENT = (
    "PID|1||{mrn}^^^CITYHOSP&2.16.840.1.113883.3.72.5.30.2&ISO^MR||SAMPLE^PAT^Q^^^^L||19560714|F|||"
    "12 MAIN ST^^SPRINGFIELD^IL^62701\r"
    "PV1|1|I|4W^412^B^CITYHOSP||||1234^ATTEND^ANNA^^^^MD"
)
_ORDER = (
    "ORC|RE|{placer}^CPOE|{filler}^LAB||CM\r"
    "OBR|1|{placer}^CPOE|{filler}^LAB|{panel}|||{collected}|||||||||1234^ATTEND^ANNA^^^^MD||||||"
    "{reported}|||F"
)
_CBC_RESULTS = [
    ("6690-2", "WBC # Bld Auto", "NM", "7.2", "10*3/uL", "4.0-11.0", ""),
    ("789-8", "RBC # Bld Auto", "NM", "3.41", "10*6/uL", "3.80-5.20", "L"),
    ("718-7", "Hgb Bld-mCnc", "NM", "10.4", "g/dL", "12.0-16.0", "L"),
    ("4544-3", "Hct VFr Bld Auto", "NM", "31.8", "%", "36.0-46.0", "L"),
    ("787-2", "MCV RBC Auto", "NM", "112.6", "fL", "80.0-100.0", "H"),
    ("785-6", "MCH RBC Qn Auto", "NM", "30.5", "pg", "27.0-33.0", ""),
    ("786-4", "MCHC RBC Auto-mCnc", "NM", "32.7", "g/dL", "32.0-36.0", ""),
    ("788-0", "RDW RBC Auto-Rto", "NM", "16.9", "%", "11.5-14.5", "H"),
    ("777-3", "Platelets # Bld Auto", "NM", "62", "10*3/uL", "150-400", "L"),
    ("32623-1", "PMV Bld Auto", "NM", "10.8", "fL", "7.5-11.5", ""),
]
_CHEMISTRY_CODES = [
    ("2160-0", "Creatinine SerPl-mCnc", "mg/dL", "0.6-1.1"),
    ("2532-0", "LDH SerPl-cCnc", "U/L", "140-280"),
    ("1975-2", "Bilirub SerPl-mCnc", "mg/dL", "0.1-1.2"),
    ("1971-1", "Bilirub Indirect SerPl-mCnc", "mg/dL", "0.2-0.8"),
    ("2132-9", "Vit B12 SerPl-mCnc", "pg/mL", "200-900"),
    ("2284-8", "Folate SerPl-mCnc", "ng/mL", "3.0-17.0"),
    ("13965-9", "Homocysteine SerPl-sCnc", "umol/L", "5-15"),
    ("13964-2", "MMA SerPl-sCnc", "nmol/L", "0-378"),
    ("4542-7", "Haptoglobin SerPl-mCnc", "mg/dL", "30-200"),
    ("2951-2", "Sodium SerPl-sCnc", "mmol/L", "135-145"),
    ("2823-3", "Potassium SerPl-sCnc", "mmol/L", "3.5-5.1"),
    ("2075-0", "Chloride SerPl-sCnc", "mmol/L", "98-107"),
    ("2028-9", "CO2 SerPl-sCnc", "mmol/L", "22-29"),
    ("3094-0", "BUN SerPl-mCnc", "mg/dL", "7-20"),
    ("2345-7", "Glucose SerPl-mCnc", "mg/dL", "70-99"),
    ("17861-6", "Calcium SerPl-mCnc", "mg/dL", "8.6-10.3"),
    ("2885-2", "Prot SerPl-mCnc", "g/dL", "6.0-8.3"),
    ("1751-7", "Albumin SerPl-mCnc", "g/dL", "3.5-5.2"),
    ("6768-6", "ALP SerPl-cCnc", "U/L", "40-129"),
    ("1742-6", "ALT SerPl-cCnc", "U/L", "7-56"),
    ("1920-8", "AST SerPl-cCnc", "U/L", "10-40"),
]


def _obx(index: int, code: str, name: str, value_type: str, value: str, unit: str, ref: str, flag: str,
         observed: str) -> str:
    return f"OBX|{index}|{value_type}|{code}^{name}^LN||{value}|{unit}|{ref}|{flag}|||F|||{observed}"


def _vary(value: str, sequence: int, index: int) -> str:
    """The sample value scaled by a per-message factor in [0.5, 1.5), at the same precision.

    Real results differ from message to message; identical values would flatter any memoisation.
    """
    decimals = len(value.partition(".")[2])
    factor = 0.5 + ((sequence * 7919 + index * 104729) % 1000) / 1000
    return f"{float(value) * factor:.{decimals}f}"


def _minutes_after_midnight(sequence: int) -> str:
    """A collection time that differs per message, as in a real feed (no two share a timestamp)."""
    day, minute = divmod(sequence, 1440)
    return f"202403{1 + day % 28:02d}{minute // 60:02d}{minute % 60:02d}00"


def cbc_message(sequence: int = 1) -> bytes:
    """A complete-blood-count ORU^R01 (10 NM results and one comment), about 1.3 KB."""
    collected = _minutes_after_midnight(sequence)
    lines = [
        _HEADER.format(time="20240301083000", control=f"CBC{sequence:09d}"),
        _PATIENT.format(mrn=f"{4000000 + sequence}"),
        _ORDER.format(placer=f"P{sequence:08d}", filler=f"F{sequence:08d}",
                      panel="58410-2^CBC panel Bld Auto^LN", collected=collected, reported=collected),
    ]
    for index, (code, name, value_type, value, unit, ref, flag) in enumerate(_CBC_RESULTS, 1):
        lines.append(_obx(index, code, name, value_type, _vary(value, sequence, index), unit, ref, flag,
                          collected))
    lines.append("NTE|1|L|Platelet clumps not seen on smear review.")
    return ("\r".join(lines) + "\r").encode()


def chemistry_panel_message(sequence: int = 1) -> bytes:
    """A 50-result chemistry ORU^R01 (NM values, two SN censored values), about 4.5 KB."""
    collected = _minutes_after_midnight(sequence)
    lines = [
        _HEADER.format(time="20240301093000", control=f"CHEM{sequence:08d}"),
        _PATIENT.format(mrn=f"{5000000 + sequence}"),
        _ORDER.format(placer=f"Q{sequence:08d}", filler=f"G{sequence:08d}",
                      panel="24323-8^Comprehensive metabolic panel^LN", collected=collected,
                      reported=collected),
    ]
    for index in range(1, 51):
        code, name, unit, ref = _CHEMISTRY_CODES[(index - 1) % len(_CHEMISTRY_CODES)]
        base = f"{1 + (index * 7.3) % 150:.1f}"
        value_type, value = ("SN", "<^50") if index in (5, 30) else ("NM", _vary(base, sequence, index))
        lines.append(_obx(index, code, name, value_type, value, unit, ref, "", collected))
    return ("\r".join(lines) + "\r").encode()
