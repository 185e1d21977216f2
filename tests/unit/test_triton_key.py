"""Triton's model-repository key: generated owner-only, refused when others can read it
or when Triton's flag syntax could not carry it."""

import os

import pytest

from lepton_stream.config import Settings
from lepton_stream.models import triton_key


def test_up_generates_an_owner_only_key_once(tmp_path):
    s = Settings.from_env({}, home=tmp_path)
    key = triton_key.ensure_key(s)
    path = tmp_path / "secrets" / "triton-api-key"
    assert s.triton_api_key_path == path
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert len(key) >= 32 and triton_key.ensure_key(s) == key == triton_key.read_key(s)  # kept, not rotated


def test_a_key_others_can_read_or_triton_cannot_parse_is_refused(tmp_path):
    path = tmp_path / "key"
    s = Settings.from_env({"LEPTON_TRITON_API_KEY_FILE": str(path)}, home=tmp_path)
    path.write_text("k" * 40 + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by others"):
        triton_key.ensure_key(s)
    os.chmod(path, 0o600)
    assert triton_key.ensure_key(s) == "k" * 40
    for bad in ("short", "a" * 40 + ":x", "a" * 40 + "=", "a" * 20 + " " + "b" * 20):
        path.write_text(bad)
        with pytest.raises(ValueError, match="32 or more"):
            triton_key.read_key(s)
    with pytest.raises(ValueError, match="cannot read"):
        triton_key.read_key(s.replace(triton_api_key_file=str(tmp_path / "missing")))


def test_server_flags_restrict_the_model_repository_api_on_both_protocols():
    assert triton_key.server_flags("K" * 32) == [
        f"--http-restricted-api=model-repository:lepton-repository-key={'K' * 32}",
        f"--grpc-restricted-protocol=model-repository:lepton-repository-key={'K' * 32}"]
