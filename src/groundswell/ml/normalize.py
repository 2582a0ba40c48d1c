"""Tweet text normalisation, the first step of every featuriser.

Why a normaliser at all: n-gram models learn from surface forms, and tweets spell one signal many ways.
A link, a mention, ``soooo``/``sooo`` and ``:-)``/``:)`` carry the same sentiment each time but split their
weight over many rare n-grams unless they are folded first. Emoji and emoticons are among the strongest
sentiment cues in tweets, so they become word-like tokens (``emo_smile``, ``emoji_red_heart``) that the word
n-gram vectoriser keeps, instead of punctuation it throws away.

The normaliser is a plain function of one string so it costs a few regular-expression passes per tweet
(serving calls it on every request), and it is stateless so a saved model never depends on training data
through it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["EMOTICONS", "TweetNormalizer", "normalize_tweet", "normalize_tweets"]

#: Emoticons folded to one token per meaning. Longest forms first so ``:-)`` wins over ``:-``.
EMOTICONS: dict[str, str] = {
    ":-)": "emo_smile",
    ":)": "emo_smile",
    "(:": "emo_smile",
    ":]": "emo_smile",
    "=)": "emo_smile",
    ":-d": "emo_laugh",
    ":d": "emo_laugh",
    "xd": "emo_laugh",
    "x-d": "emo_laugh",
    ";-)": "emo_wink",
    ";)": "emo_wink",
    ":-(": "emo_sad",
    ":(": "emo_sad",
    "):": "emo_sad",
    ":[": "emo_sad",
    "=(": "emo_sad",
    ":'(": "emo_cry",
    ":’(": "emo_cry",
    ":-p": "emo_tongue",
    ":p": "emo_tongue",
    ":-/": "emo_skeptical",
    ":/": "emo_skeptical",
    ":-|": "emo_neutral",
    ":|": "emo_neutral",
    ":-o": "emo_surprise",
    ":o": "emo_surprise",
    "<3": "emo_heart",
    "</3": "emo_broken_heart",
}

_ESCAPED_UNICODE = re.compile(r"\\u([0-9a-fA-F]{4})")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(\w)\1{2,}")
_REPEAT_PUNCT = re.compile(r"([!?.])\1+")
_EMOTICON = re.compile(
    r"(?<![\w:;=])(" + "|".join(re.escape(e) for e in sorted(EMOTICONS, key=len, reverse=True)) + r")(?![\w)(])",
    re.IGNORECASE,
)
# Emoji blocks (pictographs, symbols, dingbats, flags) plus a few BMP symbols tweets use for sentiment.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b50\u2b55\u2764\u263a\u2639]",
)
_SPACES = re.compile(r"\s+")

_emoji_names: dict[str, str] = {}


def _emoji_token(match: re.Match[str]) -> str:
    char = match.group(0)
    token = _emoji_names.get(char)
    if token is None:
        name = unicodedata.name(char, "")
        token = " emoji_" + re.sub(r"\W+", "_", name.lower()).strip("_") + " " if name else " "
        _emoji_names[char] = token
    return token


def _emoticon_token(match: re.Match[str]) -> str:
    return " " + EMOTICONS[match.group(0).lower()] + " "


def normalize_tweet(text: str) -> str:
    """Fold one tweet's surface variation; the result is lower-case, single-spaced text.

    Examples:
        >>> normalize_tweet("Sooooo happy!!! :-) @bob https://t.co/x 😂")
        'soo happy! emo_smile @user http emoji_face_with_tears_of_joy'
    """
    if "\\u" in text:
        # SemEval's 2013-2015 tweets carry literal "\u2019" escapes; decode them so "don\u2019t" is "don't".
        text = _ESCAPED_UNICODE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "&" in text:
        text = html.unescape(text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _EMOTICON.sub(_emoticon_token, text)
    text = _EMOJI.sub(_emoji_token, text)
    text = text.lower().replace("\u2019", "'")
    text = _REPEAT.sub(r"\1\1", text)
    text = _REPEAT_PUNCT.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def normalize_tweets(texts: Iterable[str]) -> list[str]:
    """``normalize_tweet`` over many texts."""
    return [normalize_tweet(t) for t in texts]


class TweetNormalizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Pipeline step applying :func:`normalize_tweet`, so the vectorisers after it see folded text once.

    Stateless: ``fit`` learns nothing, which keeps it trivially safe to persist with skops.
    """

    def fit(self, X: Iterable[str], y: object = None) -> TweetNormalizer:
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        return normalize_tweets(X)
