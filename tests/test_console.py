"""The progress line and the summary table of the long commands."""

from __future__ import annotations

import io

from mwaa_migration.console import Progress, table


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_pipe_gets_a_line_per_stage_and_every_few_seconds_not_per_update() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(stream=out, every=5.0, clock=clock)
    for done in range(1, 101):
        clock.now = (done - 1) * 0.1  # 9.9 s in all
        progress.update("variables", done, 1000)
    clock.now = 11.0
    progress.update("pools", 1, 2)
    lines = out.getvalue().splitlines()
    # The first update, one 5 s later, then the new stage.
    assert lines == [
        "variables [------------------------] 1/1000  [0:00]",
        "variables [#-----------------------] 51/1000  [0:05]",
        "pools [############------------] 1/2  [0:11]",
    ]
    assert "\r" not in out.getvalue()


def test_a_terminal_redraws_one_line_and_messages_go_above_it() -> None:
    out, clock = Tty(), Clock()
    progress = Progress(stream=out, clock=clock)
    progress.update("runs", 3, 0)
    clock.now = 61.0
    progress.update("runs", 4, 8)
    progress.message("refused: x")
    progress.close()
    assert out.getvalue() == (
        "\r\033[Kruns: 3  [0:00]\r\033[Kruns [############------------] 4/8  [1:01]\r\033[Krefused: x\n"
    )


def test_the_last_update_of_a_stage_is_printed_even_within_the_interval() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(stream=out, every=60.0, clock=clock)
    progress.update("pools", 1, 3)
    progress.update("pools", 2, 3)
    progress.update("pools", 3, 3)
    assert out.getvalue().splitlines()[-1].startswith("pools [########################] 3/3")


def test_table_aligns_text_left_and_numbers_right() -> None:
    text = table(["entity", "created"], [["variables", 1000], ["connections", 7]])
    assert text.splitlines() == [
        "entity       created",
        "-----------  -------",
        "variables       1000",
        "connections        7",
    ]
