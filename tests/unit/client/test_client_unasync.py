"""The sync client is generated from the async one (`scripts/unasync.py`), and checked."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "unasync.py"
CLIENT = Path("src/pond/client")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_async_code_becomes_its_sync_twin() -> None:
    source = (
        "from pond.client.async_wire import AsyncPartsHttp\n"
        "async def fetch(get: Callable[[], Awaitable[int]]) -> AsyncIterator[int]:\n"
        "    async with AsyncPartsHttp(http, chosen=False) as parts:\n"
        "        async for block in blocks(await parts.afetch()):\n"
        "            yield block\n"
        "    await http.aclose()\n"
    )
    assert load_script().unasync(source, set()) == (
        "from pond.client.wire import PartsHttp\n"
        "def fetch(get: Callable[[], int]) -> Iterator[int]:\n"
        "    with PartsHttp(http, chosen=False) as parts:\n"
        "        for block in blocks(parts.fetch()):\n"
        "            yield block\n"
        "    http.close()\n"
    )


def test_the_sync_modules_are_what_the_async_sources_generate() -> None:
    done = run("--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_sync_module_edited_by_hand_fails_the_check_until_it_is_generated_again(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / CLIENT, tmp_path / CLIENT)
    generated = tmp_path / CLIENT / "client.py"
    original = generated.read_text()
    generated.write_text(original.replace("return found", "return []", 1))

    drifted = run("--check", "--root", str(tmp_path))
    assert drifted.returncode == 1
    assert "-            return []\n+            return found\n" in drifted.stdout
    assert "client.py: not what scripts/unasync.py generates" in drifted.stderr

    assert run("--root", str(tmp_path)).returncode == 0
    assert generated.read_text() == original
    assert run("--check", "--root", str(tmp_path)).returncode == 0
