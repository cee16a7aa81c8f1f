import gc
import weakref

from osed.sim.collector import collection_deferred


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_no_pass_inside_and_the_cycles_made_there_collected_on_the_way_out() -> None:
    passes: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    was_enabled = gc.isenabled()
    gc.callbacks.append(count)
    try:
        with collection_deferred():
            assert not gc.isenabled()
            first, second = Node(), Node()
            first.other, second.other = second, first
            gone = weakref.ref(first)
            del first, second
            for _ in range(100_000):  # enough allocations for several passes otherwise
                [Node()]
            assert gone() is not None
            assert passes == []
        assert gone() is None
        assert gc.isenabled() == was_enabled
    finally:
        gc.callbacks.remove(count)
