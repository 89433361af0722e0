"""T2: the pure attachment choices, table-driven."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crmcal.domain import ItemType
from crmcal.domain.settings import AttachmentLimits
from crmcal.rules.attachments import choose, extension

MB = 1024 * 1024


@dataclass(frozen=True)
class A:
    id: str
    name: str
    size: int
    is_inline: bool = False
    kind: str = "file"


LIMITS = AttachmentLimits()


@pytest.mark.parametrize(
    ("att", "reason"),
    [
        (A("1", "a.pdf", 2 * MB), ""),
        (A("2", "logo.png", 500, is_inline=True), "inline image"),
        (A("3", "plan.docx", 0, kind="reference"), "cloud attachment (a link, not a file)"),
        (A("4", "Re: hello", 0, kind="item"), "attached Outlook item, not a file"),
        (A("5", "setup.exe", 100), "extension .exe is not allowed"),
        (A("6", "README", 100), "extension (none) is not allowed"),
        (A("7", "huge.zip", 26 * MB), "larger than the maximum of 25.0 MB"),
        (A("8", "Deck.PPTX", 3 * MB), ""),
    ],
)
def test_t2_each_file_on_its_own(att: A, reason: str) -> None:
    [c] = choose([att], LIMITS)
    assert c.upload is (reason == "")
    assert c.reason == reason


def test_t2_total_per_item_counts_earlier_uploads() -> None:
    files = [A("1", "a.pdf", 10 * MB), A("2", "b.pdf", 10 * MB), A("3", "c.pdf", 10 * MB)]
    got = [(c.attachment_id, c.upload) for c in choose(files, LIMITS)]
    assert got == [("1", True), ("2", True), ("3", False)]
    # "1" went up in an earlier session: it gets no choice, and its size still counts.
    again = choose(files, LIMITS, uploaded={"1"}, uploaded_bytes=10 * MB)
    assert [(c.attachment_id, c.upload) for c in again] == [("2", True), ("3", False)]
    assert "exceed 25.0 MB together" in again[1].reason


def test_t2_min_size() -> None:
    [c] = choose([A("1", "a.txt", 5)], AttachmentLimits(min_file_bytes=10))
    assert not c.upload and c.reason == "smaller than the minimum of 10 bytes"


@pytest.mark.parametrize("kind", [ItemType.OCCURRENCE, ItemType.EXCEPTION])
def test_t2_not_for_single_occurrences_of_a_series(kind: ItemType) -> None:
    [c] = choose([A("1", "a.pdf", 100)], LIMITS, item_type=kind)
    assert not c.upload and "single occurrence of a series" in c.reason


def test_t2_series_master_and_single_items_may_share() -> None:
    for kind in (ItemType.SINGLE_INSTANCE, ItemType.SERIES_MASTER):
        assert choose([A("1", "a.pdf", 100)], LIMITS, item_type=kind)[0].upload


@pytest.mark.parametrize(
    ("name", "ext"), [("a.PDF", "pdf"), ("archive.tar.gz", "gz"), (".bashrc", ""), ("x", "")]
)
def test_extension(name: str, ext: str) -> None:
    assert extension(name) == ext
