"""Pure parts of the Telegram adapter: splitting long texts, reply keyboards."""

from __future__ import annotations

import pytest
from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.telegram import MAX_TEXT, keyboard, split_text


@pytest.mark.parametrize("size", [0, 10, MAX_TEXT, MAX_TEXT + 1, 3 * MAX_TEXT + 17])
def test_split_keeps_every_character_and_respects_the_limit(size):
    words = ("word " * (size // 5 + 1))[:size]
    text = "\n\n".join([words[: size // 2], words[size // 2 :]]) if size else ""
    parts = split_text(text)
    assert all(len(p) <= MAX_TEXT for p in parts)
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )


def test_split_prefers_paragraphs():
    text = "a" * 3000 + "\n\n" + "b" * 3000
    assert split_text(text) == ["a" * 3000, "b" * 3000]


def test_a_word_longer_than_the_limit_is_cut():
    parts = split_text("x" * (MAX_TEXT * 2 + 5))
    assert [len(p) for p in parts] == [MAX_TEXT, MAX_TEXT, 5]


def test_keyboard_for_choices_and_none():
    markup = keyboard(("Yes", "No", "Maybe"))
    assert isinstance(markup, ReplyKeyboardMarkup)
    assert [[b.text for b in row] for row in markup.keyboard] == [["Yes", "No"], ["Maybe"]]
    assert markup.one_time_keyboard and markup.resize_keyboard
    assert isinstance(keyboard(()), ReplyKeyboardRemove)
