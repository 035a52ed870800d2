"""Engine.load: the engine: section of b12stream.yaml, with errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from b12stream.clinical.model import Severity
from b12stream.engine.engine import Engine
from b12stream.engine.ingest import Accepted, ingest
from b12stream.engine.process import process
from b12stream.engine.state import PatientState
from b12stream.errors import ConfigError
from b12stream.hl7.framing import split_messages
from b12stream.paths import CONFIG_DIR
from tests.conftest import SAMPLES


def write_config(folder: Path, engine_section: str) -> Path:
    (folder / "rules.yaml").write_text("{}\n", encoding="utf-8")
    path = folder / "b12stream.yaml"
    path.write_text(
        "engine:\n"
        f"  terminology: [{CONFIG_DIR / 'terminology.yaml'}]\n"
        "  rules: rules.yaml\n" + engine_section + "kafka: {}\n",
        encoding="utf-8",
    )
    return path


def test_settings_are_read_and_relative_files_resolve_next_to_the_config(tmp_path):
    path = write_config(
        tmp_path,
        "  patient_key: {identifier_type: PI, assigning_authority: HOSP}\n"
        "  suppression: {window_days: 3, max_per_episode: 4, always_show_from: critical}\n"
        "  outputs: {sending_application: LABCDS, sending_facility: NORTH}\n",
    )
    engine = Engine.load(path)
    assert (engine.key_rule.identifier_type, engine.key_rule.assigning_authority) == ("PI", "HOSP")
    assert engine.suppression.window == timedelta(days=3)
    assert engine.suppression.max_per_episode == 4
    assert engine.suppression.always_show_from is Severity.CRITICAL
    assert (engine.outputs.sending_application, engine.outputs.sending_facility) == ("LABCDS", "NORTH")
    assert engine.terminology.analyte("platelets").id == "platelets"


def test_defaults_apply_when_sections_are_absent(tmp_path):
    engine = Engine.load(write_config(tmp_path, ""))
    assert engine.suppression.window == timedelta(days=7)
    assert engine.suppression.max_per_episode == 2
    assert engine.outputs.sending_application == "B12STREAM"


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("  colour: blue\n", "engine.colour"),
        ("  suppression: {window_days: 0}\n", "window_days"),
        ("  suppression: {max_per_episode: two}\n", "max_per_episode"),
        ("  suppression: {always_show_from: urgent}\n", "always_show_from"),
        ("  suppression: {quiet: true}\n", "engine.suppression.quiet"),
        ("  outputs: {sending_application: 7}\n", "sending_application"),
        ("  outputs: [a]\n", "engine.outputs"),
        ("  outputs: {sending_application: ''}\n", "sending_application"),
        ("  outputs: {processing_id: Q}\n", "engine.outputs.processing_id must be one of P, T, D"),
        ("  patient_key: {colour: blue}\n", "colour"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_key(tmp_path, section, named):
    with pytest.raises(ConfigError, match=named):
        Engine.load(write_config(tmp_path, section))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  terminology: terminology.yaml\n",
         "b12stream.yaml: engine.terminology must be a list of file names, got 'terminology.yaml'"),
        ("  rules: [rules.yaml]\n", "b12stream.yaml: engine.rules must be a file name, got ['rules.yaml']"),
        ("  outputs: [a]\n", "b12stream.yaml: engine.outputs must be a mapping, got ['a']"),
        ("  suppression: {window_days: weekly}\n",
         "b12stream.yaml: engine.suppression.window_days must be a positive number, got 'weekly'"),
        ("  suppression: {max_per_episode: 0}\n",
         "b12stream.yaml: engine.suppression.max_per_episode must be a whole number >= 1, got 0"),
        ("  suppression: {always_show_from: urgent}\n",
         "b12stream.yaml: engine.suppression.always_show_from must be one of info, medium, high, critical, "
         "got 'urgent'"),
        ("  outputs: {sending_facility: 7}\n",
         "b12stream.yaml: engine.outputs.sending_facility must be text, got 7"),
        ("  outputs: {pager_source: ' '}\n",
         "b12stream.yaml: engine.outputs.pager_source must be set, got ' '"),
        ("  patient_key: {fallback_to_first: 'yes'}\n",
         "b12stream.yaml: engine.patient_key.fallback_to_first must be true or false, got 'yes'"),
        ("  patient_key: {assigning_authority: 12}\n",
         "b12stream.yaml: engine.patient_key.assigning_authority must be text, got 12"),
    ],
)
def test_an_error_names_the_file_and_key_and_shows_the_value(tmp_path, section, message):
    with pytest.raises(ConfigError) as raised:
        Engine.load(write_config(tmp_path, section))
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("  outputs: {sending_application: LABORATORY-CDS-SERVICE}\n", "engine.outputs.sending_application"),
        ("  outputs: {sending_facility: SAINT ELSEWHERE GENERAL}\n", "engine.outputs.sending_facility"),
        ("  outputs: {receiving_application: ORDER|ENTRY|INBOX}\n", "engine.outputs.receiving_application"),
        ("  outputs: {receiving_facility: 'NORTH^SOUTH^EASTX'}\n", "engine.outputs.receiving_facility"),
    ],
)
def test_a_name_no_order_message_can_carry_is_refused_at_load(tmp_path, section, named):
    """MSH-3..6 hold at most 20 characters (HD.1 in v2.5.1, delimiters escaped): a longer name would
    make every order message unbuildable, and dead-letter each result that suggests an order."""
    with pytest.raises(ConfigError, match=rf"{named} .*at most 20"):
        Engine.load(write_config(tmp_path, section))


def test_the_longest_name_an_order_message_carries_loads(tmp_path):
    engine = Engine.load(write_config(tmp_path, "  outputs: {sending_facility: SAINT ELSEWHERE GEN}\n"))
    assert engine.outputs.sending_facility == "SAINT ELSEWHERE GEN"


def test_missing_or_malformed_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError):
        Engine.load(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("engine: [\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        Engine.load(broken)


def test_order_messages_carry_the_configured_processing_id(tmp_path):
    """A test engine's orders say T in MSH-11, so that a production receiver never takes them."""
    engine = Engine.load(write_config(tmp_path, "  outputs: {processing_id: T}\n"))
    [frame] = split_messages((SAMPLES / "s02-isolated-thrombocytopenia-b12-unknown.hl7").read_bytes())
    accepted = ingest(frame.data, engine)
    assert isinstance(accepted, Accepted)
    [order] = process(PatientState.empty(accepted.patient), accepted, engine).orders
    assert order.er7.split(b"\r")[0].split(b"|")[10] == b"T"
