"""`Batcher`: concurrent reads share a load, and none is answered by a load older than itself."""

from __future__ import annotations

import asyncio

import pytest

from pond.api.batching import Batcher


class Source:
    """A load that counts itself and can be held open, to arrange requests around it."""

    def __init__(self) -> None:
        self.loads: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    async def load(self, keys: dict[str, int]) -> dict[str, str]:
        self.loads.append(sorted(keys))
        number = len(self.loads)
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the database went away")
        return {key: f"{key}@{number}" for key in keys}


def test_a_lone_request_is_one_load_of_its_key() -> None:
    async def go() -> None:
        source = Source()
        batcher = Batcher(source.load)
        assert await batcher.get("a") == "a@1"
        assert await batcher.get("a") == "a@2"
        assert source.loads == [["a"], ["a"]]

    asyncio.run(go())


def test_requests_during_a_load_share_the_next_one_and_none_gets_an_older_answer() -> None:
    async def go() -> None:
        source = Source()
        batcher = Batcher(source.load)
        source.gate.clear()
        first = asyncio.ensure_future(batcher.get("a"))
        await asyncio.sleep(0)  # load 1 has started, for key a
        later = [asyncio.ensure_future(batcher.get(key)) for key in ["a", "b", "a", "c"]]
        await asyncio.sleep(0)
        source.gate.set()
        assert await first == "a@1"
        # All four arrived after load 1 began: load 2 answers them, a once for both.
        assert await asyncio.gather(*later) == ["a@2", "b@2", "a@2", "c@2"]
        assert source.loads == [["a"], ["a", "b", "c"]]

    asyncio.run(go())


def test_a_failed_load_fails_its_own_batch_only() -> None:
    async def go() -> None:
        source = Source()
        batcher = Batcher(source.load)
        source.fail_next = True
        with pytest.raises(RuntimeError, match="went away"):
            await asyncio.gather(batcher.get("a"), batcher.get("b"))
        assert await batcher.get("a") == "a@2"

    asyncio.run(go())


def test_a_request_that_goes_away_does_not_disturb_the_others() -> None:
    async def go() -> None:
        source = Source()
        batcher = Batcher(source.load)
        source.gate.clear()
        gone = asyncio.ensure_future(batcher.get("a"))
        staying = asyncio.ensure_future(batcher.get("a"))
        await asyncio.sleep(0)
        gone.cancel()
        source.gate.set()
        assert await staying == "a@1"
        assert gone.cancelled()
        assert await batcher.get("b") == "b@2"

    asyncio.run(go())


def test_a_submitted_key_is_loaded_while_the_caller_does_something_else() -> None:
    async def go() -> None:
        source = Source()
        batcher = Batcher(source.load)
        source.gate.clear()
        future = batcher.submit("a")
        await asyncio.sleep(0)
        assert source.loads == [["a"]]  # under way before anyone awaits it
        assert not future.done()
        source.gate.set()
        assert await future == "a@1"

    asyncio.run(go())


def test_a_load_learns_how_many_requests_asked_for_each_key() -> None:
    async def go() -> None:
        asked: list[dict[str, int]] = []

        async def load(keys: dict[str, int]) -> dict[str, int]:
            asked.append(dict(keys))
            return dict(keys)  # each key answers how many asked for it

        batcher = Batcher(load)
        first = batcher.submit("a")
        await asyncio.sleep(0)  # its load has run
        later = [batcher.submit(key) for key in ["a", "b", "a"]]
        assert await first == 1
        assert await asyncio.gather(*later) == [2, 1, 2]
        assert asked == [{"a": 1}, {"a": 2, "b": 1}]

    asyncio.run(go())
