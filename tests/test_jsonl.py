import pytest

from w2s_lib.run.jsonl import DataError, read_json, read_jsonl, require, write_jsonl


def test_roundtrip(tmp_path):
    rows = [{"a": 1}, {"b": "é"}]
    p = tmp_path / "x.jsonl"
    assert write_jsonl(p, rows) == 2
    assert read_jsonl(p) == rows
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]


def test_malformed_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"a": 1}\n\n{"a": 2,}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:3: malformed JSON"):
        read_jsonl(p)


def test_non_object_line(tmp_path):
    p = tmp_path / "list.jsonl"
    p.write_text('[1, 2]\n')
    with pytest.raises(DataError, match=r"list\.jsonl:1: expected a JSON object"):
        read_jsonl(p)


def test_missing_field_is_named(tmp_path):
    with pytest.raises(DataError, match=r"f\.jsonl:7: missing field 'question'"):
        require({"answer": "3"}, "question", tmp_path / "f.jsonl", 7)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_json(tmp_path / "nope.json")
